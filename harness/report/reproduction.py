"""The "Reproduction" section of a run's report: the smallest failing history and how to see the failure again.

Owns `Reproduction` (what the section shows, read from RUN/minimal/ that `harness.minimize` wrote, and from
test.json) and `reproduction(run)`, None when the run has no minimal history (it did not fail, or it was not
minimized). Does not own minimizing nor bundling (`harness.minimize`, `harness.bundle`).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from harness.op import History, Op
from harness.report.rundir import RunDir


@dataclass(frozen=True, kw_only=True)
class MinimalOp:
    index: int
    time_s: float
    process: str
    type: str
    f: str
    value: str
    node: str
    error: str


@dataclass(frozen=True, kw_only=True)
class Reproduction:
    failure_class: str
    kind: str
    checker: str
    ops: int
    original_ops: int
    seconds: float
    checks: int
    budget_ran_out: bool
    diagnosis: str
    check_command: str
    command: str
    replay: str
    bundle: bool  # RUN/bundle.tar.gz is there (or is being written with this report)
    minimal_ops: tuple[MinimalOp, ...] = field(default_factory=tuple)
    shrunk: ShrinkSummary | None = None


@dataclass(frozen=True, kw_only=True)
class ShrinkSummary:
    """What `harness shrink` found (RUN/shrink/shrink.json)."""

    reproduced: bool
    faults: int
    time_limit: float
    original_faults: int
    original_time_limit: float
    attempts: int
    replays: int
    command: str
    failing_run: str


def shrink_summary(run: RunDir) -> ShrinkSummary | None:
    try:
        d = json.loads((run.path / "shrink" / "shrink.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    best, original = d.get("minimal") or {}, d.get("original") or {}
    return ShrinkSummary(reproduced=bool(d.get("reproduced")), faults=int(best.get("faults", 0)),
                         time_limit=float(best.get("time_limit", 0.0)),
                         original_faults=int(original.get("faults", 0)),
                         original_time_limit=float(original.get("time_limit", 0.0)),
                         attempts=int(d.get("attempts", 0)), replays=int(d.get("replays", 0)),
                         command=str(d.get("command") or ""), failing_run=str(d.get("failing_run") or ""))


def reproduction(run: RunDir, *, bundle: bool | None = None) -> Reproduction | None:
    """The section's facts, or None without RUN/minimal/minimize.json. `bundle` says whether the bundle is
    being written with this report (default: whether RUN/bundle.tar.gz exists)."""
    folder = run.path / "minimal"
    try:
        summary = json.loads((folder / "minimize.json").read_text(encoding="utf-8"))
        history = History.from_jsonl(folder / "history.jsonl")
    except (OSError, ValueError):
        return None
    argv = list(run.test.argv)
    finding = summary.get("finding") or {}
    return Reproduction(
        failure_class=str(summary.get("failure_class", "")), kind=str(summary.get("kind", "")),
        checker=str(summary.get("checker", "")), ops=int(summary.get("ops", len(history))),
        original_ops=int(summary.get("original_ops", 0)), seconds=float(summary.get("seconds", 0.0)),
        checks=int(summary.get("checks", 0)), budget_ran_out=bool(summary.get("budget_ran_out")),
        diagnosis=str(finding.get("diagnosis", "")),
        check_command="harness check " + shlex.quote(str(folder / "history.jsonl")),
        command="harness " + shlex.join(argv[1:]) if len(argv) > 1 else "",
        replay="harness run --replay " + shlex.quote(str(run.path)),
        bundle=(run.path / "bundle.tar.gz").is_file() if bundle is None else bundle,
        minimal_ops=tuple(_row(op) for op in history),
        shrunk=shrink_summary(run),
    )


def _row(op: Op) -> MinimalOp:
    return MinimalOp(index=op.index, time_s=op.time_ns / 1e9, process=str(op.process), type=op.type, f=op.f,
                     value=_text(op.value), node=op.node or "", error=_text(op.error) if op.error is not None else "")


def _text(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 300 else s[:297] + "..."
