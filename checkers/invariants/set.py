"""Set checkers: `set` (one final read, as Jepsen's `checker/set`) and `set-full` (every read, as Jepsen's
`checker/set-full`: lost, stale, never-read and unexpected elements, with latency to stability).

Owns `SetChecker`, `SetFullChecker` and their plugins: judging each set and explaining what it finds. Reading
the history into adds and reads is `checkers.invariants._set_scan`. Does not own set workloads or clients.

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

import os
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History

from ._common import (
    CheckerPlugin,
    Findings,
    bool_spec,
    incomplete,
    keyed_spec,
    max_findings_spec,
    range_string,
    show,
    verdict,
)
from ._set_scan import Group, Read, duplicates, find_last_absent, read_elements, scan_groups

if TYPE_CHECKING:
    from harness.test import Test


def _prefix(k: Hashable) -> str:
    return "" if k is None else f"key {show(k)}: "


def _scope(k: Hashable) -> str:
    return "global" if k is None else f"key {show(k)}"


def _tag(k: Hashable, e: Hashable) -> Hashable:
    return e if k is None else (k, e)


@dataclass
class _Tally:
    """Counts and element lists summed over keys, for details."""

    attempted: int = 0
    acknowledged: int = 0
    reads: int = 0
    unchecked: int = 0
    recovered: int = 0
    lost: list[Hashable] = field(default_factory=list)
    unexpected: list[Hashable] = field(default_factory=list)
    stale: list[Hashable] = field(default_factory=list)
    never_read: list[Hashable] = field(default_factory=list)
    duplicated: list[Hashable] = field(default_factory=list)
    stable_latencies: list[int] = field(default_factory=list)


def _judge_groups(history: History, add_f: str, read_f: str, keyed: bool, max_findings: int,
                  judge: Callable[[Hashable, Group, Findings, _Tally], None]) -> tuple[dict[Hashable, Group],
                                                                                       Findings, _Tally]:
    """Scan the history and `judge` each key's group in a stable order; a set never read is an incomplete
    check. Returns the groups, the findings and the tally the judge filled."""
    groups = scan_groups(history, add_f, read_f, keyed)
    findings = Findings(max_findings)
    tally = _Tally()
    for k in sorted(groups, key=repr):
        judge(k, groups[k], findings, tally)
    if not groups:
        findings.add(incomplete("never-read", "incomplete check: the set was never read, nothing to judge"))
    return groups, findings, tally


@dataclass(frozen=True)
class SetChecker:
    """Jepsen's set checker: one final read against every add."""

    keyed: bool = False
    add_f: str = "add"
    read_f: str = "read"
    max_findings: int = 10
    name: str = "set"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        groups, findings, tally = _judge_groups(history, self.add_f, self.read_f, self.keyed, self.max_findings,
                                                self._judge)
        details = {
            "key_count": len(groups) if self.keyed else None,
            "attempt_count": tally.attempted,
            "acknowledged_count": tally.acknowledged,
            "lost_count": len(tally.lost),
            "lost": range_string(tally.lost),
            "unexpected_count": len(tally.unexpected),
            "unexpected": range_string(tally.unexpected),
            "recovered_count": tally.recovered,
            "unchecked_count": tally.unchecked,
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"all {tally.acknowledged - tally.unchecked} acknowledged adds in the final read"
                                  + (f" of their key ({len(groups)} keys)" if self.keyed else ""))

    def _judge(self, k: Hashable, g: Group, findings: Findings, tally: _Tally) -> None:
        pre = _prefix(k)
        tally.attempted += len(g.attempted)
        tally.acknowledged += len(g.ok)
        if not g.reads:
            findings.add(incomplete("never-read", f"{pre}incomplete check: the set was never read, nothing to judge"))
            return
        inv_pos, _, final, _, value = g.reads[-1]
        final_set, _n = read_elements(final, value)
        for e, (pos, idx, _t) in g.ok.items():
            if e in final_set:
                continue
            if pos > inv_pos:
                tally.unchecked += 1  # acknowledged after the final read began: it may miss it
                continue
            tally.lost.append(_tag(k, e))
            findings.note("lost", lambda e=e, idx=idx: Finding(
                kind="lost",
                failure_class=FailureClass.LOST_WRITE,
                diagnosis=(f"{pre}lost acknowledged write: add {show(e)} was ok (op #{idx}) but the final read "
                           f"(op #{final.index}) does not contain it"),
                ops=(idx, final.index),
                scope=_scope(k),
            ))
        for e in final_set:
            o = g.outcome.get(e)
            if o == "info":
                tally.recovered += 1
            elif o is None:
                tally.unexpected.append(_tag(k, e))
                findings.note("unexpected", lambda e=e: Finding(
                    kind="unexpected",
                    failure_class=FailureClass.UNEXPECTED_VALUE,
                    diagnosis=(f"{pre}unexpected value: the final read (op #{final.index}) contains {show(e)}, "
                               "which no add attempted"),
                    ops=(final.index,),
                    scope=_scope(k),
                ))
            elif o == "fail":
                tally.unexpected.append(_tag(k, e))
                findings.note("failed-add-present", lambda e=e: Finding(
                    kind="failed-add-present",
                    failure_class=FailureClass.UNEXPECTED_VALUE,
                    diagnosis=(f"{pre}unexpected value: add {show(e)} failed (op #{g.attempted[e]}) but the final "
                               f"read (op #{final.index}) contains it"),
                    ops=(g.attempted[e], final.index),
                    scope=_scope(k),
                ))


