"""Set checkers: `set` (one final read, as Jepsen's `checker/set`) and `set-full` (every read, as Jepsen's
`checker/set-full`: lost, stale, never-read and unexpected elements, with latency to stability).

Owns `SetChecker`, `SetFullChecker` and their plugins. Does not own set workloads or clients.

Op vocabulary (Jepsen's):
    {f: "add",  value: element}             element: any JSON value (lists are compared as tuples)
    {f: "read", value: [element, ...]}      the ok completion carries the whole set (list, or set)

`fail` means the add definitely did not happen; `info` (or no completion) means it may have happened. Only ok
reads are judged. Real-time order is history order: an op "began after" another completed when its invocation
stands after that completion in the history.

set: the final read is the last ok read. lost = adds acknowledged before the final read began that it lacks;
unexpected = elements no add attempted; a failed add that is present is unexpected too; recovered = present
elements whose add was indefinite. No ok read at all: unknown.

set-full: an element is *known* from the completion of its ok add or of the first read that shows it. A read
that began after the element was known must contain it. Per element: lost if the last read that began after
it was known lacks it; stale if some read that began after it was known lacked it but later reads all have it
(only invalid with linearizable=true); stable otherwise; never-read if no read began after it was known.
Duplicates inside one read are invalid. Latency to stability is the time from known to the beginning of the
last read that still lacked it (0 when none did).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op

from ._common import (
    CheckerPlugin,
    Findings,
    bad_value,
    bool_spec,
    freeze,
    incomplete,
    jsonable,
    max_findings_spec,
    range_string,
    show,
    verdict,
)


def _read_elements(op: Op) -> list[Hashable]:
    v = op.value
    if isinstance(v, list | tuple | set | frozenset):
        return [freeze(x) for x in v]
    raise bad_value(op, "a set read must return a list or set of elements")


@dataclass(frozen=True)
class _Adds:
    attempted: dict[Hashable, int]  # element -> index of first add invoke
    ok: dict[Hashable, tuple[int, int, int]]  # element -> (position, index, time_ns) of first ok add
    outcome: dict[Hashable, str]  # element -> best outcome: "ok" > "info" > "fail"


_RANK = {"fail": 0, "info": 1, "ok": 2}


def _scan(history: History, add_f: str, read_f: str) -> tuple[_Adds, list[tuple[int, Op, Op, int]]]:
    """Adds by element, and ok reads as (invoke position, invoke, completion, completion position), in
    completion order."""
    attempted: dict[Hashable, int] = {}
    ok: dict[Hashable, tuple[int, int, int]] = {}
    outcome: dict[Hashable, str] = {}
    reads: list[tuple[int, Op, Op, int]] = []
    pending: dict[Any, tuple[int, Op]] = {}
    for pos, op in enumerate(history.ops):
        f = op.f
        if f != add_f and f != read_f:
            continue
        if op.type == "invoke":
            pending[op.process] = (pos, op)
            if f == add_f:
                attempted.setdefault(freeze(op.value), op.index)
            continue
        inv = pending.pop(op.process, None)
        if f == add_f:
            e = freeze(inv[1].value if inv is not None else op.value)
            attempted.setdefault(e, inv[1].index if inv is not None else op.index)
            t = op.type
            prev = outcome.get(e)
            if prev is None or _RANK[t] > _RANK[prev]:
                outcome[e] = t
            if t == "ok" and e not in ok:
                ok[e] = (pos, op.index, op.time_ns)
        elif op.type == "ok":
            if inv is None:
                raise bad_value(op, "a read completion needs its invocation on the same process")
            reads.append((inv[0], inv[1], op, pos))
    for e in attempted:
        outcome.setdefault(e, "info")  # invoked, never completed: indefinite
    return _Adds(attempted, ok, outcome), reads


@dataclass(frozen=True)
class SetChecker:
    """Jepsen's set checker: one final read against every add."""

    add_f: str = "add"
    read_f: str = "read"
    max_findings: int = 10
    name: str = "set"

    def check(self, test: Any, history: History, out_dir: Any) -> Verdict:
        adds, reads = _scan(history, self.add_f, self.read_f)
        findings = Findings(self.max_findings)
        if not reads:
            findings.add(incomplete("never-read", "incomplete check: the set was never read, nothing to judge"))
            return verdict(self.name, findings, {"attempt_count": len(adds.attempted)})
        inv_pos, _, final, _ = reads[-1]
        final_set = set(_read_elements(final))
        lost = []
        unchecked = 0
        for e, (pos, idx, _t) in adds.ok.items():
            if e in final_set:
                continue
            if pos < inv_pos:
                lost.append(e)
                findings.note("lost", lambda e=e, idx=idx: Finding(
                    kind="lost",
                    failure_class=FailureClass.LOST_WRITE,
                    diagnosis=(f"lost acknowledged write: add {show(e)} was ok (op #{idx}) but the final read "
                               f"(op #{final.index}) does not contain it"),
                    ops=(idx, final.index),
                ))
            else:
                unchecked += 1
        unexpected = []
        recovered = []
        for e in final_set:
            o = adds.outcome.get(e)
            if o is None:
                unexpected.append(e)
                findings.note("unexpected", lambda e=e: Finding(
                    kind="unexpected",
                    failure_class=FailureClass.UNEXPECTED_VALUE,
                    diagnosis=(f"unexpected value: the final read (op #{final.index}) contains {show(e)}, "
                               "which no add attempted"),
                    ops=(final.index,),
                ))
            elif o == "fail":
                unexpected.append(e)
                findings.note("failed-add-present", lambda e=e: Finding(
                    kind="failed-add-present",
                    failure_class=FailureClass.UNEXPECTED_VALUE,
                    diagnosis=(f"unexpected value: add {show(e)} failed (op #{adds.attempted[e]}) but the final "
                               f"read (op #{final.index}) contains it"),
                    ops=(adds.attempted[e], final.index),
                ))
            elif o == "info":
                recovered.append(e)
        details = {
            "attempt_count": len(adds.attempted),
            "acknowledged_count": len(adds.ok),
            "ok_count": len(final_set) - len(unexpected),
            "lost_count": len(lost),
            "lost": range_string(lost),
            "unexpected_count": len(unexpected),
            "unexpected": range_string(unexpected),
            "recovered_count": len(recovered),
            "unchecked_count": unchecked,
            "final_read": final.index,
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"all {len(adds.ok) - unchecked} acknowledged adds in the final read")


