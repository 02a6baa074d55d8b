"""A suite split across machines (`harness suite run FILE --shard I/N`) and merged back (`harness suite merge`).

Owns `Shard` (the I-th of N), `parse_shard`, `plan` (which shard runs each cell of a suite), `run_shard`,
`shard_header` (what a shard writes into its summary.json so that a merge knows what it should have run) and
`merge_shards`.

The plan orders the cells by a stable hash of each cell's identity (its options as canonical JSON, then its id)
and deals them round-robin to the shards: the slices are disjoint, together they are the whole suite, their
sizes differ by at most one, and every machine computes the same slices whatever the order of the file. A merge
reads only the shards' summary.json files (and the run directories they name, for the comparison page); every
shard carries the digest of the plan, so shards of different suite files are refused. A shard that is missing,
unreadable, or lacks a run of one of its cells is named, its cells are unknown, and the merged gate fails (2)
whatever `--fail-on` says: part of the suite never ran. Runs go through harness.suite.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import BadInput
from harness.store import read_json
from harness.suite import RunOutcome, RunSpec, Suite, outcome_of, run_suite, write_suite_dir


@dataclass(frozen=True)
class Shard:
    """The `index`-th (from 1) of `count` slices of a suite."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise BadInput(f"--shard {text!r}: expected I/N with 1 <= I <= N, e.g. --shard 2/3")
    return Shard(int(m.group(1)), int(m.group(2)))


