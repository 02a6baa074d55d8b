"""The scan of a set history for the `set` and `set-full` checkers (`checkers.invariants.set`): adds by element
and ok reads, per key (`scan_groups`), a read's elements (`read_elements`, `duplicates`), and which reads lacked
an element between its becoming known and the last read that shows it (`find_last_absent`).

Owns only this reading of the history; judging and explaining (findings, verdicts) stay in
`checkers.invariants.set`. Raises BadInput (through `bad_value`) for a read or keyed value of the wrong shape.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.op import History, Op

from ._common import ATOMS, bad_value, freeze


class Read(NamedTuple):
    """One ok read: where its invocation and completion stand in the history, and the value it read."""

    invoke_pos: int
    invocation: Op
    completion: Op
    pos: int
    value: object


def read_elements(op: Op, v: object) -> tuple[set[Hashable], int]:
    """The distinct elements of a read, and how many it listed."""
    if not isinstance(v, list | tuple | set | frozenset):
        raise bad_value(op, "a set read must return a list or set of elements")
    try:
        s = set(v)  # fast path: scalar elements need no freezing
    except TypeError:
        s = {freeze(x) for x in v}
    return s, len(v)


def duplicates(v: Any) -> list[Hashable]:
    seen: set[Hashable] = set()
    dups: list[Hashable] = []
    for x in v:
        e = freeze(x)
        if e in seen and e not in dups:
            dups.append(e)
        seen.add(e)
    return dups


@dataclass
class Group:
    """One set: the whole history, or one key of it."""

    attempted: dict[Hashable, int] = field(default_factory=dict)  # element -> index of first add invoke
    ok: dict[Hashable, tuple[int, int, int]] = field(default_factory=dict)  # element -> first ok add (pos, index, ns)
    outcome: dict[Hashable, str] = field(default_factory=dict)  # element -> best outcome: ok > info > fail
    reads: list[Read] = field(default_factory=list)  # ok reads in completion order


_RANK = {"fail": 0, "info": 1, "ok": 2}


def _unpair(op: Op, v: object) -> tuple[Hashable, object]:
    if isinstance(v, list | tuple) and len(v) == 2:
        k = v[0]
        return (k if type(k) in ATOMS else freeze(k)), v[1]
    raise bad_value(op, "with keyed=true every value must be a [key, value] pair")


def scan_groups(history: History, add_f: str, read_f: str, keyed: bool) -> dict[Hashable, Group]:
    """Adds by element and ok reads, per key (the one key None when not keyed)."""
    groups: dict[Hashable, Group] = {}
    pending: dict[object, tuple[int, Op, Hashable, object]] = {}  # process -> (position, invocation, key, value)
    for pos, op in enumerate(history.ops):
        f = op.f
        if f != add_f and f != read_f:
            continue
        if op.type == "invoke":
            k, v = _unpair(op, op.value) if keyed else (None, op.value)
            pending[op.process] = (pos, op, k, v)
            if f == add_f:
                g = groups.get(k)
                if g is None:
                    g = groups[k] = Group()
                g.attempted.setdefault(v if type(v) in ATOMS else freeze(v), op.index)
            continue
        inv = pending.pop(op.process, None)
        if inv is None:
            if f == read_f and op.type == "ok":
                raise bad_value(op, "a read completion needs its invocation on the same process")
            continue
        ipos, iop, k, iv = inv
        g = groups.get(k)
        if g is None:
            g = groups[k] = Group()
        if f == add_f:
            e = iv if type(iv) in ATOMS else freeze(iv)
            t = op.type
            prev = g.outcome.get(e)
            if prev is None or _RANK[t] > _RANK[prev]:
                g.outcome[e] = t
            if t == "ok" and e not in g.ok:
                g.ok[e] = (pos, op.index, op.time_ns)
        elif op.type == "ok":
            v = _unpair(op, op.value)[1] if keyed else op.value
            g.reads.append(Read(ipos, iop, op, pos, v))
    for g in groups.values():
        for e in g.attempted:
            g.outcome.setdefault(e, "info")  # invoked, never completed: indefinite
    return groups


def find_last_absent(inv_pos: list[int], contents: list[set[Hashable]], known: dict[Hashable, int],
                 last_present: dict[Hashable, int]) -> dict[Hashable, int]:
    """Absences that a later read made good (stale): a read that began after the element was known, before
    the last read that shows it, lacks it. `must` holds exactly those elements while reads are scanned."""
    expire: dict[int, list[Hashable]] = {}
    for e, lp_i in last_present.items():
        expire.setdefault(lp_i, []).append(e)
    arrivals = sorted(((known[e], e) for e in last_present), key=lambda pe: pe[0])
    must: set[Hashable] = set()
    last_absent: dict[Hashable, int] = {}
    j = 0
    for i in range(len(inv_pos)):
        while j < len(arrivals) and arrivals[j][0] < inv_pos[i]:
            if last_present[arrivals[j][1]] > i:
                must.add(arrivals[j][1])
            j += 1
        if must:
            for e in must - contents[i]:
                last_absent[e] = i
        gone = expire.get(i)
        if gone:
            must.difference_update(gone)
    return last_absent