@dataclass(frozen=True)
class SetFullChecker:
    """Jepsen's set-full checker: every read judged against every element known to exist before it began."""

    linearizable: bool = False
    add_f: str = "add"
    read_f: str = "read"
    max_findings: int = 10
    name: str = "set-full"

    def check(self, test: Any, history: History, out_dir: Any) -> Verdict:
        adds, raw_reads = _scan(history, self.add_f, self.read_f)
        findings = Findings(self.max_findings)
        raw_reads.sort(key=lambda r: r[0])  # invocation order
        n_reads = len(raw_reads)
        inv_pos = [r[0] for r in raw_reads]
        known: dict[Hashable, int] = {e: p for e, (p, _i, _t) in adds.ok.items()}
        known_time: dict[Hashable, int] = {e: t for e, (_p, _i, t) in adds.ok.items()}
        known_op: dict[Hashable, int] = {e: i for e, (_p, i, _t) in adds.ok.items()}
        last_present: dict[Hashable, int] = {}
        last_absent: dict[Hashable, int] = {}
        unexpected: dict[Hashable, int] = {}
        duplicated: dict[Hashable, int] = {}
        outcome = adds.outcome
        for i, (_ip, _inv, op, op_pos) in enumerate(raw_reads):
            elements = _read_elements(op)
            s = set(elements)
            if len(s) != len(elements):
                seen: set[Hashable] = set()
                for e in elements:
                    if e in seen and e not in duplicated:
                        duplicated[e] = op.index
                        findings.note("duplicated", lambda e=e, op=op: Finding(
                            kind="duplicated",
                            failure_class=FailureClass.DUPLICATE_EFFECT,
                            diagnosis=f"duplicate effect: read op #{op.index} contains {show(e)} more than once",
                            ops=(op.index,),
                        ))
                    seen.add(e)
            prev_inv = inv_pos[i - 1] if i else -1
            for e in s:
                kp = known.get(e)
                if kp is None:
                    if e not in outcome and e not in unexpected:
                        unexpected[e] = op.index
                    kp = op_pos
                    known[e] = kp
                    known_time[e] = op.time_ns
                    known_op[e] = op.index
                prev = last_present.get(e, -1)
                if i - 1 > prev and prev_inv > kp:
                    last_absent[e] = i - 1
                last_present[e] = i
        stable_lat: list[int] = []
        stale: list[Hashable] = []
        lost: list[Hashable] = []
        never_read: list[Hashable] = []
        last_inv = inv_pos[-1] if n_reads else -1
        for e, kp in known.items():
            if e in unexpected:
                continue
            lp = last_present.get(e)
            read_after = last_inv > kp
            if lp is None or lp < n_reads - 1:
                if read_after:
                    lost.append(e)
                    last_op = raw_reads[-1][2].index
                    findings.note("lost", lambda e=e, lp=lp, last_op=last_op: self._lost(e, lp, last_op,
                                                                                         known_op[e], raw_reads))
                elif lp is None:
                    never_read.append(e)
                else:
                    stable_lat.append(0)
                continue
            la = last_absent.get(e)
            if la is None:
                stable_lat.append(0)
                continue
            stale.append(e)
            stable_lat.append(max(0, raw_reads[la][1].time_ns - known_time[e]))
            if self.linearizable:
                findings.note("stale", lambda e=e, la=la: Finding(
                    kind="stale",
                    failure_class=FailureClass.STALE_READ,
                    diagnosis=(f"stale read: read op #{raw_reads[la][2].index} lacks {show(e)} although it began "
                               f"after {show(e)} was known to be in the set (op #{known_op[e]}); later reads "
                               "have it"),
                    ops=(known_op[e], raw_reads[la][2].index),
                ))
        for e, idx in unexpected.items():
            findings.note("unexpected", lambda e=e, idx=idx: Finding(
                kind="unexpected",
                failure_class=FailureClass.UNEXPECTED_VALUE,
                diagnosis=f"unexpected value: read op #{idx} contains {show(e)}, which no add attempted",
                ops=(idx,),
            ))
        failed_present = [e for e in last_present if outcome.get(e) == "fail"]
        for e in failed_present:
            findings.note("failed-add-present", lambda e=e: Finding(
                kind="failed-add-present",
                failure_class=FailureClass.UNEXPECTED_VALUE,
                diagnosis=(f"unexpected value: add {show(e)} failed (op #{adds.attempted[e]}) but read "
                           f"op #{raw_reads[last_present[e]][2].index} contains it"),
                ops=(adds.attempted[e], raw_reads[last_present[e]][2].index),
            ))
        judged = len(stable_lat) + len(lost)
        if n_reads == 0:
            findings.add(incomplete("never-read", "incomplete check: the set was never read, nothing to judge"))
        elif judged == 0 and adds.ok:
            findings.add(incomplete("never-read", "incomplete check: no read began after any add was acknowledged"))
        stable_lat.sort()
        details = {
            "attempt_count": len(adds.attempted),
            "acknowledged_count": len(adds.ok),
            "read_count": n_reads,
            "stable_count": len(stable_lat),
            "stale_count": len(stale),
            "stale": range_string(stale),
            "lost_count": len(lost),
            "lost": range_string(lost),
            "never_read_count": len(never_read),
            "never_read": range_string(never_read),
            "unexpected_count": len(unexpected),
            "unexpected": range_string(unexpected),
            "duplicated_count": len(duplicated),
            "duplicated": jsonable(sorted(duplicated, key=repr)[:100]),
            "stable_latency_ms": _quantiles(stable_lat),
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"{len(stable_lat)} elements stable, {len(stale)} stale, "
                                  f"{len(never_read)} never read")

    @staticmethod
    def _lost(e: Hashable, lp: int | None, last_op: int, known_idx: int,
              reads: list[tuple[int, Op, Op, int]]) -> Finding:
        if lp is None:
            diag = (f"lost acknowledged write: add {show(e)} was ok (op #{known_idx}) but no read after it "
                    f"contains it (last read op #{last_op})")
            ops: tuple[int, ...] = (known_idx, last_op)
        else:
            seen = reads[lp][2].index
            diag = (f"lost acknowledged write: {show(e)} was in the set (read op #{seen}) but the last read "
                    f"(op #{last_op}) does not contain it")
            ops = (known_idx, seen, last_op) if known_idx != seen else (seen, last_op)
        return Finding(kind="lost", failure_class=FailureClass.LOST_WRITE, diagnosis=diag, ops=ops,
                       scope=f"element {show(e)}")


def _quantiles(sorted_ns: list[int]) -> dict[str, float]:
    if not sorted_ns:
        return {}
    n = len(sorted_ns)
    return {str(q): sorted_ns[min(n - 1, int(q * n))] / 1e6 for q in (0.0, 0.5, 0.95, 0.99, 1.0)}


def _make_set(o: Mapping[str, Any]) -> SetChecker:
    return SetChecker(max_findings=o["max_findings"])


def _make_set_full(o: Mapping[str, Any]) -> SetFullChecker:
    return SetFullChecker(linearizable=o["linearizable"], max_findings=o["max_findings"])


SET_PLUGIN = CheckerPlugin(
    name="set",
    option_specs=(max_findings_spec(),),
    build=_make_set,
    help="add-only set, judged by its final read (Jepsen's set)",
)
SET_FULL_PLUGIN = CheckerPlugin(
    name="set-full",
    option_specs=(
        bool_spec("linearizable", False, "a read that misses an element known to be present is invalid (stale)"),
        max_findings_spec(),
    ),
    build=_make_set_full,
    help="add-only set, every read judged: lost, stale, never-read, unexpected (Jepsen's set-full)",
)
PLUGIN = SET_PLUGIN
