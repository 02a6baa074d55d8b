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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History

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


@dataclass(frozen=True)
class TotalQueueChecker:
    """Lost, duplicated and unexpected elements of a queue that is drained at the end."""

    assume_drained: bool = False
    max_findings: int = 10
    name: str = "total-queue"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        attempted: Counter[Hashable] = Counter()
        failed: Counter[Hashable] = Counter()
        enqueued: Counter[Hashable] = Counter()
        dequeued: Counter[Hashable] = Counter()
        where_enq: dict[Hashable, int] = {}
        where_deq: dict[Hashable, list[int]] = {}
        drained = False
        drain_began = -1  # position of the invocation of the last ok drain
        enq_ok_at: dict[Hashable, list[int]] = {}  # positions of ok enqueues
        take_began: dict[Any, int] = {}  # process -> position of its pending drain invocation
        indefinite_dequeues = 0
        indefinite_drain = False
        pending: dict[Any, Any] = {}  # process -> enqueued value, or _TAKE for a dequeue or drain
        for pos, op in enumerate(history.ops):
            f = op.f
            if f == "enqueue":
                if op.type == "invoke":
                    pending[op.process] = op.value
                    continue
                v = freeze(pending.pop(op.process, op.value))
                attempted[v] += 1
                where_enq.setdefault(v, op.index)
                if op.type == "ok":
                    enqueued[v] += 1
                    enq_ok_at.setdefault(v, []).append(pos)
                elif op.type == "fail":
                    failed[v] += 1
            elif op.type == "invoke":
                if f == "dequeue" or f == "drain":
                    pending[op.process] = _TAKE
                    take_began[op.process] = pos
                continue
            elif f == "dequeue":
                pending.pop(op.process, None)
                if op.type == "info":
                    indefinite_dequeues += 1
                if op.type == "ok" and op.value is not None:
                    v = freeze(op.value)
                    dequeued[v] += 1
                    where_deq.setdefault(v, []).append(op.index)
            elif f == "drain" and op.type != "ok":
                pending.pop(op.process, None)
                indefinite_drain = indefinite_drain or op.type == "info"
            elif f == "drain":
                pending.pop(op.process, None)
                drain_began = max(drain_began, take_began.get(op.process, pos))
                if not isinstance(op.value, list | tuple):
                    raise bad_value(op, "a drain must return the list of elements it took")
                drained = True
                for x in op.value:
                    v = freeze(x)
                    dequeued[v] += 1
                    where_deq.setdefault(v, []).append(op.index)
        for v in list(pending.values()):  # invoked, never completed: indefinite
            if v is _TAKE:
                indefinite_dequeues += 1
            else:
                attempted[freeze(v)] += 1
        possible = attempted - failed  # enqueues that may have happened
        findings = Findings(self.max_findings)
        # Only enqueues acknowledged before the last drain began must be gone by its end; later ones may still
        # be queued. With assume_drained and no drain, every one is judged.
        judge_lost = drained or self.assume_drained
        horizon = drain_began if drained else 1 << 62
        owed = {v: sum(1 for p in ps if p < horizon) for v, ps in enq_ok_at.items()}
        missing = [v for v, n in enqueued.items() if dequeued[v] < n]
        lost = [v for v in missing if dequeued[v] < owed[v]] if judge_lost else []
        unexpected = [v for v in dequeued if v not in possible]
        duplicated = [v for v, n in dequeued.items() if v in possible and n > possible[v]]
        recovered = [v for v in dequeued if v in possible and enqueued[v] < min(dequeued[v], possible[v])]
        n_lost = sum(owed[v] - dequeued[v] for v in lost)
        if missing and not judge_lost:
            findings.add(incomplete("not-drained", f"incomplete check: {len(missing)} acknowledged elements were "
                                    "never dequeued, and without a final drain they may still be queued"))
        elif lost and (indefinite_drain or n_lost <= indefinite_dequeues):
            takers = "a drain" if indefinite_drain else f"{indefinite_dequeues} dequeues"
            findings.add(incomplete("maybe-lost", f"incomplete check: {n_lost} acknowledged elements were never "
                                    f"dequeued, but {takers} ended indefinite and may have taken them"))
            lost = []
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
                           if v in attempted else
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
        details = {
            "attempt_count": sum(attempted.values()),
            "acknowledged_count": sum(enqueued.values()),
            "dequeued_count": sum(dequeued.values()),
            "drained": drained,
            "not_dequeued_count": len(missing),
            "lost_count": len(lost),
            "lost": range_string(lost),
            "unexpected_count": len(unexpected),
            "unexpected": range_string(unexpected),
            "duplicated_count": len(duplicated),
            "duplicated": range_string(duplicated),
            "recovered_count": len(recovered),
            "indefinite_dequeue_count": indefinite_dequeues,
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"all {sum(enqueued.values())} acknowledged enqueues dequeued once" if not missing
                       else f"{len(missing)} acknowledged enqueues not dequeued, all after the final drain began")


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
