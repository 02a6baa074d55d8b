"""Availability and recovery checker: how much of the workload succeeded, per time window and per fault
interval; how long each node took to serve again after a heal; whether the nodes' final reads converge.

Owns `AvailabilityChecker`, `FaultInterval` and its plugin. Does not own nemeses (it only reads their ops)
nor latency plots (see the perf checker).

Op vocabulary: any client op (integer process) counts; `node` names the node it talked to. Nemesis ops have a
non-integer process ("nemesis"). A fault interval opens at a nemesis op whose f is in `start_fs` and closes at
the completion of the next nemesis op whose f is in `stop_fs` and of the same family ("start-partition" and
"stop-partition", "partition" and "heal", "kill" and "restart", "pause" and "resume"; see `family`); a stop op
with no open interval of its family closes every open interval (a "heal everything"). Jepsen's bare
"start"/"stop" are not in the defaults because "start" means "partition" in one nemesis and "restart" in
another: pass them with `start_fs`/`stop_fs` (they then form the family ""). When the run's `Test` is given,
the start/stop fs of its fault packages (`harness.nemesis.Package.start_fs/stop_fs`) are added, each package
its own family (so the kill package's "start" closes a "kill").

Judged:
    - a nemesis op that completed with an `error` (the fault was not injected, or the heal failed): unknown;
    - a fault never healed: unknown when `require_recovery` (recovery cannot be measured);
    - after the last heal, a node that was asked something and never answered ok although it was watched for
      `RECOVERY_WATCH_S` or more: slow or no recovery (watched less: "not measured" in the details, no finding);
    - a recovery longer than `max_recovery_s` (time from heal to the first ok op invoked after it, per node);
    - overall availability below `min_availability` (availability: the share of client ops the system answered,
      ok or refused, see `harness.client.refused`; refused and unanswered are reported apart);
    - final reads that differ across nodes (`converge`): reads with the same invocation value, the last ok one
      on each node. Judged only when every write completed before the first of them began; if some write is
      indefinite (info), it may still apply, so divergence is then unknown, not invalid.
Ops are ordered by history position; durations come from `time_ns`.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checker import RECOVERY_WATCH_S, FailureClass, Finding, Verdict
from harness.client import is_refusal
from harness.op import History, Op, Process
from harness.options import OptionSpec

from ._common import (
    CheckerPlugin,
    Findings,
    bool_spec,
    freeze,
    incomplete,
    max_findings_spec,
    parse_f_set,
    show,
    verdict,
)

if TYPE_CHECKING:
    from harness.test import Test

START_FS = frozenset({
    "start-partition", "partition", "kill", "start-kill", "pause", "start-pause", "start-skew", "skew-clock",
    "strobe-clock", "bump-clock", "start-clock-skew", "start-delay", "start-loss", "start-corrupt",
    "start-packet", "start-clog", "start-disk", "start-membership", "remove-member",
})
STOP_FS = frozenset({
    "stop-partition", "heal", "heal-partition", "restart", "stop-kill", "resume", "stop-pause", "stop-skew",
    "reset-clock", "stop-clock-skew", "stop-delay", "stop-loss", "stop-corrupt", "stop-packet", "stop-clog",
    "stop-disk", "stop-membership", "add-member", "heal-all",
})
READ_FS = frozenset({"read"})
_ALIASES = {
    "heal": "partition", "resume": "pause", "unpause": "pause", "restart": "kill", "reset-clock": "skew",
    "skew-clock": "skew", "strobe-clock": "skew", "bump-clock": "skew", "clock-skew": "skew",
    "remove-member": "membership", "add-member": "membership",
}


def family(f: str, packages: Mapping[str, str] | None = None) -> str:
    """The fault family of a nemesis f: the package that declares it, else the f with its prefix start-/stop-/
    heal- dropped and aliases resolved."""
    if packages and f in packages:
        return packages[f]
    for p in ("start-", "stop-", "heal-"):
        if f.startswith(p):
            f = f[len(p):]
            break
    if f in ("start", "stop"):
        return ""
    return _ALIASES.get(f, f)


@dataclass
class FaultInterval:
    """One fault, from the position of the op that started it to the completion of the op that healed it."""

    f: str
    start_pos: int
    start_index: int
    start_ns: int
    end_pos: int | None = None
    end_index: int | None = None
    end_ns: int | None = None
    stop_f: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"f": self.f, "start_op": self.start_index, "start_s": self.start_ns / 1e9, "stop_f": self.stop_f,
                "end_op": self.end_index, "end_s": None if self.end_ns is None else self.end_ns / 1e9}


@dataclass
class _NodeOps:
    """Per node: ok ops as (invoke position, completion ns), and every op as (invoke position, completion ns)."""

    ok: list[tuple[int, int]]
    invoked: list[tuple[int, int]]


@dataclass
class _Scan:
    """What one pass over the history collects for the availability check."""

    window_ns: int
    windows: dict[int, list[int]] = field(default_factory=dict)  # window -> [ok, count]
    comp_pos: list[int] = field(default_factory=list)  # positions of client completions
    comp_ok: list[int] = field(default_factory=list)  # prefix count of ok completions
    nodes: dict[Hashable, _NodeOps] = field(default_factory=dict)
    intervals: list[FaultInterval] = field(default_factory=list)
    open_iv: list[FaultInterval] = field(default_factory=list)  # faults never healed
    last_reads: dict[tuple[Hashable, Hashable], tuple[int, Op]] = field(default_factory=dict)  # (what, node) ->
    #                                                                               (invoke pos, ok completion)
    last_write_pos: int = -1
    indefinite_write: int | None = None
    n_ok: int = 0
    n_refused: int = 0


def _during_faults(sc: _Scan) -> tuple[list[dict[str, object]], int, int]:
    """Availability in each fault interval, and (completions, ok ones) in the union of the intervals."""
    comp_pos, comp_ok = sc.comp_pos, sc.comp_ok

    def between(start: int, end: int) -> tuple[int, int]:
        """(completions, ok completions) at positions in [start, end]."""
        lo = bisect.bisect_left(comp_pos, start)
        hi = bisect.bisect_right(comp_pos, end)
        return hi - lo, (comp_ok[hi - 1] if hi else 0) - (comp_ok[lo - 1] if lo else 0)

    per_interval: list[dict[str, object]] = []
    union: list[list[int]] = []  # merged [start, end] of all fault intervals
    for iv in sorted(sc.intervals, key=lambda iv: iv.start_pos):
        end = iv.end_pos if iv.end_pos is not None else 1 << 62
        n, k = between(iv.start_pos, end)
        per_interval.append({**iv.to_json(), "count": n, "ok": k, "availability": k / n if n else None})
        if union and iv.start_pos <= union[-1][1]:
            union[-1][1] = max(union[-1][1], end)
        else:
            union.append([iv.start_pos, end])
    in_n = in_k = 0
    for start, end in union:
        n, k = between(start, end)
        in_n += n
        in_k += k
    return per_interval, in_n, in_k


@dataclass(frozen=True)
class AvailabilityChecker:
    """Availability per window and fault interval, recovery per node after heals, convergence of final reads."""

    window_s: float = 1.0
    start_fs: frozenset[str] = START_FS
    stop_fs: frozenset[str] = STOP_FS
    read_fs: frozenset[str] = READ_FS
    max_recovery_s: float | None = None
    min_availability: float = 0.0
    require_recovery: bool = True
    converge: bool = True
    max_findings: int = 10
    name: str = "availability"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        start_fs, stop_fs, fams = set(self.start_fs), set(self.stop_fs), {}
        for p in getattr(test, "packages", None) or ():
            start_fs |= p.start_fs
            stop_fs |= p.stop_fs
            fams.update({f: f"package {p.name}" for f in (*p.start_fs, *p.stop_fs)})
        return _Run(self, frozenset(start_fs), frozenset(stop_fs - start_fs), fams).check(history)


@dataclass
class _Run:
    """One check: the checker's settings with the fault fs resolved for this test."""

    c: AvailabilityChecker
    start_fs: frozenset[str]
    stop_fs: frozenset[str]
    families: dict[str, str]

    def check(self, history: History) -> Verdict:
        findings = Findings(self.c.max_findings)
        sc = self._scan(history, findings)
        n_ok, n_refused, total = sc.n_ok, sc.n_refused, len(sc.comp_pos)
        availability = (n_ok + n_refused) / total if total else None  # answered: ok, or a definite no
        if availability is not None and availability < self.c.min_availability:
            findings.add(Finding(
                kind="low-availability",
                failure_class=FailureClass.SLOW_RECOVERY,
                diagnosis=(f"slow or no recovery: the system answered only {availability:.1%} of {total} client "
                           f"ops (minimum {self.c.min_availability:.1%})"),
            ))
        for iv in sc.open_iv:
            if self.c.require_recovery:
                findings.add(incomplete("never-healed", f"incomplete check: fault {iv.f} (op #{iv.start_index}) "
                                        "was never healed, so recovery cannot be measured", (iv.start_index,)))
        node_lists = {n: (sorted(no.ok), sorted(no.invoked)) for n, no in sc.nodes.items()}
        recoveries = self._recoveries(sc.intervals, node_lists, findings)
        per_interval, in_n, in_k = _during_faults(sc)
        out_n, out_k = total - in_n, n_ok - in_k
        window_ns, windows = sc.window_ns, sc.windows
        last_reads, last_write_pos, indefinite_write = sc.last_reads, sc.last_write_pos, sc.indefinite_write
        convergence = self._convergence(last_reads, last_write_pos, indefinite_write, findings) \
            if self.c.converge else None
        details = {
            "count": total,
            "ok": n_ok,
            "refused": n_refused,
            "unanswered": total - n_ok - n_refused,
            "availability": availability,
            "window_s": self.c.window_s,
            "windows": [{"start_s": w * window_ns / 1e9, "ok": v[0], "count": v[1], "availability": v[0] / v[1]}
                        for w, v in sorted(windows.items())],
            "intervals": per_interval,
            "during_faults": {"count": in_n, "ok": in_k, "availability": in_k / in_n if in_n else None},
            "outside_faults": {"count": out_n, "ok": out_k, "availability": out_k / out_n if out_n else None},
            "recovery": recoveries,
            "convergence": convergence,
        }
        summary = "available" if availability is None else (
            f"{availability:.1%} of client ops answered ({n_ok} ok, {n_refused} refused, "
            f"{total - n_ok - n_refused} unanswered)")
        return verdict(self.c.name, findings, details, ok_summary=summary)


    def _scan(self, history: History, findings: Findings) -> _Scan:
        """One pass in history order: completions per window and per node, fault intervals (nemesis ops),
        the last ok read of each (what, node), and the last and first indefinite write."""
        sc = _Scan(window_ns=max(1, int(self.c.window_s * 1e9)))
        pending: dict[Process, tuple[int, Op]] = {}
        started: dict[Process, FaultInterval] = {}
        for pos, op in enumerate(history.ops):
            if not isinstance(op.process, int):
                self._nemesis(pos, op, sc.intervals, sc.open_iv, started, findings)
                continue
            if op.type == "invoke":
                pending[op.process] = (pos, op)
                continue
            inv = pending.pop(op.process, None)
            ok = op.type == "ok"
            sc.n_ok += ok
            sc.n_refused += is_refusal(op)
            sc.comp_pos.append(pos)
            sc.comp_ok.append(sc.n_ok)
            w = sc.windows.get(op.time_ns // sc.window_ns)
            if w is None:
                w = sc.windows[op.time_ns // sc.window_ns] = [0, 0]
            w[0] += ok
            w[1] += 1
            node = op.node if op.node is not None else (inv[1].node if inv else None)
            no = sc.nodes.get(node)
            if no is None:
                no = sc.nodes[node] = _NodeOps([], [])
            ipos = inv[0] if inv else pos
            no.invoked.append((ipos, op.time_ns))
            if ok:
                no.ok.append((ipos, op.time_ns))
            if op.f in self.c.read_fs:
                if ok and inv is not None:
                    sc.last_reads[(freeze(inv[1].value), node)] = (ipos, op)
            else:
                sc.last_write_pos = pos
                if op.type == "info" and sc.indefinite_write is None:
                    sc.indefinite_write = op.index
        for _pos, op in pending.values():  # never completed: indefinite
            if isinstance(op.process, int) and op.f not in self.c.read_fs and sc.indefinite_write is None:
                sc.indefinite_write = op.index
        return sc

    def _nemesis(self, pos: int, op: Op, intervals: list[FaultInterval], open_iv: list[FaultInterval],
                 started: dict[Process, FaultInterval], findings: Findings) -> None:
        """Open an interval at a start op's invocation (or at a bare completion), close intervals of the same
        family at a stop op's completion. `started` holds the interval each nemesis process is starting."""
        f = op.f
        if f in self.start_fs:
            if op.type == "invoke":
                iv = FaultInterval(f=f, start_pos=pos, start_index=op.index, start_ns=op.time_ns)
                intervals.append(iv)
                open_iv.append(iv)
                started[op.process] = iv
                return
            got = started.pop(op.process, None)
            if got is not None and got.f == f:
                iv = got
            else:
                iv = FaultInterval(f=f, start_pos=pos, start_index=op.index, start_ns=op.time_ns)
                intervals.append(iv)
                open_iv.append(iv)
            if op.error is not None or op.type == "fail":
                intervals.remove(iv)
                open_iv.remove(iv)
                findings.add(incomplete("fault-not-injected", f"incomplete check: fault {f} (op #{op.index}) "
                                        f"was not injected ({show(op.error)}); the run did not test it",
                                        (op.index,)))
        elif f in self.stop_fs:
            if op.type == "invoke":
                return  # the fault is healed for sure only once the stop op completes
            if op.error is not None or op.type == "fail":
                findings.add(incomplete("heal-failed", f"incomplete check: heal {f} (op #{op.index}) failed "
                                        f"({show(op.error)})", (op.index,)))
                return
            fam = family(f, self.families)
            closing = [iv for iv in open_iv if family(iv.f, self.families) == fam] or list(open_iv)
            for iv in closing:
                iv.end_pos, iv.end_index, iv.end_ns, iv.stop_f = pos, op.index, op.time_ns, f
                open_iv.remove(iv)

    def _recoveries(self, intervals: list[FaultInterval],
                    node_lists: dict[Hashable, tuple[list[tuple[int, int]], list[tuple[int, int]]]],
                    findings: Findings) -> list[dict[str, Any]]:
        out = []
        healed = [iv for iv in intervals if iv.end_pos is not None]
        last_end = max((iv.end_pos for iv in healed if iv.end_pos is not None), default=None)
        for iv in healed:
            assert iv.end_pos is not None and iv.end_ns is not None
            per_node: dict[str, float | None] = {}
            not_measured: list[str] = []  # asked after the last heal, but watched too briefly to judge
            for node, (oks, invoked) in sorted(node_lists.items(), key=lambda kv: repr(kv[0])):
                label = "(no node)" if node is None else str(node)
                i = bisect.bisect_right(oks, (iv.end_pos, 1 << 62))
                # earliest completion among the next 64 ok ops invoked after the heal (ops invoked later
                # practically never complete earlier; scanning them all would be quadratic)
                first_ok = min((t for _p, t in oks[i:i + 64]), default=None)
                after = invoked[bisect.bisect_right(invoked, (iv.end_pos, 1 << 62)):]
                asked = len(after)
                watched_s = (max(t for _p, t in after) - iv.end_ns) / 1e9 if after else 0.0
                if first_ok is None:
                    per_node[label] = None
                    if iv.end_pos == last_end and asked and watched_s < RECOVERY_WATCH_S:
                        not_measured.append(label)
                    elif iv.end_pos == last_end and asked and self.c.require_recovery:
                        findings.note("no-recovery", lambda label=label, asked=asked, iv=iv: Finding(
                            kind="no-recovery",
                            failure_class=FailureClass.SLOW_RECOVERY,
                            diagnosis=(f"slow or no recovery: node {label} answered none of the {asked} ops "
                                       f"invoked after the last heal ({iv.stop_f}, op #{iv.end_index})"),
                            ops=(iv.end_index,) if iv.end_index is not None else (),
                            scope=f"node {label}",
                        ))
                    continue
                secs = max(0, first_ok - iv.end_ns) / 1e9
                per_node[label] = secs
                if self.c.max_recovery_s is not None and secs > self.c.max_recovery_s:
                    findings.note("slow-recovery", lambda label=label, secs=secs, iv=iv: Finding(
                        kind="slow-recovery",
                        failure_class=FailureClass.SLOW_RECOVERY,
                        diagnosis=(f"slow or no recovery: node {label} first answered ok {secs:.2f} s after "
                                   f"{iv.stop_f} (op #{iv.end_index}); the limit is {self.c.max_recovery_s} s"),
                        ops=(iv.end_index,) if iv.end_index is not None else (),
                        scope=f"node {label}",
                    ))
            out.append({"fault": iv.f, "healed_by": iv.end_index, "recovery_s": per_node,
                        "not_measured": not_measured})
        return out

    def _convergence(self, last_reads: dict[tuple[Hashable, Hashable], tuple[int, Op]], last_write_pos: int,
                     indefinite_write: int | None, findings: Findings) -> dict[str, object]:
        groups: dict[Hashable, dict[Hashable, tuple[int, Op]]] = {}
        for (what, node), r in last_reads.items():
            groups.setdefault(what, {})[node] = r
        judged = diverged = 0
        for what, by_node in groups.items():
            if len(by_node) < 2:
                continue
            first_inv = min(p for p, _ in by_node.values())
            if last_write_pos > first_inv:
                continue  # writes overlap the final reads: they may differ legitimately
            judged += 1
            values = {freeze(op.value) for _, op in by_node.values()}
            if len(values) <= 1:
                continue
            diverged += 1
            reads = sorted(by_node.items(), key=lambda kv: repr(kv[0]))
            text = "; ".join(f"{n}: {show(op.value)} (op #{op.index})" for n, (_, op) in reads[:4])
            kind = "diverged-maybe" if indefinite_write is not None else "diverged"
            findings.note(kind, lambda text=text, reads=reads, kind=kind, what=what: (
                incomplete(kind, f"incomplete check: final reads differ across nodes ({text}), but write op "
                           f"#{indefinite_write} is indefinite and may still apply",
                           tuple(op.index for _, (_, op) in reads))
                if kind == "diverged-maybe" else Finding(
                    kind=kind,
                    failure_class=FailureClass.SLOW_RECOVERY,
                    diagnosis=f"replicas diverge: final reads differ across nodes after all writes ended ({text})",
                    ops=tuple(op.index for _, (_, op) in reads),
                    scope="read " + show(what) if what is not None else "global",
                )))
        return {"groups_judged": judged, "diverged": diverged}


def _opt_float(text: str) -> float | None:
    return None if text.strip() in ("", "none") else float(text)


def _make(o: Mapping[str, Any]) -> AvailabilityChecker:
    return AvailabilityChecker(window_s=o["window_s"], start_fs=o["start_fs"], stop_fs=o["stop_fs"],
                               read_fs=o["read_fs"], max_recovery_s=o["max_recovery_s"],
                               min_availability=o["min_availability"], require_recovery=o["require_recovery"],
                               converge=o["converge"], max_findings=o["max_findings"])


PLUGIN = CheckerPlugin(
    name="availability",
    option_specs=(
        OptionSpec(name="window_s", default=1.0, help="width of availability windows, seconds", parse=float),
        OptionSpec(name="start_fs", default=START_FS, help="comma-separated nemesis fs that start a fault",
                   parse=parse_f_set),
        OptionSpec(name="stop_fs", default=STOP_FS, help="comma-separated nemesis fs that heal a fault",
                   parse=parse_f_set),
        OptionSpec(name="read_fs", default=READ_FS, help="comma-separated client fs whose final values must "
                   "converge across nodes", parse=parse_f_set),
        OptionSpec(name="max_recovery_s", default=None, help="longest acceptable time from heal to first ok op "
                   "per node, seconds (default: no limit)", parse=_opt_float),
        OptionSpec(name="min_availability", default=0.0, help="lowest acceptable fraction of ok client ops",
                   parse=float),
        bool_spec("require_recovery", True, "after the last heal every node asked must answer ok at least once"),
        bool_spec("converge", True, "final reads of the same thing must agree across nodes"),
        max_findings_spec(),
    ),
    build=_make,
    help="availability per window and fault, recovery after heals per node, convergence of final reads",
)