def _identity(spec: RunSpec) -> str:
    canon = json.dumps(spec.options, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest() + spec.id


def plan(suite: Suite, count: int) -> dict[str, int]:
    """Cell id -> the shard (1..count) that runs it, for every cell, in the order of the suite file."""
    if count > len(suite.runs):
        raise BadInput(f"--shard I/{count}: suite {suite.name} has only {len(suite.runs)} cells; "
                       f"use at most {len(suite.runs)} shards")
    dealt = {s.id: i % count + 1 for i, s in enumerate(sorted(suite.runs, key=_identity))}
    return {s.id: dealt[s.id] for s in suite.runs}


def _digest(assignment: Mapping[str, int]) -> str:
    return hashlib.sha256(json.dumps(list(assignment.items())).encode()).hexdigest()[:16]


def shard_header(suite: Suite, shard: Shard) -> dict[str, object]:
    """summary.json's "shard": this shard, its cells, and the whole plan (with its digest) for the merge."""
    assignment = plan(suite, shard.count)
    return {"index": shard.index, "count": shard.count, "plan_digest": _digest(assignment),
            "plan": [[cid, i] for cid, i in assignment.items()],
            "cells": [cid for cid, i in assignment.items() if i == shard.index]}


def run_shard(suite: Suite, shard: Shard, *, results_dir: str, fail_on: str, only: set[str] | None = None,
              echo: Callable[[str], None] = print) -> tuple[int, str]:
    """Run the suite's cells of `shard` (those in `only` too, if given); returns (exit code, suite directory),
    the directory named for the shard and its summary.json carrying `shard_header`."""
    mine = {cid for cid, i in plan(suite, shard.count).items() if i == shard.index}
    cells = mine if only is None else mine & only
    echo(f"suite: shard {shard}: {len(cells)} of {len(suite.runs)} cells")
    return run_suite(suite, results_dir=results_dir, fail_on=fail_on, only=cells,
                     header={"shard": shard_header(suite, shard)},
                     leaf_suffix=f"-shard{shard.index}of{shard.count}", echo=echo)


# --- merging ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class ShardSummary:
    """One shard's summary.json as a merge reads it."""

    directory: str
    suite: str
    shard: Shard
    plan: tuple[tuple[str, int], ...]
    plan_digest: str
    fail_on: str
    file: str
    runs: tuple[Mapping[str, object], ...]


def _summaries_under(d: str, skip: str) -> list[str]:
    """summary.json in `d`, or every one below it (downloaded artifacts), except in the merge's own `skip`."""
    if os.path.isfile(os.path.join(d, "summary.json")):
        return [os.path.join(d, "summary.json")]
    found = []
    for root, _dirs, files in os.walk(d):
        if "summary.json" in files and os.path.abspath(root) != skip:
            found.append(os.path.join(root, "summary.json"))
    return sorted(found)


def _read_summary(path: str) -> ShardSummary | str:
    """A shard summary, or why `path` is not one."""
    try:
        data = read_json(path)
        sh = data["shard"]
        return ShardSummary(
            directory=os.path.dirname(os.path.abspath(path)), suite=str(data["suite"]),
            shard=Shard(int(sh["index"]), int(sh["count"])), plan=tuple((str(c), int(i)) for c, i in sh["plan"]),
            plan_digest=str(sh["plan_digest"]), fail_on=str(data.get("fail_on", "unknown")),
            file=str(data.get("file", "")), runs=tuple(data["runs"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"{path}: not a shard's summary.json ({type(e).__name__}: {e})"


def _collect(dirs: Sequence[str], out: str, echo: Callable[[str], None]) -> dict[int, ShardSummary]:
    """Every shard summary under `dirs`, by shard index; problems are echoed; conflicting shards are bad input."""
    by_index: dict[int, ShardSummary] = {}
    for d in dirs:
        paths = _summaries_under(d, out) if os.path.isdir(d) else []
        if not paths:
            echo(f"suite merge: {d}: no shard summary.json found (a failed shard?)")
        for p in paths:
            s = _read_summary(p)
            if isinstance(s, str):
                echo(f"suite merge: {s}")
                continue
            first = next(iter(by_index.values()), s)
            if (s.suite, s.shard.count, s.plan_digest) != (first.suite, first.shard.count, first.plan_digest):
                raise BadInput(f"suite merge: {s.directory} is shard {s.shard} of suite {s.suite} (plan "
                               f"{s.plan_digest}), {first.directory} is shard {first.shard} of suite {first.suite} "
                               f"(plan {first.plan_digest}): not shards of the same suite file")
            other = by_index.get(s.shard.index)
            if other is not None and other.directory != s.directory:
                raise BadInput(f"suite merge: shard {s.shard} twice: {other.directory} and {s.directory}")
            by_index[s.shard.index] = s
    if not by_index:
        raise BadInput(f"suite merge: no shard summary.json in {', '.join(dirs)}")
    return by_index


def _run_dir(entry: Mapping[str, Any], summary: ShardSummary) -> str | None:
    """The run directory as found here: beside the shard's suite directory (a copied results tree), or where the
    shard wrote it (the same machine)."""
    rel = entry.get("run_dir_rel")
    for cand in ([os.path.normpath(os.path.join(summary.directory, rel))] if rel else []) + [entry.get("run_dir")]:
        if cand and os.path.isfile(os.path.join(cand, "results.json")):
            return str(cand)
    return None


def _never_ran(cell: str, why: str, options: Mapping[str, object]) -> RunOutcome:
    return RunOutcome(spec=RunSpec(id=cell, options=options), exit_code=2, run_dir=None, valid="unknown",
                      checkers=(), error=why)


def merged_outcomes(shards: Mapping[int, ShardSummary], echo: Callable[[str], None]) -> tuple[list[RunOutcome], list[int]]:
    """Every cell of the plan in suite order, with the shards that are missing or incomplete."""
    any_shard = next(iter(shards.values()))
    count = any_shard.shard.count
    missing = [i for i in range(1, count + 1) if i not in shards]
    for i in missing:
        cells = [c for c, j in any_shard.plan if j == i]
        echo(f"suite merge: shard {i}/{count} missing: {len(cells)} cells never ran ({', '.join(cells)})")
    outcomes: list[RunOutcome] = []
    incomplete: set[int] = set(missing)
    for cell, i in any_shard.plan:
        if i not in shards:
            outcomes.append(_never_ran(cell, f"shard {i}/{count} missing: never ran", {}))
            continue
        s = shards[i]
        entry = next((r for r in s.runs if r.get("id") == cell), None)
        if entry is None:
            echo(f"suite merge: shard {i}/{count} ({s.directory}) has no run of {cell}")
            incomplete.add(i)
            outcomes.append(_never_ran(cell, f"shard {i}/{count} has no run of it", {}))
            continue
        outcomes.append(outcome_of(entry, _run_dir(entry, s)))
    return outcomes, sorted(incomplete)


def merge_shards(dirs: Sequence[str], out: str, *, fail_on: str | None, echo: Callable[[str], None] = print) -> tuple[int, str]:
    """Merge the shard summaries under `dirs` into `out`; returns (the gate's exit code, `out`)."""
    out = os.path.abspath(out)
    shards = _collect(dirs, out, echo)
    outcomes, incomplete = merged_outcomes(shards, echo)
    fail_on = fail_on or ("unknown" if any(s.fail_on == "unknown" for s in shards.values()) else "invalid")
    os.makedirs(out, exist_ok=True)
    any_shard = next(iter(shards.values()))
    header = {"file": any_shard.file, "started": dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
              "merge": {"count": any_shard.shard.count, "plan_digest": any_shard.plan_digest,
                        "shards": {str(i): s.directory for i, s in sorted(shards.items())},
                        "incomplete": incomplete}}
    code = write_suite_dir(out, name=any_shard.suite, outcomes=outcomes, fail_on=fail_on, header=header, echo=echo,
                           incomplete=bool(incomplete))
    return code, out
