"""A failing run packed as a bug report: `harness bundle RUN`, and the runner's own bundle of every invalid run.

Owns `make_bundle` (the minimal history, found with `harness.minimize` when RUN/minimal/ does not hold it yet;
the command that ran it and the one that replays it; seed, options, versions; the fault schedule; the anomaly in
words; node log lines around it; report.html), written as RUN/bundle/ (README.md for a person, bundle.json for
a program) and packed into RUN/bundle.tar.gz, and `Bundle`, what was written. Does not own minimizing
(`harness.minimize`), checking (`harness.recheck` chooses the run's own checker) nor rendering (`harness.report`).

No secrets: the run's secrets never reach its directory (issue 15), and every option whose name says password,
secret, token or credential is blanked in the bundle's copy of test.json all the same.

Node log times: the history's clock starts when the workload starts; its wall-clock time is taken from the
"phase 5" line of harness.log (written just before the interpreter starts its clock, so within milliseconds),
and log lines are chosen by the time at their start (same machine clock: the local provider, or containers on
this host). A log whose lines carry no such time is left out of the excerpts and said so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checker import Checker, Verdict
from harness.errors import BadInput
from harness.minimize import Minimized
from harness.op import History

if TYPE_CHECKING:
    from harness.test import Test

AUTO_BUDGET_S = 30.0  # the runner's minimization of an invalid run: enough for real runs (they take ~1 s)
LOG_MARGIN_S = 2.0  # log lines this long before the minimal history's first op and after its last
LOG_MAX_LINES = 200  # per node
_SECRET = re.compile(r"password|passwd|secret|token|credential", re.IGNORECASE)
_STAMP = re.compile(r"^\[?(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?")


@dataclass(frozen=True, kw_only=True)
class Bundle:
    """What `make_bundle` wrote: the folder, the archive, and the facts its README tells."""

    folder: Path
    archive: Path
    facts: Mapping[str, Any]
    report_problems: tuple[str, ...] = ()


def make_bundle(run_dir: str | os.PathLike[str], *, budget_s: float = AUTO_BUDGET_S) -> Bundle:
    """Write RUN/bundle/ and RUN/bundle.tar.gz for a run directory (see the module doc). BadInput when the
    directory is not a run, or its history is not invalid (a bundle reproduces a failure)."""
    run = Path(run_dir).resolve()
    if not (run / "test.json").is_file() or not (run / "history.jsonl").is_file():
        raise BadInput(f"{run}: not a run directory (no test.json and history.jsonl)")
    minimal = ensure_minimal(run, budget_s)
    info = _read_json(run / "test.json")
    folder = run / "bundle"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    shutil.copytree(run / "minimal", folder / "minimal")
    _write_json(folder / "minimal" / "test.json", scrub(info))
    _write_json(folder / "test.json", scrub(info))
    if (run / "results.json").is_file():
        shutil.copyfile(run / "results.json", folder / "results.json")
    history = History.from_jsonl(run / "history.jsonl")
    small = History.from_jsonl(run / "minimal" / "history.jsonl")
    excerpts = log_excerpts(run, small, folder / "logs")
    facts = _facts(run, info, minimal, history, small, excerpts)
    _write_json(folder / "bundle.json", facts)
    (folder / "README.md").write_text(readme(facts), encoding="utf-8")
    problems = _report(run, folder)
    archive = run / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=f"{run.parent.name}-{run.name}-bundle")
    return Bundle(folder=folder, archive=archive, facts=facts, report_problems=tuple(problems))


def _report(run: Path, folder: Path) -> list[str]:
    """The run's report.html, rendered again to show the reproduction and link the bundle, copied in; the
    report's problems (render_run never raises; a page that could not be built says so itself)."""
    from harness.report import render_run

    problems = render_run(run, bundle=True)
    if (run / "report.html").is_file():
        shutil.copyfile(run / "report.html", folder / "report.html")
    return problems


