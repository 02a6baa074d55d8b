"""Total-queue checker: every acknowledged enqueue is dequeued exactly once (Jepsen's `checker/total-queue`).

Owns `TotalQueueChecker` and its plugin. Does not own queue workloads or clients.

Op vocabulary (Jepsen's):
    {f: "enqueue", value: element}
    {f: "dequeue", value: element}       ok completion: the element taken (null or a fail: the queue was empty)
    {f: "drain",   value: [element...]}  ok completion: every element left, the queue is empty afterwards

Elements are compared as multisets. lost = acknowledged enqueues never dequeued; unexpected = dequeued
elements never enqueued (a failed enqueue did not happen, so dequeuing it is unexpected too); duplicated =
elements dequeued more often than enqueued; recovered = dequeued elements whose enqueue was indefinite.
Telling "lost" from "still in the queue" needs the queue to be empty at the end: a history with an ok drain
is judged; without one, missing elements make the verdict unknown, unless `assume_drained` (Jepsen's
assumption that the workload drained the queue). An indefinite dequeue (info, or never completed) may have
taken one element that nobody saw, and an indefinite drain any number: so lost elements are only invalid when
they outnumber the indefinite dequeues and no drain was indefinite; otherwise they make the verdict unknown.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Process

from ._common import (
    CheckerPlugin,
    Findings,
    FrozenChecker,
    bad_value,
    bool_spec,
    freeze,
    incomplete,
    keyed_spec,
    max_findings_spec,
    range_string,
    show,
    verdict,
)
from .independent import IndependentChecker

if TYPE_CHECKING:
    from harness.test import Test

_TAKE = object()  # marks a pending dequeue or drain


@dataclass
class _Scan:
    """What the history says of one queue: elements counted as multisets, where they were seen, and the
    dequeues and drains that ended indefinite."""

    attempted: Counter[Hashable] = field(default_factory=Counter)
    failed: Counter[Hashable] = field(default_factory=Counter)
    enqueued: Counter[Hashable] = field(default_factory=Counter)
    dequeued: Counter[Hashable] = field(default_factory=Counter)
    where_enq: dict[Hashable, int] = field(default_factory=dict)  # element -> index of its first enqueue
    where_deq: dict[Hashable, list[int]] = field(default_factory=dict)  # element -> indices of the takes
    drained: bool = False
    drain_began: int = -1  # position of the invocation of the last ok drain
    enq_ok_at: dict[Hashable, list[int]] = field(default_factory=dict)  # positions of ok enqueues
    indefinite_dequeues: int = 0
    indefinite_drain: bool = False

    def took(self, x: object, index: int) -> None:
        v = freeze(x)
        self.dequeued[v] += 1
        self.where_deq.setdefault(v, []).append(index)


def _scan(history: History) -> _Scan:
    """One pass over the history, in history order."""
    sc = _Scan()
    take_began: dict[Process, int] = {}  # process -> position of its pending dequeue or drain invocation
    pending: dict[Process, object] = {}  # process -> enqueued value, or _TAKE for a dequeue or drain
    for pos, op in enumerate(history.ops):
        f = op.f
        if f == "enqueue":
            if op.type == "invoke":
                pending[op.process] = op.value
                continue
            v = freeze(pending.pop(op.process, op.value))
            sc.attempted[v] += 1
            sc.where_enq.setdefault(v, op.index)
            if op.type == "ok":
                sc.enqueued[v] += 1
                sc.enq_ok_at.setdefault(v, []).append(pos)
            elif op.type == "fail":
                sc.failed[v] += 1
        elif op.type == "invoke":
            if f == "dequeue" or f == "drain":
                pending[op.process] = _TAKE
                take_began[op.process] = pos
            continue
        elif f == "dequeue":
            pending.pop(op.process, None)
            if op.type == "info":
                sc.indefinite_dequeues += 1
            if op.type == "ok" and op.value is not None:
                sc.took(op.value, op.index)
        elif f == "drain" and op.type != "ok":
            pending.pop(op.process, None)
            sc.indefinite_drain = sc.indefinite_drain or op.type == "info"
        elif f == "drain":
            pending.pop(op.process, None)
            sc.drain_began = max(sc.drain_began, take_began.get(op.process, pos))
            if not isinstance(op.value, list | tuple):
                raise bad_value(op, "a drain must return the list of elements it took")
            sc.drained = True
            for x in op.value:
                sc.took(x, op.index)
    for v in list(pending.values()):  # invoked, never completed: indefinite
        if v is _TAKE:
            sc.indefinite_dequeues += 1
        else:
            sc.attempted[freeze(v)] += 1
    return sc


@dataclass(frozen=True)
class TotalQueueChecker:
    """Lost, duplicated and unexpected elements of a queue that is drained at the end."""

    assume_drained: bool = False
    max_findings: int = 10
    name: str = "total-queue"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        sc = _scan(history)
        dequeued, enqueued = sc.dequeued, sc.enqueued
        possible = sc.attempted - sc.failed  # enqueues that may have happened
        findings = Findings(self.max_findings)
        # Only enqueues acknowledged before the last drain began must be gone by its end; later ones may still
        # be queued. With assume_drained and no drain, every one is judged.
        judge_lost = sc.drained or self.assume_drained
        horizon = sc.drain_began if sc.drained else 1 << 62
        owed = {v: sum(1 for p in ps if p < horizon) for v, ps in sc.enq_ok_at.items()}
        missing = [v for v, n in enqueued.items() if dequeued[v] < n]
        lost = [v for v in missing if dequeued[v] < owed[v]] if judge_lost else []
        unexpected = [v for v in dequeued if v not in possible]
        duplicated = [v for v, n in dequeued.items() if v in possible and n > possible[v]]
        recovered = [v for v in dequeued if v in possible and enqueued[v] < min(dequeued[v], possible[v])]
        n_lost = sum(owed[v] - dequeued[v] for v in lost)
        if missing and not judge_lost:
            findings.add(incomplete("not-drained", f"incomplete check: {len(missing)} acknowledged elements were "
                                    "never dequeued, and without a final drain they may still be queued"))
        elif lost and (sc.indefinite_drain or n_lost <= sc.indefinite_dequeues):
            takers = "a drain" if sc.indefinite_drain else f"{sc.indefinite_dequeues} dequeues"
            findings.add(incomplete("maybe-lost", f"incomplete check: {n_lost} acknowledged elements were never "
                                    f"dequeued, but {takers} ended indefinite and may have taken them"))
            lost = []
        _explain(sc, lost, owed, unexpected, duplicated, possible, findings)
        details = {
            "attempt_count": sum(sc.attempted.values()),
            "acknowledged_count": sum(enqueued.values()),
            "dequeued_count": sum(dequeued.values()),
            "drained": sc.drained,
            "not_dequeued_count": len(missing),
            "lost_count": len(lost),
            "lost": range_string(lost),
            "unexpected_count": len(unexpected),
            "unexpected": range_string(unexpected),
            "duplicated_count": len(duplicated),
            "duplicated": range_string(duplicated),
            "recovered_count": len(recovered),
            "indefinite_dequeue_count": sc.indefinite_dequeues,
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"all {sum(enqueued.values())} acknowledged enqueues dequeued once" if not missing
                       else f"{len(missing)} acknowledged enqueues not dequeued, all after the final drain began")


def _explain(sc: _Scan, lost: list[Hashable], owed: dict[Hashable, int], unexpected: list[Hashable],
             duplicated: list[Hashable], possible: Counter[Hashable], findings: Findings) -> None:
    """A finding per lost, unexpected and duplicated element."""
    dequeued, where_enq, where_deq = sc.dequeued, sc.where_enq, sc.where_deq
    for v in lost:
        findings.note("lost", lambda v=v: Finding(
            kind="lost",
            failure_class=FailureClass.LOST_WRITE,
            diagnosis=(f"lost acknowledged write: enqueue {show(v)} was ok (op #{where_enq[v]}) but it was "
                       f"dequeued {dequeued[v]} of {owed[v]} times"
                       if dequeued[v] else
                       f"lost acknowledged write: enqueue {show(v)} was ok (op #{where_enq[v]}) but no "
                       "dequeue or drain returned it"),
            ops=(where_enq[v],),
        ))
    for v in unexpected:
        findings.note("unexpected", lambda v=v: Finding(
            kind="unexpected",
            failure_class=FailureClass.UNEXPECTED_VALUE,
            diagnosis=(f"unexpected value: {show(v)} was dequeued (op #{where_deq[v][0]}) but its enqueue failed"
                       if v in sc.attempted else
                       f"unexpected value: {show(v)} was dequeued (op #{where_deq[v][0]}) but never enqueued"),
            ops=tuple(where_deq[v][:10]),
        ))
    for v in duplicated:
        findings.note("duplicated", lambda v=v: Finding(
            kind="duplicated",
            failure_class=FailureClass.DUPLICATE_EFFECT,
            diagnosis=(f"duplicate effect: {show(v)} was dequeued {dequeued[v]} times "
                       f"(ops {', '.join('#' + str(i) for i in where_deq[v][:6])}) but enqueued "
                       f"at most {possible[v]} time{'s' if possible[v] != 1 else ''}"),
            ops=tuple(where_deq[v][:10]),
        ))


def _make(o: Mapping[str, Any]) -> FrozenChecker:
    c = TotalQueueChecker(assume_drained=o["assume_drained"], max_findings=o["max_findings"])
    return IndependentChecker(c) if o["keyed"] else c


PLUGIN = CheckerPlugin(
    name="total-queue",
    option_specs=(
        bool_spec("assume_drained", False, "judge lost elements even without an ok drain (Jepsen's assumption)"),
        keyed_spec(),
        max_findings_spec(),
    ),
    build=_make,
    help="every acknowledged enqueue dequeued exactly once (Jepsen's total-queue)",
)
