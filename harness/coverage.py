"""Fault windows and what the clients did in them: the evidence that a run exercised its faults.

Owns `FaultInterval` and `fault_intervals` (when each fault package's fault was in place, from its nemesis ops),
`OpTally`, `WindowCoverage`, `Coverage` and `coverage` (per fault window: client ops invoked, ok, fail, info,
overall and per node, the invocation rate and the longest stretch without an invocation; the rate before the
first fault as a baseline). A window in which fewer than `min_ops` client ops completed is "untested": the run
then proves nothing about that fault, and the runner makes the verdict unknown. Pure functions of a history;
does not own rendering (harness.report) nor verdicts (harness.runner caps them).

A window is the time the fault was surely in place: from the completion of the first start op of a package (a
partition of nine ssh hosts may take seconds to put in place, and ops before it was in place did not meet it)
to the invocation of the stop op that healed it; a start whose completion never came counts from its invocation,
a start while the package's fault is in place does not open a second window, a stop with none in place is
ignored, and a window still open at the end of the history ends there, unhealed. A client op belongs to the
window its invocation falls in; "completed" means it got a completion (ok, fail or info, a timeout included: the
system was asked and the client moved on). The baseline rate is measured before the first fault was invoked.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.op import INVOKE, History, Op


class FaultFamily(Protocol):
    """What coverage needs of a fault package (harness.nemesis.Package, or its record in a run's test.json)."""

    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def start_fs(self) -> frozenset[str]: ...

    @property
    def stop_fs(self) -> frozenset[str]: ...


@dataclass(frozen=True, kw_only=True)
class FaultInterval:
    """One fault: from the invocation of its first start op (`start_s`) to the completion of the stop op that
    healed it (`end_s`: recovery is measured from there), and within that the time it was surely in place
    (`in_place_from_s`, `in_place_to_s`: from the start's completion to the stop's invocation), which is what
    coverage counts. `healed` is False when the history ended with the fault still in place (end_s is then the
    end of the history)."""

    package: str
    label: str
    start_s: float
    end_s: float
    in_place_from_s: float
    in_place_to_s: float
    healed: bool
    start_index: int
    end_index: int | None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def in_place_s(self) -> float:
        return self.in_place_to_s - self.in_place_from_s


@dataclass
class _Opening:
    start_s: float
    index: int
    in_place_from_s: float | None = None  # the start op's completion
    stop_invoked: tuple[float, int] | None = None


def fault_intervals(history: History, packages: Sequence[FaultFamily]) -> list[FaultInterval]:
    """Fault intervals of every package, in start order (see the module docstring)."""
    end = max((op.time_ns for op in history), default=0) / 1e9
    starts = {f: p for p in packages for f in p.start_fs}
    stops = {f: p for p in packages for f in p.stop_fs}
    open_at: dict[str, _Opening] = {}
    out: list[FaultInterval] = []
    label = {p.name: p.label or p.name for p in packages}

    def close(name: str, t: float, idx: int | None, healed: bool) -> None:
        o = open_at.pop(name)
        sure_from = o.start_s if o.in_place_from_s is None else o.in_place_from_s
        sure_to = t if o.stop_invoked is None else o.stop_invoked[0]
        out.append(FaultInterval(package=name, label=label[name], start_s=o.start_s, end_s=max(t, o.start_s),
                                 in_place_from_s=sure_from, in_place_to_s=max(sure_to, sure_from), healed=healed,
                                 start_index=o.index, end_index=idx))

    for op in history.nemesis_ops():
        t = op.time_ns / 1e9
        if op.f in starts:
            name = starts[op.f].name
            if name not in open_at:
                open_at[name] = _Opening(start_s=t, index=op.index)
            elif op.type != INVOKE and open_at[name].in_place_from_s is None:
                open_at[name].in_place_from_s = t
        elif op.f in stops and stops[op.f].name in open_at:
            name = stops[op.f].name
            if op.type == INVOKE:
                open_at[name].stop_invoked = (t, op.index)
            else:
                close(name, t, op.index, True)
    for name in list(open_at):
        stop = open_at[name].stop_invoked
        if stop is not None:  # the heal was invoked but never completed: count it healed at invocation
            close(name, stop[0], stop[1], True)
        else:
            close(name, end, None, False)
    out.sort(key=lambda i: (i.start_s, i.package))
    return out


@dataclass(frozen=True, kw_only=True)
class OpTally:
    """Client ops invoked, and how those that completed ended."""

    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0

    @property
    def completed(self) -> int:
        return self.ok + self.fail + self.info

    def plus(self, completion: Op | None) -> OpTally:
        t = completion.type if completion is not None else None
        return OpTally(invoked=self.invoked + 1, ok=self.ok + (t == "ok"), fail=self.fail + (t == "fail"),
                       info=self.info + (t == "info"))

    def to_json(self) -> dict[str, int]:
        return {"invoked": self.invoked, "ok": self.ok, "fail": self.fail, "info": self.info}


@dataclass(frozen=True, kw_only=True)
class WindowCoverage:
    """The client ops invoked while one fault was in place."""

    interval: FaultInterval
    total: OpTally
    by_node: Mapping[str, OpTally]
    invoke_rate: float  # client invocations per second in the window
    longest_gap_s: float  # the longest stretch of the window without a client invocation (edges included)
    # the longest a worker thread went from a completion in the window to its next invocation: the harness's own
    # share of a gap (a worker kept waiting), as against a system that does not answer; None without threads known
    longest_idle_s: float | None = None

    def tested(self, min_ops: int) -> bool:
        return self.total.completed >= min_ops

    def to_json(self) -> dict[str, object]:
        iv = self.interval
        return {
            "package": iv.package, "label": iv.label, "start_s": iv.start_s, "end_s": iv.end_s, "healed": iv.healed,
            "in_place_from_s": iv.in_place_from_s, "in_place_to_s": iv.in_place_to_s,
            "start_index": iv.start_index, "end_index": iv.end_index, **self.total.to_json(),
            "completed": self.total.completed, "invoke_rate": self.invoke_rate, "longest_gap_s": self.longest_gap_s,
            "longest_idle_s": self.longest_idle_s,
            "by_node": {n: t.to_json() for n, t in self.by_node.items()},
        }


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """Every fault window of a run with its client ops; `baseline_rate` is the client invocation rate before the
    first fault (None without faults or without ops before it); `min_ops` the completed ops a window needs."""

    windows: tuple[WindowCoverage, ...]
    baseline_rate: float | None
    min_ops: int

    @property
    def untested(self) -> tuple[WindowCoverage, ...]:
        return tuple(w for w in self.windows if not w.tested(self.min_ops))

    def to_json(self) -> dict[str, object]:
        return {
            "min_ops": self.min_ops,
            "baseline_rate": self.baseline_rate,
            "windows": [w.to_json() for w in self.windows],
            "untested": [w.interval.start_index for w in self.untested],
        }

    def describe(self, w: WindowCoverage) -> str:
        iv = w.interval
        return (f"fault window untested: {iv.label} in place from {iv.in_place_from_s:.1f} s to "
                f"{iv.in_place_to_s:.1f} s "
                f"(op #{iv.start_index}) saw {w.total.completed} completed client op(s), fewer than {self.min_ops}")


def _idle_spans(invokes: Sequence[tuple[float, Op, Op | None]], concurrency: int) -> list[tuple[float, float]]:
    """(freed at, idle for) in seconds, each time a worker thread went from a completion to its next invocation;
    a thread is its process modulo the concurrency (a process that crashed continues as process + concurrency)."""
    freed: dict[int, float] = {}
    spans: list[tuple[float, float]] = []
    for t, inv, comp in invokes:
        if not isinstance(inv.process, int):
            continue
        thread = inv.process % concurrency
        if thread in freed:
            f = freed.pop(thread)
            spans.append((f, t - f))
        if comp is not None:
            freed[thread] = comp.time_ns / 1e9
    return spans


def _window(iv: FaultInterval, invokes: Sequence[tuple[float, Op, Op | None]],
            idle: Sequence[tuple[float, float]] | None) -> WindowCoverage:
    """`invokes` and `idle` sorted by time: only the window's own slice of each is looked at."""
    total = OpTally()
    by_node: dict[str, OpTally] = {}
    lo, hi = iv.in_place_from_s, iv.in_place_to_s
    times = [lo]
    first = bisect_left(invokes, lo, key=_first)
    for t, inv, comp in invokes[first:bisect_right(invokes, hi, lo=first, key=_first)]:
        times.append(t)
        total = total.plus(comp)
        node = (comp.node if comp is not None and comp.node else None) or inv.node or "(no node)"
        by_node[node] = by_node.get(node, OpTally()).plus(comp)
    times.append(hi)
    gap = max(b - a for a, b in zip(times, times[1:]))
    rate = (len(times) - 2) / iv.in_place_s if iv.in_place_s > 0 else 0.0
    longest_idle = None if idle is None else max(
        (d for _, d in idle[bisect_left(idle, lo, key=_first):bisect_right(idle, hi, key=_first)]), default=0.0)
    return WindowCoverage(interval=iv, total=total, by_node=dict(sorted(by_node.items())), invoke_rate=rate,
                          longest_gap_s=gap, longest_idle_s=longest_idle)


def _first(item: tuple[float, object] | tuple[float, Op, Op | None]) -> float:
    return item[0]


def coverage(history: History, packages: Sequence[FaultFamily], min_ops: int,
             concurrency: int | None = None) -> Coverage:
    """What the clients did in each fault window of `history` (see the module docstring); with the run's
    `concurrency`, also how long its workers stood idle."""
    intervals = fault_intervals(history, packages)
    invokes = [(inv.time_ns / 1e9, inv, comp) for inv, comp in history.client_ops().pairs()]
    idle = _idle_spans(invokes, concurrency) if concurrency else None
    # each window bisects the ops sorted by time (a stable sort: the history's order is kept, and is time order
    # already in a recorded run); scanning every op per window took a minute for 1M ops and 65 windows
    by_time = sorted(invokes, key=_first)
    spans = None if idle is None else sorted(idle, key=_first)
    windows = tuple(_window(iv, by_time, spans) for iv in intervals)
    baseline: float | None = None
    if intervals and invokes:
        first_fault = intervals[0].start_s
        before = [t for t, _, _ in invokes if t < first_fault]
        if len(before) >= 2 and first_fault > before[0]:
            baseline = len(before) / (first_fault - before[0])
    return Coverage(windows=windows, baseline_rate=baseline, min_ops=min_ops)