@dataclass(frozen=True)
class SetFullChecker:
    """Jepsen's set-full checker: every read judged against every element known to exist before it began."""

    linearizable: bool = False
    keyed: bool = False
    add_f: str = "add"
    read_f: str = "read"
    max_findings: int = 10
    name: str = "set-full"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        groups, findings, tally = _judge_groups(history, self.add_f, self.read_f, self.keyed, self.max_findings,
                                                self._judge)
        lat = sorted(tally.stable_latencies)
        details = {
            "key_count": len(groups) if self.keyed else None,
            "attempt_count": tally.attempted,
            "acknowledged_count": tally.acknowledged,
            "read_count": tally.reads,
            "stable_count": len(lat),
            "stale_count": len(tally.stale),
            "stale": range_string(tally.stale),
            "lost_count": len(tally.lost),
            "lost": range_string(tally.lost),
            "never_read_count": len(tally.never_read),
            "never_read": range_string(tally.never_read),
            "unexpected_count": len(tally.unexpected),
            "unexpected": range_string(tally.unexpected),
            "duplicated_count": len(tally.duplicated),
            "duplicated": range_string(tally.duplicated),
            "stable_latency_ms": _quantiles(lat),
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"{len(lat)} elements stable, {len(tally.stale)} stale, "
                                  f"{len(tally.never_read)} never read"
                                  + (f" ({len(groups)} keys)" if self.keyed else ""))

    def _judge(self, k: Hashable, g: Group, findings: Findings, tally: _Tally) -> None:
        """Scan the group's reads (duplicates, when each element became known, where it was present and absent),
        judge each known element, then explain elements no add attempted or whose add failed."""
        tally.attempted += len(g.attempted)
        tally.acknowledged += len(g.ok)
        tally.reads += len(g.reads)
        seen = _scan_reads(k, g, findings, tally)
        judged = self._judge_known(k, seen, findings, tally)
        _explain_unexpected(k, g, seen, findings, tally)
        if not seen.reads:
            findings.add(incomplete("never-read", f"{_prefix(k)}incomplete check: the set was never read, nothing "
                                    "to judge"))
        elif judged == 0 and g.ok:
            findings.add(incomplete("never-read", f"{_prefix(k)}incomplete check: no read began after any add was "
                                    "acknowledged"))

    def _judge_known(self, k: Hashable, seen: _Seen, findings: Findings, tally: _Tally) -> int:
        """Each element known to be in the set (not unexpected): lost, stale, stable or never read. Returns how
        many were judged (never-read ones are not)."""
        pre, scope, reads = _prefix(k), _scope(k), seen.reads
        n_reads = len(reads)
        last_inv = reads[-1].invoke_pos if n_reads else -1
        last_op = reads[-1].completion.index if n_reads else -1
        known_op = seen.known_op
        judged = 0
        for e, kp in seen.known.items():
            if e in seen.unexpected:
                continue
            lp = seen.last_present.get(e)
            if lp is None or lp < n_reads - 1:
                if last_inv > kp:  # the last read began after the element was known, and lacks it
                    judged += 1
                    tally.lost.append(_tag(k, e))
                    findings.note("lost", lambda e=e, lp=lp: self._lost(pre, scope, e, lp, last_op, known_op[e],
                                                                        reads))
                elif lp is None:
                    tally.never_read.append(_tag(k, e))
                else:
                    judged += 1
                    tally.stable_latencies.append(0)
                continue
            judged += 1
            la = seen.last_absent.get(e)
            if la is None:
                tally.stable_latencies.append(0)
                continue
            tally.stale.append(_tag(k, e))
            tally.stable_latencies.append(max(0, reads[la].invocation.time_ns - seen.known_time[e]))
            if self.linearizable:
                findings.note("stale", lambda e=e, la=la: Finding(
                    kind="stale",
                    failure_class=FailureClass.STALE_READ,
                    diagnosis=(f"{pre}stale read: read op #{reads[la].completion.index} lacks {show(e)} although it began "
                               f"after {show(e)} was known to be in the set (op #{known_op[e]}); later reads "
                               "have it"),
                    ops=(known_op[e], reads[la].completion.index),
                    scope=scope,
                ))
        return judged

    @staticmethod
    def _lost(pre: str, scope: str, e: Hashable, lp: int | None, last_op: int, known_idx: int,
              reads: list[Read]) -> Finding:
        if lp is None:
            diag = (f"{pre}lost acknowledged write: add {show(e)} was ok (op #{known_idx}) but no read after it "
                    f"contains it (last read op #{last_op})")
            ops: tuple[int, ...] = (known_idx, last_op)
        else:
            seen = reads[lp].completion.index
            diag = (f"{pre}lost acknowledged write: {show(e)} was in the set (read op #{seen}) but the last read "
                    f"(op #{last_op}) does not contain it")
            ops = (known_idx, seen, last_op) if known_idx != seen else (seen, last_op)
        return Finding(kind="lost", failure_class=FailureClass.LOST_WRITE, diagnosis=diag, ops=ops, scope=scope)


