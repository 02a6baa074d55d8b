"""The diagnosis section: findings in the language of people debugging.

Owns `CheckerRow` (one checker's verdict, failing checkers first) and `FindingView`: each finding placed in its
failure class and answering four questions -- which scope was ordered (`Finding.scope`), which invariant broke
(kind and diagnosis), what the system did about it (ok/fail/info/timeouts around the finding's ops, and the
faults in place), and how long it took to get back to correct after the fault ended (recovery per node).
Does not own finding anomalies (checkers do) nor rendering (templates do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from harness.checker import (
    UNKNOWN,
    FailureClass,
    Finding,
    Validity,
    Verdict,
    validity_name,
)
from harness.coverage import FaultInterval
from harness.op import History
from harness.report.frames import error_text, in_interval, value_text
from harness.report.stats import OpCounts, Recovery, recovery_after

MAX_FINDINGS_PER_CLASS = 200
MAX_OPS_PER_FINDING = 50
AROUND_S = 1.0  # "around a finding": this many seconds either side of its ops

_RANK = {False: 0, UNKNOWN: 1, True: 2}
_CLASS_ORDER = {c: i for i, c in enumerate(FailureClass)}


@dataclass(frozen=True, kw_only=True)
class CheckerRow:
    name: str
    valid: Validity
    summary: str
    findings: int
    files: tuple[str, ...]  # relative to the run directory
    depth: int

    @property
    def verdict_name(self) -> str:
        return validity_name(self.valid)


def checker_verdicts(verdict: Verdict) -> list[tuple[Verdict, int]]:
    """The verdicts that stand for a checker, with their nesting depth: a pure composition (children and no
    findings of its own, like `Compose`) is replaced by its children; a verdict with findings of its own (the
    runner's "run" verdict when a fault could not be injected) or without children is a checker."""
    out: list[tuple[Verdict, int]] = []

    def walk(v: Verdict, depth: int) -> None:
        kids = sorted(v.children, key=lambda c: _RANK[c.valid])
        if kids and not v.findings:
            for c in kids:
                walk(c, depth)
            return
        out.append((v, depth))
        for c in kids:
            walk(c, depth + 1)

    walk(verdict, 0)
    return out


def _resolve(name: str, f: str, known: Sequence[str]) -> str:
    """Where a checker's file (relative to its out_dir) lies in the run directory."""
    if f.startswith("checks/"):
        return f
    tail = f"/{name}/{f}"
    return next((k for k in known if k.endswith(tail)), f"checks/{name}/{f}")


def checker_rows(verdict: Verdict, checker_files: Mapping[str, Sequence[str]] = {}) -> list[CheckerRow]:
    """One row per checker (see `checker_verdicts`), failing first, then unknown, then valid; each with its
    files (those its verdict names, else those found under checks/<checker>/)."""
    known = [f for fs in checker_files.values() for f in fs]
    rows = []
    for v, depth in checker_verdicts(verdict):
        name = v.checker or "checker"
        files = tuple(_resolve(name, f, known) for f in v.files) or tuple(checker_files.get(name, ()))
        rows.append(CheckerRow(name=name, valid=v.valid, summary=v.summary, findings=len(v.all_findings()),
                               files=files, depth=depth))
    return rows


@dataclass(frozen=True, kw_only=True)
class OpLine:
    index: int
    time_s: float
    process: str
    type: str
    f: str
    value: str
    node: str
    error: str
    invoke_index: int  # the invocation of this op's pair (what the timeline keys ops by)


@dataclass(frozen=True, kw_only=True)
class FindingView:
    checker: str
    finding: Finding
    ops: tuple[OpLine, ...]
    missing_ops: int  # op indices the history does not have (or beyond MAX_OPS_PER_FINDING)
    is_cycle: bool
    window: tuple[float, float] | None
    around: OpCounts | None
    faults: tuple[str, ...]  # labels of faults in place during the window or ended just before it
    recovery: Recovery | None  # after the last of those faults ended


@dataclass(frozen=True, kw_only=True)
class ClassGroup:
    failure_class: FailureClass
    findings: tuple[FindingView, ...]
    hidden: int  # kept by the checker (in results.json) but not drawn here
    uncollected: int = 0  # counted by the checker past its max_findings, never built


def _uncollected(v: Verdict) -> dict[FailureClass, int]:
    """Per class, the findings a checker counted (details "finding_counts") beyond those it kept: a checker keeps
    at most max_findings of a kind, so "11 lost" may come with 10 findings."""
    out: dict[FailureClass, int] = {}
    counts = v.details.get("finding_counts") if isinstance(v.details, Mapping) else None
    for kind, n in (counts.items() if isinstance(counts, Mapping) else ()):
        kept = [f for f in v.findings if f.kind == kind]
        if kept and isinstance(n, int) and n > len(kept):
            out[kept[0].failure_class] = out.get(kept[0].failure_class, 0) + n - len(kept)
    for c in v.children:
        for cls, n in _uncollected(c).items():
            out[cls] = out.get(cls, 0) + n
    return out


def _findings(v: Verdict, name: str) -> list[tuple[str, Finding]]:
    out = [(v.checker or name, f) for f in v.findings]
    for c in v.children:
        out.extend(_findings(c, c.checker or name))
    return out


_CYCLE_KINDS = ("g0", "g1c", "g-single", "g-nonadjacent", "g2", "lost-update", "lost update")


def _is_cycle(f: Finding) -> bool:
    """Elle's cycle anomalies (G0, G1c, G-single, G2 and their variants) are drawn as a cycle of their ops;
    G1a/G1b and everything else as a list."""
    k = f.kind.lower()
    return k.startswith(_CYCLE_KINDS) or "cycle" in k


def diagnose(verdict: Verdict, history: History, ops: pd.DataFrame, intervals: Sequence[FaultInterval],
             nodes: Sequence[str] = ()) -> list[ClassGroup]:
    """Findings grouped by failure class (in FailureClass order), each with the four answers."""
    pairs = _findings(verdict, verdict.checker)
    if not pairs:
        return []
    wanted = {i for _, f in pairs for i in f.ops[:MAX_OPS_PER_FINDING]}
    by_index = {op.index: op for op in history if op.index in wanted}
    groups: dict[FailureClass, list[FindingView]] = {}
    hidden: dict[FailureClass, int] = {}
    for checker, f in pairs:
        lst = groups.setdefault(f.failure_class, [])
        if len(lst) >= MAX_FINDINGS_PER_CLASS:
            hidden[f.failure_class] = hidden.get(f.failure_class, 0) + 1
            continue
        lines = []
        for i in f.ops[:MAX_OPS_PER_FINDING]:
            op = by_index.get(i)
            if op is not None:
                inv = history.invocation(op) if op.type != "invoke" else None
                lines.append(OpLine(invoke_index=inv.index if inv is not None else op.index, index=op.index, time_s=op.time_ns / 1e9, process=str(op.process), type=op.type,
                                    f=op.f, value=value_text(op.value, 120), node=op.node or "",
                                    error=error_text(op.error, 80)))
        window = around = rec = None
        faults: tuple[str, ...] = ()
        if lines:
            lo = min(x.time_s for x in lines) - AROUND_S
            hi = max(x.time_s for x in lines) + AROUND_S
            window = (max(lo, 0.0), hi)
            around = OpCounts.of(in_interval(ops, window[0], window[1]))
            near = [iv for iv in intervals if iv.start_s <= hi and iv.end_s >= lo - 10 * AROUND_S]
            faults = tuple(dict.fromkeys(iv.label for iv in near))
            healed = [iv for iv in near if iv.healed]
            if healed:
                last = max(healed, key=lambda iv: iv.end_s)
                rec = recovery_after(ops, last.end_s, nodes)
        lst.append(FindingView(checker=checker, finding=f, ops=tuple(lines),
                               missing_ops=len(f.ops) - len(lines), is_cycle=_is_cycle(f) and len(lines) > 1,
                               window=window, around=around, faults=faults, recovery=rec))
    uncollected = _uncollected(verdict)
    return [ClassGroup(failure_class=c, findings=tuple(groups[c]), hidden=hidden.get(c, 0),
                       uncollected=uncollected.get(c, 0)) for c in sorted(groups, key=lambda c: _CLASS_ORDER[c])]
