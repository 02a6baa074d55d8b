"""The Elle checker as a harness `Checker`: analysis result -> `Verdict` with findings in plain words.

Owns `ElleChecker` (and the two named front doors `ListAppendChecker` / `RWRegisterChecker` workloads use
directly), the wording of every anomaly (what it is, which failure class it belongs to), the step-by-step
explanation of each cycle, and the Elle-shaped `details` (`anomaly-types`, `not`, `also-not`, counts, graph
sizes, and the elle-cli cross-check side by side), and the expectation as the reader sees it: which model was
checked and why (`why`, e.g. the system's isolation option), notes on what the product's level means, and, for
information only, whether each of `compare_models` is ruled out by what was found. Does not own the analysis
(analysis.py) nor running elle-cli (elle_cli.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from checkers.elle.analysis import CycleCase, ElleOptions, Result, analyze
from checkers.elle.case import Case
from checkers.elle.elle_cli import CliResult, run_elle_cli
from checkers.elle.graph import PROCESS, REALTIME, RW
from checkers.elle.models import (
    UNKNOWN_TYPES,
    boundary,
    canonical_model,
    implied,
    proscribed_by,
)
from checkers.elle.support import writes_read
from harness.checker import UNKNOWN, FailureClass, Finding, Validity, Verdict
from harness.op import History

if TYPE_CHECKING:
    from harness.test import Test

# What each anomaly is, in a few words (Adya / Elle vocabulary).
MEANING: dict[str, str] = {
    "G0": "write cycle: transactions overwrote each other's writes in contradictory orders",
    "G1a": "aborted read: a committed transaction saw a write of a failed one",
    "G1b": "intermediate read: a transaction saw a value another one later overwrote within itself",
    "G1c": "circular information flow: transactions read and overwrite each other in a cycle",
    "G-single-item": "read skew: a cycle with exactly one anti-dependency (a read that missed a write)",
    "G-nonadjacent-item": "a cycle whose anti-dependencies are never adjacent (forbidden by snapshot isolation)",
    "G2-item": "write skew: a cycle of anti-dependencies (reads that missed each other's writes)",
    "internal": "a transaction's read contradicts its own earlier reads and writes",
    "future-read": "a transaction read a value it wrote only later",
    "dirty-update": "a committed write was built on top of a failed transaction's write",
    "lost-update": "lost update: transactions read the same version and all wrote over it",
    "incompatible-order": "reads of one key disagree on the order of its elements (diverging replicas)",
    "duplicate-elements": "a read shows an appended element more than once",
    "cyclic-versions": "the versions of a key must be ordered in a cycle",
    "garbage-read": "a read returned a value no transaction wrote",
    "empty-transaction-graph": "no dependencies between transactions: nothing to check",
    "cycle-search-timeout": "the cycle search ran out of its budget",
}

_CLASS: dict[str, FailureClass] = {
    "lost-update": FailureClass.LOST_WRITE,
    "duplicate-elements": FailureClass.DUPLICATE_EFFECT,
    "garbage-read": FailureClass.UNEXPECTED_VALUE,
    "incompatible-order": FailureClass.SPLIT_BRAIN,
    "cyclic-versions": FailureClass.STALE_READ,
    "empty-transaction-graph": FailureClass.INCOMPLETE,
    "cycle-search-timeout": FailureClass.INCOMPLETE,
}


def meaning(kind: str) -> str:
    if kind.endswith("-cycle-exists"):
        return f"a cycle exists that {kind.removesuffix('-cycle-exists')} forbids (search timed out before naming it)"
    for suffix, words in (("-realtime", " (with real-time order)"), ("-process", " (with process order)")):
        if kind.endswith(suffix):
            return MEANING.get(kind[: -len(suffix)], kind) + words
    return MEANING.get(kind, kind)


def failure_class(kind: str, rels: Sequence[int] = ()) -> FailureClass:
    if kind in _CLASS:
        return _CLASS[kind]
    if kind.endswith("-realtime") and RW in rels:
        return FailureClass.STALE_READ  # a read missed a write that had completed before it began
    return FailureClass.ISOLATION


def explain_cycle(res: Result, cc: CycleCase) -> tuple[str, ...]:
    t = res.txns
    ex = res.analysis.explainer
    nodes, rels = cc.cycle.nodes, cc.cycle.rels
    lines = []
    for i, a in enumerate(nodes):
        b = nodes[(i + 1) % len(nodes)]
        rel = rels[i]
        A, B = t.name(a), t.name(b)
        if rel == PROCESS:
            lines.append(f"{A} < {B} because process {t.process[a]} ran {A} and then {B}")
        elif rel == REALTIME:
            inv = t.invoke_index[b] if t.invoke_index[b] >= 0 else t.op_index[b]
            lines.append(f"{A} < {B} because {A} completed (op {t.op_index[a]}) before {B} was invoked (op {inv})")
        else:
            lines.append(ex.explain(a, b, rel) if ex is not None else f"{A} < {B}")
    first = t.name(nodes[0])
    lines.append(f"so {first} < {first}: no order of these transactions explains what they saw ({cc.cycle.kind})")
    lines.extend(t.describe(x) for x in nodes)
    return tuple(lines)


def _finding_of_cycle(res: Result, cc: CycleCase) -> Finding:
    t = res.txns
    names = ", ".join(t.name(x) for x in cc.cycle.nodes)
    return Finding(
        kind=cc.cycle.kind,
        failure_class=failure_class(cc.cycle.kind, cc.cycle.rels),
        diagnosis=f"{cc.cycle.kind}: {meaning(cc.cycle.kind)}; cycle of {len(cc.cycle.nodes)} transactions "
        f"({names}) in a strongly connected component of {cc.scc_size}",
        ops=tuple(sorted(t.op_index[x] for x in cc.cycle.nodes)),
        explanation=explain_cycle(res, cc),
        scope="global",
    )


def _finding_of_case(res: Result, c: Case) -> Finding:
    t = res.txns
    return Finding(
        kind=c.kind,
        failure_class=failure_class(c.kind),
        diagnosis=f"{c.kind}: {c.diagnosis}",
        ops=tuple(sorted(t.op_index[x] for x in c.txns)),
        explanation=c.explanation,
        scope="global" if c.key is None else f"key {c.key!r}",
    )


def findings_of(res: Result, max_per_kind: int) -> list[Finding]:
    """Findings for every reported anomaly type (at most `max_per_kind` of each)."""
    wanted = set(res.anomaly_types)
    out: list[Finding] = []
    per: dict[str, int] = {}
    for c in res.cases:
        if c.kind in wanted and per.get(c.kind, 0) < max_per_kind:
            per[c.kind] = per.get(c.kind, 0) + 1
            out.append(_finding_of_case(res, c))
    for cc in res.cycles:
        k = cc.cycle.kind
        if k in wanted and per.get(k, 0) < max_per_kind:
            per[k] = per.get(k, 0) + 1
            out.append(_finding_of_cycle(res, cc))
    return out


def compared(res: Result, models: Sequence[str]) -> dict[str, str]:
    """For each model: whether the anomalies found rule it out (information; the verdict does not change)."""
    out = {}
    for name in models:
        m = canonical_model(name)
        against = sorted(a for a in res.found if implied(a) & proscribed_by(m))
        if against:
            out[m] = f"ruled out by {', '.join(against)}"
        elif set(res.found) & UNKNOWN_TYPES:
            out[m] = "no anomaly it forbids was found, but the search was incomplete"
        else:
            out[m] = "no anomaly it forbids was found"
    return out


def expectation_text(res: Result, why: str, notes: Sequence[str], compare: dict[str, str]) -> str:
    """What was checked and why, for the summary a report shows: "Checked against X: why. As Y: ... Notes"."""
    models = ", ".join(res.expected_models) or "the named anomalies"
    parts = [f"Checked against {models}" + (f": {why}" if why else "")]
    parts += [f"As {m}: {verdict}" for m, verdict in compare.items()]
    parts += list(notes)
    return ". ".join(parts) + "."


def _summary(res: Result) -> str:
    models = ", ".join(res.expected_models) or "the named anomalies"
    if res.valid is True:
        return f"valid: no anomaly {models} forbids in {res.stats['txns']} transactions"
    counts = ", ".join(f"{k} ({res.found[k]})" for k in res.anomaly_types)
    word = "invalid" if res.valid is False else "unknown"
    tail = f"; not {', '.join(res.not_)}" if res.not_ else ""
    return f"{word}: {counts}{tail}"


@dataclass(frozen=True)
class ElleChecker:
    """Elle-style checker of list-append or rw-register transaction histories. Optionally cross-checks with
    elle-cli (`elle_cli` path, or env ELLE_CLI) and reports both verdicts side by side."""

    options: ElleOptions = field(default_factory=ElleOptions)
    elle_cli: str | None = None
    elle_cli_timeout: float = 300.0
    max_findings: int = 10
    name: str = "elle"
    why: str = ""  # why these models are expected ("postgres isolation=read-committed")
    notes: tuple[str, ...] = ()  # what a reader needs to judge the verdict
    compare_models: tuple[str, ...] = ()  # also said, for information: is each of these ruled out?

    def support(self, history: History, kept: Sequence[int]) -> set[int]:
        """For `harness.minimize`: positions of the writes that the reads of the ops at `kept` observed."""
        return writes_read(history, kept)

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        res = analyze(history, self.options)
        findings = findings_of(res, self.max_findings)
        compare = compared(res, self.compare_models)
        details: dict[str, object] = {
            "workload": self.options.workload,
            "consistency-models": list(res.expected_models),
            "consistency-reason": self.why,
            "notes": list(self.notes),
            "compared": compare,
            "anomalies": list(self.options.anomalies or ()),
            "valid?": res.valid,
            "anomaly-types": list(res.anomaly_types),
            "not": list(res.not_),
            "also-not": list(res.also_not),
            "found": dict(res.found),
            "additional-graphs": list(res.graphs),
            **res.stats,
        }
        if res.valid is True and res.found:
            details["found-not-forbidden"] = sorted(res.found)
            details["would-rule-out"] = boundary(res.found)[0]
        valid: Validity = res.valid
        summary = f"{_summary(res)}. {expectation_text(res, self.why, self.notes, compare)}"
        cli_path = self.elle_cli or os.environ.get("ELLE_CLI") or None
        if cli_path:
            cli = run_elle_cli(cli_path, history, self.options, out_dir, timeout=self.elle_cli_timeout)
            details["elle-cli"] = cli.to_json(res.valid)
            if cli.valid is not None and cli.valid != res.valid:
                findings.append(_disagreement(res.valid, cli))
                if res.valid is True:
                    valid = UNKNOWN  # never pass a history the reference checker rejects
                summary += f" elle-cli says {_word(cli.valid)}."
        else:
            details["elle-cli"] = {"configured": False, "note": "elle-cli not configured"}
        files = ("elle-cli-history.json",) if cli_path and os.path.exists(
            os.path.join(os.fspath(out_dir), "elle-cli-history.json")
        ) else ()
        return Verdict(
            valid=valid, checker=self.name, summary=summary, findings=tuple(findings), details=details, files=files
        )


def _word(v: Validity) -> str:
    return {True: "valid", False: "invalid", UNKNOWN: "unknown"}[v]


def _disagreement(ours: Validity, cli: CliResult) -> Finding:
    return Finding(
        kind="elle-cli-disagrees",
        failure_class=FailureClass.INCOMPLETE,
        diagnosis=f"elle-cli says {_word(cli.valid) if cli.valid is not None else '?'} where this checker says "
        f"{_word(ours)}; one of the two checkers is wrong about this history",
        explanation=(f"elle-cli command: {' '.join(cli.argv)}", f"elle-cli output: {cli.stdout.strip()[-500:]}"),
    )


@dataclass(frozen=True, kw_only=True)
class _FrontDoor:
    """What the two named front doors share: the options every Elle workload takes, and checking through an
    `ElleChecker` built from them (`_options` says the workload and its own options)."""

    consistency_models: tuple[str, ...] | None = ("strict-serializable",)
    anomalies: tuple[str, ...] | None = None
    cycle_search_timeout: float = 1.0
    max_findings: int = 10
    elle_cli: str | None = None
    name: str = "elle"
    why: str = ""
    notes: tuple[str, ...] = ()
    compare_models: tuple[str, ...] = ()

    def _options(self) -> ElleOptions:
        raise NotImplementedError

    def checker(self) -> ElleChecker:
        return ElleChecker(self._options(), elle_cli=self.elle_cli, max_findings=self.max_findings, name=self.name,
                           why=self.why, notes=self.notes, compare_models=self.compare_models)

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        return self.checker().check(test, history, out_dir)

    def support(self, history: History, kept: Sequence[int]) -> set[int]:
        return writes_read(history, kept)


@dataclass(frozen=True, kw_only=True)
class ListAppendChecker(_FrontDoor):
    """An Elle checker for list-append histories (micro-ops append / r), for workloads to use directly."""

    def _options(self) -> ElleOptions:
        return ElleOptions(workload="list-append", consistency_models=self.consistency_models,
                           anomalies=self.anomalies, cycle_search_timeout=self.cycle_search_timeout)


@dataclass(frozen=True, kw_only=True)
class RWRegisterChecker(_FrontDoor):
    """An Elle checker for rw-register histories (micro-ops w / r), for workloads to use directly."""

    sequential_keys: bool = False
    linearizable_keys: bool = False
    wfr_keys: bool = False

    def _options(self) -> ElleOptions:
        return ElleOptions(workload="rw-register", consistency_models=self.consistency_models,
                           anomalies=self.anomalies, sequential_keys=self.sequential_keys,
                           linearizable_keys=self.linearizable_keys, wfr_keys=self.wfr_keys,
                           cycle_search_timeout=self.cycle_search_timeout)