def _quantiles(sorted_ns: list[int]) -> dict[str, float]:
    if not sorted_ns:
        return {}
    n = len(sorted_ns)
    return {str(q): sorted_ns[min(n - 1, int(q * n))] / 1e6 for q in (0.0, 0.5, 0.95, 0.99, 1.0)}


def _make_set(o: Mapping[str, Any]) -> SetChecker:
    return SetChecker(keyed=o["keyed"], max_findings=o["max_findings"])


def _make_set_full(o: Mapping[str, Any]) -> SetFullChecker:
    return SetFullChecker(linearizable=o["linearizable"], keyed=o["keyed"], max_findings=o["max_findings"])


SET_PLUGIN = CheckerPlugin(
    name="set",
    option_specs=(keyed_spec(), max_findings_spec()),
    build=_make_set,
    help="add-only set, judged by its final read (Jepsen's set)",
)
SET_FULL_PLUGIN = CheckerPlugin(
    name="set-full",
    option_specs=(
        bool_spec("linearizable", False, "a read that misses an element known to be present is invalid (stale)"),
        keyed_spec(),
        max_findings_spec(),
    ),
    build=_make_set_full,
    help="add-only set, every read judged: lost, stale, never-read, unexpected (Jepsen's set-full)",
)
PLUGIN = SET_PLUGIN


@dataclass
class _Seen:
    """What the ok reads of one set showed (set-full), the reads in invocation order."""

    reads: list[Read]
    contents: list[set[Hashable]]  # the distinct elements of each read
    known: dict[Hashable, int]  # element -> history position where it became known (ok add or first read)
    known_time: dict[Hashable, int]  # element -> time it became known (ns)
    known_op: dict[Hashable, int]  # element -> index of the op that made it known
    unexpected: dict[Hashable, int]  # element no add attempted -> index of the first read that shows it
    last_present: dict[Hashable, int]  # element -> index (in `reads`) of the last read that shows it
    last_absent: dict[Hashable, int]  # element -> index of the last read that began after it was known and
    #                                    lacks it, before a later read that shows it (a stale read)


