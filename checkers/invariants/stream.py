"""Stream checker: an append-only log with server-assigned offsets keeps every acknowledged append, once, at
the offset it was acknowledged at, and reads see it in offset order without holes.

Owns `StreamChecker` and its plugin. Does not own the stream workload (`workloads.stream`) nor any client.

Op vocabulary (`workloads.stream`):
    {f: "append",   value: element}          ok completion: [offset, element] (the offset the server assigned)
    {f: "read",     value: [from, limit]}    ok completion: [[offset, element], ...] up to `limit` messages, in
                                             offset order, from the first offset at or after `from`; fewer than
                                             `limit` does not say the stream ended there
    {f: "read-all", value: null}             ok completion: [[offset, element], ...] the whole stream (final phase)

Every acknowledged append and every message an ok read returns is an observation "offset o holds element v".
Findings:
    lost        an append acknowledged before the last ok read-all began, whose element that read lacks
                (lost acknowledged write)
    reused      one offset holding two different elements across observations (split brain: two histories)
    duplicated  one element at two offsets (duplicate side effect)
    reordered   a read whose offsets do not strictly increase, or start before its `from`; or an append
                acknowledged at an offset not above that of an append acknowledged before it was invoked (a log
                that orders appends in real time never does either) (broken invariant)
    gap         a read that skipped an offset some observation shows exists: between its `from` and its first
                message, or between two consecutive messages (offsets are handed out in order, so a message
                visible at b means every existing offset below b was already there) (broken invariant)
    unexpected  a read returned an element never appended, or whose append definitely failed (unexpected value)
An append that ended info (or never completed) may or may not have happened: its element may appear, or not.
Without an ok read-all, acknowledged appends cannot be judged lost: the verdict is unknown ("not-read").
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op

from ._common import (
    CheckerPlugin,
    Findings,
    FrozenChecker,
    bad_value,
    freeze,
    incomplete,
    max_findings_spec,
    range_string,
    show,
    verdict,
)

if TYPE_CHECKING:
    from harness.test import Test


@dataclass
class _Scan:
    """What one pass over the history gathers."""

    attempted: set[Hashable] = field(default_factory=set)
    failed: set[Hashable] = field(default_factory=set)
    acked: dict[Hashable, tuple[int, int, int]] = field(default_factory=dict)  # element -> (offset, op, position)
    # offset -> element -> first op showing it; element -> offset -> first op showing it
    at_offset: dict[int, dict[Hashable, int]] = field(default_factory=dict)
    offsets_of: dict[Hashable, dict[int, int]] = field(default_factory=dict)
    reads: list[tuple[Op, int | None, list[tuple[int, Hashable]]]] = field(default_factory=list)  # op, from, msgs
    final: tuple[Op, int, set[Hashable]] | None = None  # last ok read-all, the position of its invocation
    reordered_appends: list[tuple[Op, int, int]] = field(default_factory=list)  # op, its offset, the bound

    def observe(self, offset: int, element: Hashable, index: int) -> None:
        self.at_offset.setdefault(offset, {}).setdefault(element, index)
        self.offsets_of.setdefault(element, {}).setdefault(offset, index)


def _messages(op: Op) -> list[tuple[int, Hashable]]:
    if not isinstance(op.value, list | tuple):
        raise bad_value(op, "a read must return a list of [offset, element] pairs")
    out = []
    for m in op.value:
        if not (isinstance(m, list | tuple) and len(m) == 2 and isinstance(m[0], int) and not isinstance(m[0], bool)):
            raise bad_value(op, "a read must return a list of [offset, element] pairs")
        out.append((m[0], freeze(m[1])))
    return out


def _scan(history: History) -> _Scan:
    s = _Scan()
    pending: dict[object, tuple[object, int, int]] = {}  # process -> (invoke value, position, max acked offset then)
    max_acked = -(1 << 62)  # the highest offset acknowledged so far
    for pos, op in enumerate(history.ops):
        if op.f not in ("append", "read", "read-all"):
            continue
        if op.type == "invoke":
            pending[op.process] = (op.value, pos, max_acked)
            continue
        value, began, bound = pending.pop(op.process, (op.value, pos, max_acked))
        if op.f == "append":
            element = freeze(value)
            s.attempted.add(element)
            if op.type == "fail":
                s.failed.add(element)
            elif op.type == "ok":
                if not (isinstance(op.value, list | tuple) and len(op.value) == 2 and isinstance(op.value[0], int)):
                    raise bad_value(op, "an ok append must return [offset, element]")
                offset = op.value[0]
                s.acked.setdefault(element, (offset, op.index, pos))
                s.observe(offset, element, op.index)
                if offset <= bound:
                    s.reordered_appends.append((op, offset, bound))
                max_acked = max(max_acked, offset)
        elif op.type == "ok":
            msgs = _messages(op)
            for offset, element in msgs:
                s.observe(offset, element, op.index)
            start = value[0] if op.f == "read" and isinstance(value, list | tuple) and value else None
            s.reads.append((op, start if isinstance(start, int) else None, msgs))
            if op.f == "read-all":
                s.final = (op, began, {e for _, e in msgs})
    for value, _, _ in pending.values():  # appends invoked and never completed: indefinite
        if value is not None and not isinstance(value, list | tuple):
            s.attempted.add(freeze(value))
    return s


@dataclass(frozen=True)
class StreamChecker:
    """Lost, reused, duplicated, reordered, skipped and unexpected messages of an append-only stream."""

    max_findings: int = 10
    name: str = "stream"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        s = _scan(history)
        findings = Findings(self.max_findings)
        lost = self._lost(s, findings)
        self._reused(s, findings)
        self._duplicated(s, findings)
        self._reordered(s, findings)
        self._gaps(s, findings)
        unexpected = self._unexpected(s, findings)
        details = {
            "attempt_count": len(s.attempted),
            "acknowledged_count": len(s.acked),
            "read_count": len(s.reads),
            "final_read_count": len(s.final[2]) if s.final else None,
            "lost": range_string(lost),
            "unexpected": range_string(unexpected),
            "highest_offset": max(s.at_offset, default=None),
        }
        return verdict(self.name, findings, details,
                       ok_summary=f"all {len(s.acked)} acknowledged appends read back once, in offset order")

    def _lost(self, s: _Scan, findings: Findings) -> list[Hashable]:
        if s.final is None:
            if s.acked:
                findings.add(incomplete("not-read", f"incomplete check: {len(s.acked)} acknowledged appends and no "
                                        "ok read-all to look for them in"))
            return []
        final_op, began, seen = s.final
        lost = [e for e, (_, _, pos) in s.acked.items() if pos < began and e not in seen]
        for e in lost:
            offset, index, _ = s.acked[e]
            findings.note("lost", lambda e=e, offset=offset, index=index: Finding(
                kind="lost", failure_class=FailureClass.LOST_WRITE,
                diagnosis=(f"lost acknowledged write: append {show(e)} was ok at offset {offset} (op #{index}) but the "
                           f"final read-all (op #{final_op.index}) lacks it"),
                ops=(index, final_op.index)))
        return lost

    def _reused(self, s: _Scan, findings: Findings) -> None:
        for offset in sorted(o for o, els in s.at_offset.items() if len(els) > 1):
            els = s.at_offset[offset]
            findings.note("reused", lambda offset=offset, els=els: Finding(
                kind="reused", failure_class=FailureClass.SPLIT_BRAIN,
                diagnosis=(f"split brain: offset {offset} holds {len(els)} different elements: "
                           + ", ".join(f"{show(e)} (op #{i})" for e, i in list(els.items())[:4])),
                ops=tuple(sorted(els.values()))[:10], scope=f"offset {offset}"))

    def _duplicated(self, s: _Scan, findings: Findings) -> None:
        for e, offs in s.offsets_of.items():
            if len(offs) < 2:
                continue
            findings.note("duplicated", lambda e=e, offs=offs: Finding(
                kind="duplicated", failure_class=FailureClass.DUPLICATE_EFFECT,
                diagnosis=(f"duplicate effect: {show(e)} appended once is at offsets "
                           + ", ".join(f"{o} (op #{i})" for o, i in sorted(offs.items())[:6])),
                ops=tuple(sorted(offs.values()))[:10]))

    def _reordered(self, s: _Scan, findings: Findings) -> None:
        for op, offset, bound in s.reordered_appends:
            findings.note("reordered", lambda op=op, offset=offset, bound=bound: Finding(
                kind="reordered", failure_class=FailureClass.BROKEN_INVARIANT,
                diagnosis=(f"broken invariant: append {show(op.value[1])} (op #{op.index}) was acknowledged at offset "
                           f"{offset}, but an append acknowledged before it was invoked already had offset {bound}"),
                ops=(op.index,)))
        for op, start, msgs in s.reads:
            offsets = [o for o, _ in msgs]
            back = next((i for i in range(1, len(offsets)) if offsets[i] <= offsets[i - 1]), None)
            if back is None and not (start is not None and offsets and offsets[0] < start):
                continue
            what = (f"offset {offsets[back]} follows {offsets[back - 1]}" if back is not None
                    else f"its first offset {offsets[0]} is before the {start} it read from")
            findings.note("reordered", lambda op=op, what=what: Finding(
                kind="reordered", failure_class=FailureClass.BROKEN_INVARIANT,
                diagnosis=f"broken invariant: {op.f} op #{op.index} went backwards: {what}", ops=(op.index,)))

    def _gaps(self, s: _Scan, findings: Findings) -> None:
        known = sorted(s.at_offset)
        lowest = known[0] if known else 0
        for op, start, msgs in s.reads:
            offsets = [o for o, _ in msgs]
            if not offsets or any(b <= a for a, b in zip(offsets, offsets[1:])):
                continue  # nothing read, or a reordered read (a finding of its own)
            first = start if start is not None else lowest  # a read-all starts at the beginning of the stream
            spans = [(first - 1, offsets[0])] + list(zip(offsets, offsets[1:]))
            for lo, hi in spans:
                i = bisect.bisect_right(known, lo)
                if i < len(known) and known[i] < hi:
                    c = known[i]
                    e, shown = next(iter(s.at_offset[c].items()))
                    where = f"after its start {first}" if lo == first - 1 else f"between {lo} and {hi}"
                    findings.note("gap", lambda op=op, c=c, e=e, shown=shown, where=where: Finding(
                        kind="gap", failure_class=FailureClass.BROKEN_INVARIANT,
                        diagnosis=(f"broken invariant: {op.f} op #{op.index} skipped offset {c} ({where}), which "
                                   f"op #{shown} shows holding {show(e)}"),
                        ops=(op.index, shown)))
                    break

    def _unexpected(self, s: _Scan, findings: Findings) -> list[Hashable]:
        out = []
        for e, offs in s.offsets_of.items():
            if e in s.attempted and e not in s.failed:
                continue
            out.append(e)
            why = "its append failed" if e in s.attempted else "it was never appended"
            findings.note("unexpected", lambda e=e, offs=offs, why=why: Finding(
                kind="unexpected", failure_class=FailureClass.UNEXPECTED_VALUE,
                diagnosis=f"unexpected value: {show(e)} was read (op #{min(offs.values())}) but {why}",
                ops=tuple(sorted(offs.values()))[:10]))
        return out


def _make(o: Mapping[str, Any]) -> FrozenChecker:
    return StreamChecker(max_findings=o["max_findings"])


PLUGIN = CheckerPlugin(
    name="stream",
    option_specs=(max_findings_spec(),),
    build=_make,
    help="an append-only stream keeps every acknowledged append once, at its offset, in order, without holes",
)
