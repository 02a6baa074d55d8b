"""Idempotency checker: a request carrying an idempotency key takes effect at most once however often it is
retried, retries return the same result, and acknowledged requests are not lost.

Owns `IdempotencyChecker` and its plugin. Does not own workloads or clients.

Op vocabulary:
    {f: "request", value: {"key": idempotency key, ...payload}}   ok completion may carry {"result": r, ...}
    {f: "read",    value: effects}                                 ok completion: the effects applied so far,
        either a list with one idempotency key per applied effect (e.g. the request ids of ledger rows),
        or a map {idempotency key: number of times applied}.

Retries reuse the key (a client retrying after an `info` sends the same key again). Judged:
    duplicate   a key applied more than once in any read              (duplicate side effect)
    lost        a key with an ok request, absent from the final read   (lost acknowledged write)
                that began after the request was acknowledged
    result      two ok completions of one key returned different results ("result" field of the ok value)
    unexpected  a key in a read that no request carried, or whose requests all failed
The final read is the last ok read. No ok read: unknown (unless another anomaly already makes it invalid).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op, Process

from ._common import ATOMS, CheckerPlugin, Findings, bad_value, freeze, incomplete, max_findings_spec, show, verdict

if TYPE_CHECKING:
    from harness.test import Test

_NO_RESULT = object()


def _request_key(op: Op) -> Hashable:
    v = op.value
    if (type(v) is dict or isinstance(v, Mapping)) and "key" in v:
        k = v["key"]
        return k if type(k) in ATOMS else freeze(k)
    raise bad_value(op, 'a request must carry {"key": idempotency key, ...}')


def _effects(op: Op) -> tuple[set[Hashable], dict[Hashable, int]]:
    """The keys a read shows applied, and those applied more than once with their counts."""
    v = op.value
    if isinstance(v, Mapping):
        applied: set[Hashable] = set()
        many: dict[Hashable, int] = {}
        for k, n in v.items():
            if not isinstance(n, int) or isinstance(n, bool):
                raise bad_value(op, "an effects map must count applications with integers")
            if n > 0:
                applied.add(freeze(k))
            if n > 1:
                many[freeze(k)] = n
        return applied, many
    if isinstance(v, list | tuple):
        try:
            applied = set(v)  # fast path: scalar keys need no freezing
        except TypeError:
            applied = {freeze(x) for x in v}
        if len(applied) == len(v):
            return applied, {}
        counts = Counter(freeze(x) for x in v)
        return applied, {k: n for k, n in counts.items() if n > 1}
    raise bad_value(op, "a read must return the list of applied keys or a map key -> count")


@dataclass(slots=True)
class _Req:
    first: int  # index of the first invocation
    acked: int | None = None  # index of the first ok completion
    acked_pos: int = -1
    result: object = _NO_RESULT  # the first ok result, or _NO_RESULT
    result_op: int = -1
    attempts: int = 0
    fails: int = 0

    @property
    def all_failed(self) -> bool:
        """Every attempt definitely did not happen."""
        return self.acked is None and self.fails >= self.attempts


@dataclass(frozen=True)
class IdempotencyChecker:
    """Requests with an idempotency key apply at most once, return one result, and are not lost."""

    request_f: str = "request"
    read_f: str = "read"
    max_findings: int = 10
    name: str = "idempotency"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        findings = Findings(self.max_findings)
        reqs, reads = _scan(history, self.request_f, self.read_f, findings)
        possible = {k for k, r in reqs.items() if not r.all_failed}  # keys that may have been applied
        duplicated, unexpected, final_applied = _judge_reads(reads, possible)
        _explain_effects(reqs, duplicated, unexpected, findings)
        lost = 0
        if reads:
            lost = _judge_lost(reqs, reads[-1], final_applied, findings)
        elif reqs:
            findings.add(incomplete("never-read", "incomplete check: the effects were never read"))
        details = {
            "request_keys": len(reqs),
            "attempt_count": sum(r.attempts for r in reqs.values()),
            "acknowledged_count": sum(1 for r in reqs.values() if r.acked is not None),
            "retried_count": sum(1 for r in reqs.values() if r.attempts > 1),
            "read_count": len(reads),
            "duplicate_count": len(duplicated),
            "lost_count": lost,
            "unexpected_count": len(unexpected),
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"{len(reqs)} requests applied at most once, none lost")


def _scan(history: History, request_f: str, read_f: str,
          findings: Findings) -> tuple[dict[Hashable, _Req], list[tuple[int, Op]]]:
    """Requests by idempotency key, and ok reads as (invoke position, completion), in history order; two ok
    completions of one key with different results are noted as they are met."""
    reqs: dict[Hashable, _Req] = {}
    reads: list[tuple[int, Op]] = []
    pending_key: dict[Process, tuple[int, Op, Hashable]] = {}  # process -> (position, invocation, key or None)
    for pos, op in enumerate(history.ops):
        f = op.f
        if f != request_f and f != read_f:
            continue
        t = op.type
        if t == "invoke":
            if f == request_f:
                k = _request_key(op)
                r = reqs.get(k)
                if r is None:
                    r = reqs[k] = _Req(first=op.index)
                r.attempts += 1
                pending_key[op.process] = (pos, op, k)
            else:
                pending_key[op.process] = (pos, op, None)
            continue
        inv = pending_key.pop(op.process, None)
        if f == read_f:
            if t == "ok" and inv is not None:
                reads.append((inv[0], op))
            continue
        k = inv[2] if inv is not None and inv[2] is not None else _request_key(op)
        r = reqs.get(k)
        if r is None:
            r = reqs[k] = _Req(first=op.index, attempts=1)
        if t == "fail":
            r.fails += 1
        elif t == "ok":
            _acknowledged(k, r, op, pos, findings)
    return reqs, reads


def _acknowledged(k: Hashable, r: _Req, op: Op, pos: int, findings: Findings) -> None:
    """An ok completion of request `k`: its first acknowledgement, and its result against earlier ones."""
    if r.acked is None:
        r.acked, r.acked_pos = op.index, pos
    v = op.value
    res = v.get("result", _NO_RESULT) if type(v) is dict or isinstance(v, Mapping) else _NO_RESULT
    if res is _NO_RESULT:
        return
    if r.result is _NO_RESULT:
        r.result, r.result_op = res, op.index
    elif freeze(res) != freeze(r.result):
        findings.note("result-differs", lambda k=k, r=r, res=res, op=op: Finding(
            kind="result-differs",
            failure_class=FailureClass.DUPLICATE_EFFECT,
            diagnosis=(f"duplicate effect: request {show(k)} returned {show(r.result)} "
                       f"(op #{r.result_op}) and then {show(res)} (op #{op.index}) on retry"),
            ops=(r.result_op, op.index),
            scope=f"request {show(k)}",
        ))


def _judge_reads(reads: list[tuple[int, Op]], possible: set[Hashable]) -> tuple[
        dict[Hashable, tuple[int, int]], dict[Hashable, int], set[Hashable]]:
    """Keys applied more than once (count, first read showing it), keys no request may have applied (first read
    showing it), and the keys the final read shows."""
    duplicated: dict[Hashable, tuple[int, int]] = {}
    unexpected: dict[Hashable, int] = {}
    final_applied: set[Hashable] = set()
    for _ipos, rd in reads:
        final_applied, many = _effects(rd)
        for k, n in many.items():
            if k not in duplicated:
                duplicated[k] = (n, rd.index)
        for k in final_applied - possible:
            if k not in unexpected:
                unexpected[k] = rd.index
    return duplicated, unexpected, final_applied


def _explain_effects(reqs: dict[Hashable, _Req], duplicated: dict[Hashable, tuple[int, int]],
                     unexpected: dict[Hashable, int], findings: Findings) -> None:
    for k, (n, idx) in duplicated.items():
        findings.note("duplicate", lambda k=k, n=n, idx=idx: Finding(
            kind="duplicate",
            failure_class=FailureClass.DUPLICATE_EFFECT,
            diagnosis=(f"duplicate effect: request {show(k)} applied {_times(n)} (read op #{idx}; "
                       f"{reqs[k].attempts if k in reqs else 0} attempts)"),
            ops=((reqs[k].first,) if k in reqs else ()) + (idx,),
            scope=f"request {show(k)}",
        ))
    for k, idx in unexpected.items():
        findings.note("unexpected", lambda k=k, idx=idx: Finding(
            kind="unexpected",
            failure_class=FailureClass.UNEXPECTED_VALUE,
            diagnosis=(f"unexpected value: request {show(k)} failed every time but read op #{idx} shows its "
                       "effect" if k in reqs else
                       f"unexpected value: read op #{idx} shows an effect of {show(k)}, which no request "
                       "carried"),
            ops=((reqs[k].first,) if k in reqs else ()) + (idx,),
        ))


def _judge_lost(reqs: dict[Hashable, _Req], final_read: tuple[int, Op], final_applied: set[Hashable],
                findings: Findings) -> int:
    """Requests acknowledged before the final read began that it shows no effect of; returns how many."""
    final_inv, final = final_read
    lost = 0
    for k, r in reqs.items():
        if r.acked is not None and r.acked_pos < final_inv and k not in final_applied:
            lost += 1
            findings.note("lost", lambda k=k, r=r: Finding(
                kind="lost",
                failure_class=FailureClass.LOST_WRITE,
                diagnosis=(f"lost acknowledged write: request {show(k)} was ok (op #{r.acked}) but the "
                           f"final read (op #{final.index}) has no effect for it"),
                ops=(r.acked, final.index),
                scope=f"request {show(k)}",
            ))
    return lost


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _make(o: Mapping[str, Any]) -> IdempotencyChecker:
    return IdempotencyChecker(max_findings=o["max_findings"])


PLUGIN = CheckerPlugin(
    name="idempotency",
    option_specs=(max_findings_spec(),),
    build=_make,
    help="requests with an idempotency key apply at most once, return one result, are not lost",
)
