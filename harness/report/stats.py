"""Summary statistics of a run: the numbers a report headline and a comparison table show.

Owns `OpCounts`, `RunStats` (totals, throughput, availability, latency quantiles), `FaultStats` (the same under
each fault interval, per package, and outside any fault) and recovery times (from each fault interval's end to
the next ok op, per node). Does not own building the tables (see `harness.report.frames`) nor rendering.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.checker import RECOVERY_WATCH_S
from harness.coverage import FaultInterval

ALL_NODES = "all"  # the recovery key when ops do not name their node


def _q(s: pd.Series, q: float) -> float | None:
    if len(s) == 0:
        return None
    v = float(s.quantile(q))
    return None if math.isnan(v) else v


@dataclass(frozen=True, kw_only=True)
class OpCounts:
    """Completions by outcome. `timeouts` are the `info` ops that timed out or never completed; `refused` the
    `fail` ops the system answered with a definite no (see `harness.client.refused`)."""

    ok: int = 0
    fail: int = 0
    info: int = 0
    timeouts: int = 0
    refused: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.fail + self.info

    @property
    def availability(self) -> float | None:
        """The share of completions the system answered (ok, or refused: it was up and said no); None when
        there were none. Timeouts, lost connections and unavailable errors are what lowers it."""
        return (self.ok + self.refused) / self.total if self.total else None

    @property
    def unanswered(self) -> int:
        """Completions the system did not answer: fail for want of an answer, and info."""
        return self.total - self.ok - self.refused

    @classmethod
    def of(cls, ops: pd.DataFrame) -> OpCounts:
        t = ops["type"]
        return cls(
            ok=int((t == "ok").sum()),
            fail=int((t == "fail").sum()),
            info=int((t == "info").sum()),
            timeouts=int(ops["timeout"].sum()),
            refused=int(ops["refused"].sum()),
        )


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Latency quantiles of ok ops, in milliseconds (None when there were no ok ops)."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None

    @classmethod
    def of(cls, ops: pd.DataFrame) -> Latency:
        lat = ops.loc[ops["type"] == "ok", "latency_ms"].dropna()
        return cls(p50=_q(lat, 0.5), p95=_q(lat, 0.95), p99=_q(lat, 0.99),
                   max=float(lat.max()) if len(lat) else None)


@dataclass(frozen=True, kw_only=True)
class RunStats:
    counts: OpCounts
    latency: Latency
    duration_s: float
    ok_per_s: float | None
    ops_per_s: float | None
    by_f: Mapping[str, OpCounts] = field(default_factory=dict)


def run_stats(ops: pd.DataFrame, duration_s: float) -> RunStats:
    counts = OpCounts.of(ops)
    by_f = {str(f): OpCounts.of(g) for f, g in ops.groupby("f", sort=True)} if len(ops) else {}
    return RunStats(
        counts=counts,
        latency=Latency.of(ops),
        duration_s=duration_s,
        ok_per_s=counts.ok / duration_s if duration_s > 0 else None,
        ops_per_s=counts.total / duration_s if duration_s > 0 else None,
        by_f=by_f,
    )


@dataclass(frozen=True, kw_only=True)
class Recovery:
    """After a fault ended: seconds until each node served an ok op again, None for a node that was asked and
    watched for `RECOVERY_WATCH_S` or more without an ok answer (not recovered). Nodes in `unmeasured` were
    not asked after the heal, or not watched long enough (the run ended too soon after the heal): their
    recovery is unknown, never counted as a failure. `seconds` is the slowest node's time, None if a node
    did not recover or none was measured."""

    by_node: Mapping[str, float | None]
    unmeasured: tuple[str, ...] = ()

    @property
    def seconds(self) -> float | None:
        if not self.by_node:
            return None
        vals = list(self.by_node.values())
        return None if any(v is None for v in vals) else max(v for v in vals if v is not None)

    @property
    def stalled_nodes(self) -> list[str]:
        return [n for n, v in self.by_node.items() if v is None]

    @property
    def measured(self) -> bool:
        return bool(self.by_node)


class _OpArrays:
    """The ops table's columns that per-fault statistics look at, as numpy arrays taken once, with the ops sorted
    by time (completion, or invocation for a never completed op, as frames.in_interval) and each node's ok
    completion times sorted: a window's ops are then a slice and a node's recovery a binary search. Masking the
    million-row DataFrame (its string columns through pyarrow) once per fault window and node took seconds."""

    def __init__(self, ops: pd.DataFrame) -> None:
        self.invoke = ops["invoke_s"].to_numpy(dtype=np.float64, na_value=np.nan)
        self.complete = ops["complete_s"].to_numpy(dtype=np.float64, na_value=np.nan)
        self.when = np.where(np.isnan(self.complete), self.invoke, self.complete)
        self.by_when = np.argsort(self.when, kind="stable")
        self.when_sorted = self.when[self.by_when]
        types = ops["type"].to_numpy(dtype=object)
        self.ok, self.fail, self.info = types == "ok", types == "fail", types == "info"
        self.timeout = ops["timeout"].to_numpy(dtype=bool)
        self.refused = ops["refused"].to_numpy(dtype=bool)
        self.latency = ops["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)
        self.node, nodes = pd.factorize(ops["node"].to_numpy(dtype=object, na_value=None), use_na_sentinel=True)
        self.node_names: list[object] = nodes.tolist()  # in order of first appearance, as Series.unique()
        done_ok = self.ok & ~np.isnan(self.complete)
        self.ok_done = np.sort(self.complete[done_ok])
        self.ok_done_by_node = [np.sort(self.complete[done_ok & (self.node == k)]) for k in range(len(nodes))]

    def within(self, start_s: float, end_s: float) -> np.ndarray:
        """Positions of the ops at or after start_s and at or before end_s (frames.in_interval)."""
        lo = np.searchsorted(self.when_sorted, start_s, side="left")
        return self.by_when[lo:np.searchsorted(self.when_sorted, end_s, side="right")]

    def counts(self, sel: np.ndarray) -> OpCounts:
        """`sel`: positions, or a mask."""
        return OpCounts(ok=int(np.count_nonzero(self.ok[sel])), fail=int(np.count_nonzero(self.fail[sel])),
                        info=int(np.count_nonzero(self.info[sel])),
                        timeouts=int(np.count_nonzero(self.timeout[sel])),
                        refused=int(np.count_nonzero(self.refused[sel])))

    def latency_of(self, sel: np.ndarray) -> Latency:
        lat = pd.Series(self.latency[sel][self.ok[sel]]).dropna()
        return Latency(p50=_q(lat, 0.5), p95=_q(lat, 0.95), p99=_q(lat, 0.99),
                       max=float(lat.max()) if len(lat) else None)


def recovery_after(ops: pd.DataFrame, end_s: float, nodes: Sequence[str] = ()) -> Recovery:
    """Time from `end_s` to the next ok completion, per node. Nodes come from `nodes` and the ops' node column;
    when no op names a node, one key "all" stands for the whole cluster."""
    return _recovery(_OpArrays(ops), end_s, nodes)


def _recovery(a: _OpArrays, end_s: float, nodes: Sequence[str]) -> Recovery:
    named = [n for n in a.node_names if n]
    out: dict[str, float | None] = {}
    unmeasured: list[str] = []

    def judge(key: str, ok_done: np.ndarray, code: int | None) -> None:
        i = int(np.searchsorted(ok_done, end_s, side="left"))  # the first ok completion at or after end_s
        if i < len(ok_done):
            out[key] = max(float(ok_done[i]) - end_s, 0.0)
            return
        asked = a.invoke >= end_s
        if code is not None:
            asked &= a.node == code
        watched = float(a.when[asked].max()) - end_s if asked.any() else 0.0
        if watched >= RECOVERY_WATCH_S:
            out[key] = None
        else:
            unmeasured.append(key)

    if not named:
        judge(ALL_NODES, a.ok_done, None)
        return Recovery(by_node=out, unmeasured=tuple(unmeasured))
    for n in dict.fromkeys([*named, *nodes]):
        code = a.node_names.index(n) if n in a.node_names else -2
        judge(str(n), a.ok_done_by_node[code] if code >= 0 else a.ok_done[:0], code)
    return Recovery(by_node=out, unmeasured=tuple(unmeasured))


@dataclass(frozen=True, kw_only=True)
class FaultStats:
    """Availability and latency while one fault (or a package's faults, or no fault) was in place."""

    label: str
    package: str
    start_s: float | None
    end_s: float | None
    healed: bool
    counts: OpCounts
    latency: Latency
    recovery: Recovery | None

    @property
    def duration_s(self) -> float | None:
        return None if self.start_s is None or self.end_s is None else self.end_s - self.start_s


def per_fault(ops: pd.DataFrame, intervals: Sequence[FaultInterval], nodes: Sequence[str] = ()) -> list[FaultStats]:
    """One row per fault interval, in time order, with its recovery."""
    out = []
    a = _OpArrays(ops)
    for i in intervals:
        sub = a.within(i.start_s, i.end_s)
        out.append(FaultStats(
            label=i.label, package=i.package, start_s=i.start_s, end_s=i.end_s, healed=i.healed,
            counts=a.counts(sub), latency=a.latency_of(sub),
            recovery=_recovery(a, i.end_s, nodes) if i.healed else None,
        ))
    return out


@dataclass(frozen=True, kw_only=True)
class PackageStats:
    """All intervals of one package together, plus recovery over them (worst and median)."""

    label: str
    package: str
    intervals: int
    counts: OpCounts
    latency: Latency
    recovery_max_s: float | None
    recovery_median_s: float | None
    unrecovered: int


def per_package(ops: pd.DataFrame, faults: Sequence[FaultStats], intervals: Sequence[FaultInterval]) -> list[PackageStats]:
    """Per package, plus a row labelled "no fault" for ops outside every interval."""
    out: list[PackageStats] = []
    a = _OpArrays(ops)
    calm = np.ones(len(ops), dtype=bool)
    for i in intervals:
        calm[a.within(i.start_s, i.end_s)] = False
    for name in dict.fromkeys(f.package for f in faults):
        mine = [f for f in faults if f.package == name]
        sub = np.zeros(len(ops), dtype=bool)  # the ops within any of the package's intervals, each once
        for i in intervals:
            if i.package == name:
                sub[a.within(i.start_s, i.end_s)] = True
        recs = [f.recovery.seconds for f in mine if f.recovery is not None and f.recovery.measured]
        known = [r for r in recs if r is not None]
        out.append(PackageStats(
            label=mine[0].label, package=name, intervals=len(mine), counts=a.counts(sub),
            latency=a.latency_of(sub),
            recovery_max_s=max(known) if known else None,
            recovery_median_s=float(pd.Series(known).median()) if known else None,
            unrecovered=sum(1 for r in recs if r is None) + sum(1 for f in mine if not f.healed),
        ))
    out.append(PackageStats(label="no fault", package="", intervals=0, counts=a.counts(calm),
                            latency=a.latency_of(calm), recovery_max_s=None, recovery_median_s=None, unrecovered=0))
    return out