def minimize_run(run_dir: str | os.PathLike[str], checker: Checker, test: Test | None, history: History, verdict: Verdict,
                 *, budget_s: float = AUTO_BUDGET_S) -> Minimized | None:
    """Minimize a run's history with its checker and write RUN/minimal/; None when the verdict is not invalid."""
    from harness.minimize import minimize, write_minimal

    run = Path(run_dir)
    m = minimize(checker, test, history, verdict, budget_s=budget_s)
    if m is not None:
        write_minimal(m, str(run / "minimal"), "harness check {path}", test_json=str(run / "test.json"))
    return m


def ensure_minimal(run: Path, budget_s: float) -> Mapping[str, object]:
    """RUN/minimal/minimize.json, minimizing the run's history with its own checker first if it is not there."""
    summary = run / "minimal" / "minimize.json"
    if summary.is_file():
        return dict(_read_json(summary))
    from harness.checker import safe_check
    from harness.formats import read_history
    from harness.plugins import Registry
    from harness.recheck import run_plan

    plan = run_plan(str(run / "history.jsonl"), Registry())
    if plan is None:
        raise BadInput(f"{run}: not a run directory")
    history = read_history(run / "history.jsonl").history
    checks = run / "checks" / "bundle"
    checks.mkdir(parents=True, exist_ok=True)
    verdict = safe_check(plan.checker, plan.test, history, checks)
    if minimize_run(run, plan.checker, plan.test, history, verdict, budget_s=budget_s) is None:
        raise BadInput(f"{run}: its history is not invalid when checked again ({verdict.summary or 'valid'}): "
                       "there is no failure to bundle")
    return dict(_read_json(summary))