def _read_contents(k: Hashable, reads: list[Read], findings: Findings, tally: _Tally) -> list[set[Hashable]]:
    """The distinct elements of each read (completion order); an element listed twice in one read is noted."""
    pre, scope = _prefix(k), _scope(k)
    contents: list[set[Hashable]] = []
    duplicated: set[Hashable] = set()
    for r in reads:
        op = r.completion
        s, n = read_elements(op, r.value)
        contents.append(s)
        if n != len(s):
            for e in duplicates(r.value):
                if e not in duplicated:
                    duplicated.add(e)
                    tally.duplicated.append(_tag(k, e))
                    findings.note("duplicated", lambda e=e, op=op: Finding(
                        kind="duplicated",
                        failure_class=FailureClass.DUPLICATE_EFFECT,
                        diagnosis=f"{pre}duplicate effect: read op #{op.index} contains {show(e)} more than once",
                        ops=(op.index,),
                        scope=scope,
                    ))
    return contents


def _scan_reads(k: Hashable, g: Group, findings: Findings, tally: _Tally) -> _Seen:
    """When each element became known, which reads show it last and which lack it before that."""
    raw_reads = g.reads
    contents = _read_contents(k, raw_reads, findings, tally)
    # When each element became known: its ok add, or the completion of the earliest-completing read with it.
    known: dict[Hashable, int] = {e: p for e, (p, _i, _t) in g.ok.items()}
    known_time: dict[Hashable, int] = {e: t for e, (_p, _i, t) in g.ok.items()}
    known_op: dict[Hashable, int] = {e: i for e, (_p, i, _t) in g.ok.items()}
    unexpected: dict[Hashable, int] = {}
    seen: set[Hashable] = set()
    for r, s in zip(raw_reads, contents):  # completion order
        new = s - seen
        if not new:
            continue
        seen |= new
        for e in new:
            if e not in g.outcome:
                unexpected[e] = r.completion.index
            kp = known.get(e)
            if kp is None or r.pos < kp:
                known[e], known_time[e], known_op[e] = r.pos, r.completion.time_ns, r.completion.index
    # Reads in invocation order; the last one of them that shows each element.
    order = sorted(range(len(raw_reads)), key=lambda i: raw_reads[i].invoke_pos)
    reads = [raw_reads[i] for i in order]
    contents = [contents[i] for i in order]
    last_present: dict[Hashable, int] = {}
    assigned: set[Hashable] = set()
    for i in range(len(reads) - 1, -1, -1):
        new = contents[i] - assigned
        if new:
            assigned |= new
            for e in new:
                last_present[e] = i
    last_absent = find_last_absent([r.invoke_pos for r in reads], contents, known, last_present)
    return _Seen(reads, contents, known, known_time, known_op, unexpected, last_present, last_absent)


def _explain_unexpected(k: Hashable, g: Group, seen: _Seen, findings: Findings, tally: _Tally) -> None:
    """Elements reads showed that no add attempted, or whose add definitely failed."""
    pre, scope, reads = _prefix(k), _scope(k), seen.reads
    for e, idx in seen.unexpected.items():
        tally.unexpected.append(_tag(k, e))
        findings.note("unexpected", lambda e=e, idx=idx: Finding(
            kind="unexpected",
            failure_class=FailureClass.UNEXPECTED_VALUE,
            diagnosis=f"{pre}unexpected value: read op #{idx} contains {show(e)}, which no add attempted",
            ops=(idx,),
            scope=scope,
        ))
    for e in seen.last_present:
        if g.outcome.get(e) == "fail":
            tally.unexpected.append(_tag(k, e))
            findings.note("failed-add-present", lambda e=e: Finding(
                kind="failed-add-present",
                failure_class=FailureClass.UNEXPECTED_VALUE,
                diagnosis=(f"{pre}unexpected value: add {show(e)} failed (op #{g.attempted[e]}) but read "
                           f"op #{reads[seen.last_present[e]].completion.index} contains it"),
                ops=(g.attempted[e], reads[seen.last_present[e]].completion.index),
                scope=scope,
            ))
