"""Summary statistics of a run: the numbers a report headline and a comparison table show.

Owns `OpCounts`, `RunStats` (totals, throughput, availability, latency quantiles), `FaultStats` (the same under
each fault interval, per package, and outside any fault) and recovery times (from each fault interval's end to
the next ok op, per node). Does not own building the tables (see `harness.report.frames`) nor rendering.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from harness.checker import RECOVERY_WATCH_S
from harness.coverage import FaultInterval
from harness.report.frames import in_interval, outside_intervals

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


RECOVERY_COLUMNS = ("invoke_s", "complete_s", "type", "node")


def recovery_after(ops: pd.DataFrame, end_s: float, nodes: Sequence[str] = ()) -> Recovery:
    """Time from `end_s` to the next ok completion, per node. Nodes come from `nodes` and the ops' node column;
    when no op names a node, one key "all" stands for the whole cluster."""
    ops = ops[list(RECOVERY_COLUMNS)]  # masks below copy only these, not the value and error text of every op
    after = ops[ops["invoke_s"] >= end_s]
    ok = ops[(ops["type"] == "ok") & (ops["complete_s"] >= end_s)]
    named = [n for n in ops["node"].dropna().unique().tolist() if n]
    keys = list(dict.fromkeys([*named, *nodes])) if named else []
    out: dict[str, float | None] = {}
    unmeasured: list[str] = []

    def judge(key: str, first: float, asked: pd.DataFrame) -> None:
        if not math.isnan(first):
            out[key] = max(first - end_s, 0.0)
            return
        watched = asked["complete_s"].fillna(asked["invoke_s"]).max() - end_s if len(asked) else 0.0
        if watched >= RECOVERY_WATCH_S:
            out[key] = None
        else:
            unmeasured.append(key)

    if not keys:
        judge(ALL_NODES, float(ok["complete_s"].min()) if len(ok) else math.nan, after)
        return Recovery(by_node=out, unmeasured=tuple(unmeasured))
    firsts = ok.groupby("node")["complete_s"].min() if len(ok) else pd.Series(dtype="float64")
    for n in keys:
        v = firsts.get(n)
        judge(str(n), math.nan if v is None else float(v), after[after["node"] == n])
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
    ops = ops[[c for c in ops.columns if c not in ("value", "error")]]  # masks copy no op text
    for i in intervals:
        sub = in_interval(ops, i.start_s, i.end_s)
        out.append(FaultStats(
            label=i.label, package=i.package, start_s=i.start_s, end_s=i.end_s, healed=i.healed,
            counts=OpCounts.of(sub), latency=Latency.of(sub),
            recovery=recovery_after(ops, i.end_s, nodes) if i.healed else None,
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
    for name in dict.fromkeys(f.package for f in faults):
        mine = [f for f in faults if f.package == name]
        ivs = [i for i in intervals if i.package == name]
        parts = [in_interval(ops, i.start_s, i.end_s) for i in ivs]
        sub = pd.concat(parts).drop_duplicates(subset="index") if parts else ops.iloc[0:0]
        recs = [f.recovery.seconds for f in mine if f.recovery is not None and f.recovery.measured]
        known = [r for r in recs if r is not None]
        out.append(PackageStats(
            label=mine[0].label, package=name, intervals=len(mine), counts=OpCounts.of(sub),
            latency=Latency.of(sub),
            recovery_max_s=max(known) if known else None,
            recovery_median_s=float(pd.Series(known).median()) if known else None,
            unrecovered=sum(1 for r in recs if r is None) + sum(1 for f in mine if not f.healed),
        ))
    calm = outside_intervals(ops, intervals)
    out.append(PackageStats(label="no fault", package="", intervals=0, counts=OpCounts.of(calm),
                            latency=Latency.of(calm), recovery_max_s=None, recovery_median_s=None, unrecovered=0))
    return out