def scrub(value: object) -> Any:
    """A copy of a JSON value with every value under a secret-sounding key blanked."""
    if isinstance(value, dict):
        return {k: ("<removed>" if _SECRET.search(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, str) and "=" in value and _SECRET.search(value.split("=", 1)[0]):
        return value.split("=", 1)[0] + "=<removed>"  # a key=value option on a command line
    return value


def _facts(run: Path, info: Mapping[str, Any], minimal: Mapping[str, object], history: History, small: History,
           excerpts: Mapping[str, str]) -> dict[str, object]:
    argv = [str(a) for a in scrub(list(info.get("argv") or ()))]
    return {
        "run": str(run),
        "run_id": info.get("run_id"),
        "test": info.get("name"),
        "command": "harness " + shlex.join(argv[1:]) if argv else None,
        "replay": "harness run --replay " + shlex.quote(str(run)),
        "replay_bundle": "harness run --replay <this folder>",
        "check_minimal": "harness check minimal/history.jsonl",
        "deterministic": info.get("deterministic"),
        "seed": info.get("seed"),
        "options": scrub(info.get("options") or {}),
        "versions": info.get("versions") or {},
        "minimal": minimal,
        "ops": {"original": len(history), "minimal": len(small)},
        "faults": fault_schedule(history),
        "log_excerpts": dict(excerpts),
    }


def fault_schedule(history: History) -> list[dict[str, object]]:
    """Every nemesis op of the run: when (s), what, on what (the value as recorded)."""
    return [{"time_s": round(op.time_ns / 1e9, 3), "type": op.type, "f": op.f, "value": _short(op.value),
             **({"error": _short(op.error)} if op.error is not None else {})}
            for op in history if op.is_nemesis]


def _short(v: object, limit: int = 200) -> str:
    s = v if isinstance(v, str) else json.dumps(v, default=repr)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def history_zero(run: Path) -> dt.datetime | None:
    """The wall-clock time of the history's time 0: the "phase 5" line of harness.log (see the module doc)."""
    try:
        lines = (run / "harness.log").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if "phase 5:" in line:
            return _stamp(line)
    return None


def _stamp(line: str) -> dt.datetime | None:
    m = _STAMP.match(line)
    if m is None:
        return None
    frac = (m.group(3) or "0")[:6].ljust(6, "0")
    try:
        return dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}.{frac}")
    except ValueError:
        return None


def log_excerpts(run: Path, small: History, out: Path) -> dict[str, str]:
    """Each node log's lines around the minimal history's ops, into out/<node>-<file>; what was done, by file."""
    zero = history_zero(run)
    client = [op.time_ns for op in small if op.is_client] or [op.time_ns for op in small]
    notes: dict[str, str] = {}
    nodes = run / "nodes"
    if zero is None or not client or not nodes.is_dir():
        return {"*": "no excerpts: " + ("no node logs" if not nodes.is_dir() else "no start time in harness.log")}
    since = zero + dt.timedelta(seconds=min(client) / 1e9 - LOG_MARGIN_S)
    until = zero + dt.timedelta(seconds=max(client) / 1e9 + LOG_MARGIN_S)
    for log in sorted(p for p in nodes.rglob("*") if p.is_file()):
        name = "-".join(log.relative_to(nodes).parts)
        lines, timed = _between(log, since, until)
        if not timed:
            notes[name] = "left out: its lines carry no time this bundle can read"
            continue
        out.mkdir(exist_ok=True)
        (out / name).write_text("".join(lines[:LOG_MAX_LINES]), encoding="utf-8")
        cut = f" (first {LOG_MAX_LINES})" if len(lines) > LOG_MAX_LINES else ""
        notes[name] = f"{len(lines)} lines from {since:%H:%M:%S.%f} to {until:%H:%M:%S.%f}{cut}: logs/{name}"
    return notes


def _between(log: Path, since: dt.datetime, until: dt.datetime) -> tuple[list[str], bool]:
    """The log's lines whose time (or the time of the last timed line before them) is within [since, until]."""
    out: list[str] = []
    timed = False
    inside = False
    with open(log, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            t = _stamp(line)
            if t is not None:
                timed = True
                t = t.replace(tzinfo=None)
                inside = since.replace(tzinfo=None) <= t <= until.replace(tzinfo=None)
            if inside:
                out.append(line)
    return out, timed


def readme(facts: Mapping[str, Any]) -> str:
    """The bundle's README.md: the anomaly, how to see it again, and what is in the folder."""
    m = facts["minimal"]
    f = m.get("finding") or {}
    lines = [f"# {facts['test']}: {m.get('failure_class')} ({m.get('kind')})", "",
             f"{f.get('diagnosis', '')}", "", *(f"- {e}" for e in f.get("explanation", ())), "",
             "## The smallest history that shows it", "",
             f"{m.get('ops')} of the run's {m.get('original_ops')} ops (`minimal/history.jsonl`); the checker "
             f"{m.get('checker')} still finds them invalid on their own: `{facts['check_minimal']}`."
             + (" The minimization ran out of its time budget, so a smaller one may exist."
                if m.get("budget_ran_out") else ""), "", "```", *_ops_lines(facts), "```", "",
             "## Run it again", "", f"- the command: `{facts['command']}`", (f"- the same seed and options on a "
                                                                       f"fresh cluster: `{facts['replay']}` "
                                                                       f"(or `{facts['replay_bundle']}`)"),
             f"- seed {facts['seed']}; {facts['deterministic']}", "", "## Versions", "",
             *(f"- {k}: {v}" for k, v in facts["versions"].items()), "", "## Faults", "",
             *(_fault_line(x) for x in facts["faults"]), "" if facts["faults"] else "no faults", "",
             "## Node logs around the anomaly", "", *(f"- {k}: {v}" for k, v in facts["log_excerpts"].items()), "",
             "## In this folder", "", _CONTENTS, ""]
    return "\n".join(lines)


_CONTENTS = ("minimal/ (history.jsonl, test.json, minimize.json), test.json, results.json, report.html, logs/, "
             "bundle.json (everything above, for programs)")


def _fault_line(x: Mapping[str, object]) -> str:
    err = f" (error: {x['error']})" if "error" in x else ""
    return f"- {x['time_s']:8.3f} s  {x['type']:<6} {x['f']} {x['value']}{err}"


def _ops_lines(facts: Mapping[str, Any]) -> Sequence[str]:
    path = Path(facts["run"]) / "minimal" / "history.jsonl"
    try:
        return [f"{op.time_ns / 1e9:9.3f} s  {op}" for op in History.from_jsonl(path)]
    except (OSError, ValueError, BadInput):
        return ["(minimal/history.jsonl could not be read)"]


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
