"""List-append analysis: version orders from reads, ww/wr/rw dependencies, and the non-cycle anomalies.

Owns what a list-append history (micro-ops `["append", k, e]` and `["r", k, [e...]]`, every appended element
unique per key) shows without a cycle search: internal, future-read, G1a, G1b, garbage-read, dirty-update,
duplicate-elements, incompatible-order and lost-update; and the dependency edges it adds to the graph. Does
not own cycle search (cycles.py) nor verdicts (checker.py).

Version order of key k: the longest read of k (first occurrences, if elements repeat). Every read must be a
prefix of it (else incompatible-order). Edges, each sound for append-only lists:
  ww  consecutive elements of the order by different writers; and the writer of the last observed element
      before the writer of each `ok` append never observed (a committed append is in every later version,
      so a version without it came first);
  wr  the writer of the last element of a read before the reader;
  rw  a reader before the writer of the element that follows its read in the order; a reader of the whole
      order before every `ok` writer of an element it did not see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.elle.case import Analysis, Case
from checkers.elle.graph import RW, WR, WW, Graph
from checkers.elle.txns import FAIL, OK, Txns
from harness.errors import MalformedHistory

MOPS = frozenset(("append", "r"))


def _dedup(v: list[object]) -> list[object]:
    seen: set[object] = set()
    out = []
    for e in v:
        if e not in seen:
            seen.add(e)
            out.append(e)
    return out


@dataclass(frozen=True, slots=True)
class _Reads:
    """The ok transactions' reads as parallel columns (one row per read micro-op, in history order)."""

    txn: list[int]
    key: list[object]
    value: list[list[object]]


def _clean_prefix(lv: list[object], wk: dict[object, int]) -> int:
    """How many leading elements of `lv` are distinct and each appended by a transaction that did not fail."""
    seen: set[object] = set()
    for j, e in enumerate(lv):
        if e in seen or e not in wk:
            return j
        seen.add(e)
    return len(lv)


class ListAppend:
    """The analysis of one history; keeps the indexes explanations need."""

    def __init__(self, txns: Txns) -> None:
        self.txns = txns
        self.writer: dict[object, dict[object, int]] = {}  # key -> element -> txn (ok, info or pending)
        self.failed: dict[object, dict[object, int]] = {}  # key -> element -> failed txn
        self.order: dict[object, list[object]] = {}  # key -> version order (deduplicated longest read)
        self.pos: dict[object, dict[object, int]] = {}
        self.unseen: dict[object, list[tuple[object, int]]] = {}  # key -> [(element, ok writer)] not in order
        self.intermediate: set[tuple[object, object]] = set()  # (key, element) its writer appended more after

    def run(self) -> Analysis:
        t = self.txns
        g = Graph(len(t))
        cases: list[Case] = []
        reads = _Reads([], [], [])
        lost: dict[tuple[object, tuple[object, ...]], list[int]] = {}
        self._scan(reads, cases, lost)
        for (k, seen), ts in lost.items():
            if len(ts) > 1:
                names = ", ".join(t.name(x) for x in ts)
                cases.append(
                    Case(
                        "lost-update",
                        tuple(ts),
                        k,
                        f"lost update on key {k!r}: {names} all read {list(seen)!r} and all appended to it",
                        tuple(
                            f"{t.describe(x)} read {k!r} = {list(seen)!r}, then appended to {k!r}" for x in ts
                        )
                        + (f"at most one of them can have read {list(seen)!r} last; the others' appends are lost",),
                    )
                )
        writer = self.writer
        for k, fk in self.failed.items():
            wk = writer.get(k, {})
            for e, w in fk.items():
                if e in wk:
                    self._not_unique(k, e, wk[e], w)
        longest: dict[object, list[object]] = {}
        for k, v in zip(reads.key, reads.value):
            cur = longest.get(k)
            if cur is None or len(v) > len(cur):
                longest[k] = v
        for k, lv in longest.items():
            o = _dedup(lv)
            self.order[k] = o
            self.pos[k] = {e: j for j, e in enumerate(o)}
        self._read_anomalies(reads, longest, cases)
        self._dirty_updates(cases)
        self._edges(g, reads)
        return Analysis(graph=g, cases=cases, explainer=self, keys=len(writer.keys() | longest.keys()))

    def _scan(self, reads: _Reads, cases: list[Case], lost: dict[tuple[object, tuple[object, ...]], list[int]]) -> None:
        """One pass over the transactions: writers of each element, the ok reads, the failed appends, and what
        a transaction touching a key twice shows by itself."""
        t = self.txns
        status = t.status
        writer, failed = self.writer, self.failed
        r_txn, r_key, r_value = reads.txn, reads.key, reads.value
        for i, mops in enumerate(t.mops):
            st = status[i]
            if st == FAIL:
                for m in mops:
                    if m[0] == "append" and failed.setdefault(m[1], {}).setdefault(m[2], i) != i:
                        self._not_unique(m[1], m[2], failed[m[1]][m[2]], i)
                continue
            for m in mops:
                if m[0] == "append":
                    # an unfilled invocation's append (element None) names no element
                    e = m[2]
                    if e is not None:
                        wk = writer.get(m[1])
                        if wk is None:
                            wk = writer[m[1]] = {}
                        w = wk.setdefault(e, i)
                        if w != i:
                            self._not_unique(m[1], e, w, i)
                elif st == OK:
                    v = m[2]
                    if type(v) is not list:
                        v = self._read_list(i, m)
                    r_txn.append(i)
                    r_key.append(m[1])
                    r_value.append(v)
            if len(mops) > 1 and len({m[1] for m in mops}) < len(mops):
                # only a key touched twice can show internal / future-read / a read-then-append / an
                # intermediate append
                self._intermediates(mops)
                if st == OK:
                    self._within(i, mops, cases, lost)

    def _intermediates(self, mops: list[Any]) -> None:
        """Remember the appends a transaction followed with another append to the same key (for G1b)."""
        last: dict[object, object] = {}
        for m in mops:
            if m[0] == "append":
                last[m[1]] = m[2]
        for m in mops:
            if m[0] == "append" and m[2] != last[m[1]]:
                self.intermediate.add((m[1], m[2]))

    def _read_list(self, i: int, m: Any) -> list[object]:
        v = m[2]
        if v is None:
            return []
        if isinstance(v, tuple):
            return list(v)
        raise MalformedHistory(
            f"op {self.txns.op_index[i]}: a list-append read returns a list, not {v!r} (micro-op {list(m)!r})"
        )

    def _not_unique(self, k: object, e: object, a: int, b: int) -> None:
        t = self.txns
        raise MalformedHistory(
            f"list-append needs every appended element to be unique per key, but {e!r} is appended to key "
            f"{k!r} by both {t.name(a)} and {t.name(b)} (a workload bug: the checker cannot tell them apart)"
        )

    # --- within one transaction -------------------------------------------------------------------------

    def _within(self, i: int, mops: list[Any], cases: list[Case], lost: dict[Any, list[int]]) -> None:
        t = self.txns
        state: dict[object, tuple[bool, list[object]]] = {}
        appended: dict[object, set[object]] = {}
        for m in mops:
            f, k, v = m
            if f == "append":
                s = state.get(k)
                state[k] = (False, [v]) if s is None else (s[0], s[1] + [v])
                appended.setdefault(k, set()).add(v)
                continue
            vv = list(v) if v is not None else []
            s = state.get(k)
            if s is not None:
                known, lst = s
                ok = vv == lst if known else (len(vv) >= len(lst) and vv[len(vv) - len(lst):] == lst)
                if not ok:
                    want = f"{lst!r}" if known else f"a list ending in {lst!r}"
                    cases.append(
                        Case(
                            "internal",
                            (i,),
                            k,
                            f"{t.name(i)} read {k!r} = {vv!r} but its own earlier operations imply {want}",
                            (t.describe(i),),
                        )
                    )
            else:
                # first access to k is this read: an external read, the version lost-update groups by
                if any(x[0] == "append" and x[1] == k for x in mops):
                    lost.setdefault((k, tuple(vv)), []).append(i)
            state[k] = (True, vv)  # vv is this read's own copy: never extended in place
        # future read: a read that contains an element this txn appends only later
        seen_app: dict[object, set[object]] = {}
        for m in mops:
            f, k, v = m
            if f == "append":
                seen_app.setdefault(k, set()).add(v)
            elif v and k in appended:
                later = appended[k] - seen_app.get(k, set())
                if later.isdisjoint(v):
                    continue
                fut = [e for e in v if e in later]
                if fut:
                    cases.append(
                        Case(
                            "future-read",
                            (i,),
                            k,
                            f"{t.name(i)} read {k!r} = {v!r}, which contains {fut!r} it appends only later",
                            (t.describe(i),),
                        )
                    )

    # --- across transactions ----------------------------------------------------------------------------

    def _read_anomalies(self, reads: _Reads, longest: dict[object, list[object]], cases: list[Case]) -> None:
        writer, intermediate = self.writer, self.intermediate
        reported_incompat: set[object] = set()
        safe = {k: _clean_prefix(lv, writer.get(k, {})) for k, lv in longest.items()}
        for i, k, v in zip(reads.txn, reads.key, reads.value):
            if not v:
                continue
            n = len(v)
            if n <= safe[k] and v == longest[k][:n]:
                # fast path: a prefix of the longest read whose elements are distinct and all appended by
                # transactions that did not fail shows no anomaly but, perhaps, an intermediate read
                e = v[-1]
                if (k, e) in intermediate and writer[k][e] != i:
                    self._g1b(i, k, v, writer[k][e], cases)
                continue
            self._read_anomalies_of(i, k, v, longest[k], reported_incompat, cases)

    def _g1b(self, i: int, k: object, v: list[object], wl: int, cases: list[Case]) -> None:
        t = self.txns
        e = v[-1]
        cases.append(
            Case(
                "G1b",
                (i, wl),
                k,
                f"intermediate read: {t.name(i)} read {k!r} = {v!r}, ending in {e!r}, but "
                f"{t.name(wl)} appended more to {k!r} after {e!r}",
                (t.describe(wl), t.describe(i)),
            )
        )

    def _read_anomalies_of(
        self, i: int, k: object, v: list[object], lv: list[object], reported_incompat: set[object], cases: list[Case]
    ) -> None:
        t = self.txns
        writer, failed = self.writer, self.failed
        wk = writer.get(k, {})
        if len(set(v)) != len(v):
            dups = sorted({repr(e) for e in v if v.count(e) > 1})
            cases.append(
                Case(
                    "duplicate-elements",
                    (i,),
                    k,
                    f"{t.name(i)} read {k!r} = {v!r}: element(s) {', '.join(dups)} appear more than once",
                    (t.describe(i),),
                )
            )
        if (len(v) < len(lv) and v != lv[: len(v)] or len(v) == len(lv) and v != lv) and (
            k not in reported_incompat
        ):
            reported_incompat.add(k)
            cases.append(
                Case(
                    "incompatible-order",
                    (i,),
                    k,
                    f"reads of {k!r} disagree on its order: {v!r} is not a prefix of {lv!r}",
                    (t.describe(i), f"another read of {k!r} returned {lv!r}"),
                )
            )
        fk = failed.get(k)
        for e in v:
            if e in wk:
                continue
            if fk is not None and e in fk:
                w = fk[e]
                cases.append(
                    Case(
                        "G1a",
                        (i, w),
                        k,
                        f"aborted read: {t.name(i)} read {k!r} = {v!r}, including {e!r}, which failed "
                        f"{t.name(w)} appended",
                        (t.describe(w), t.describe(i)),
                    )
                )
            else:
                cases.append(
                    Case(
                        "garbage-read",
                        (i,),
                        k,
                        f"{t.name(i)} read {k!r} = {v!r}, including {e!r}, which no transaction appended",
                        (t.describe(i),),
                    )
                )
        e = v[-1]
        wl = wk.get(e)
        if wl is not None and wl != i and (k, e) in self.intermediate:
            self._g1b(i, k, v, wl, cases)

    def _dirty_updates(self, cases: list[Case]) -> None:
        t = self.txns
        for k, o in self.order.items():
            fk = self.failed.get(k)
            if not fk:
                continue
            wk = self.writer.get(k, {})
            aborted: int | None = None
            for e in o:
                if e in fk and e not in wk:
                    if aborted is None:
                        aborted = fk[e]
                    continue
                w = wk.get(e)
                if aborted is not None and w is not None and t.status[w] == OK:
                    cases.append(
                        Case(
                            "dirty-update",
                            (aborted, w),
                            k,
                            f"dirty update on {k!r}: committed {t.name(w)} appended {e!r} after the append "
                            f"of failed {t.name(aborted)} in {k!r}'s order {o!r}",
                            (t.describe(aborted), t.describe(w)),
                        )
                    )
                    break

    def _edges(self, g: Graph, reads: _Reads) -> None:
        status = self.txns.status
        ww_src: list[int] = []
        ww_dst: list[int] = []
        nexts: dict[object, list[int]] = {}  # key -> [writer of the first element at or after position j, or -1]
        for k, wk in self.writer.items():
            o = self.order.get(k, [])
            prev = -1
            for e in o:
                w = wk.get(e)
                if w is None:
                    continue
                if prev >= 0 and prev != w:
                    ww_src.append(prev)
                    ww_dst.append(w)
                prev = w
            pk = self.pos.get(k, {})
            unseen = [(e, w) for e, w in wk.items() if e not in pk and status[w] == OK]
            if unseen:
                self.unseen[k] = unseen
                if prev >= 0:
                    ww_src += [prev] * len(unseen)
                    ww_dst += [w for _, w in unseen]
            nxt = [-1] * (len(o) + 1)
            for j in range(len(o) - 1, -1, -1):
                w = wk.get(o[j])
                nxt[j] = nxt[j + 1] if w is None else w
            nexts[k] = nxt
        g.add_edges(ww_src, ww_dst, WW)
        self._read_edges(g, reads, nexts)

    def _read_edges(self, g: Graph, reads: _Reads, nexts: dict[object, list[int]]) -> None:
        """wr: the writer of a read's last element before the reader; rw: the reader before the writer of the
        next element in the order (or, for a read of the whole order, before every unseen ok append)."""
        wr_src: list[int] = []
        wr_dst: list[int] = []
        rw_src: list[int] = []
        rw_dst: list[int] = []
        writer, pos = self.writer, self.pos
        for i, k, v in zip(reads.txn, reads.key, reads.value):
            wr_k = writer.get(k)
            if wr_k is None:
                continue
            p = -1
            if v:
                e = v[-1]
                wl = wr_k.get(e)
                if wl is not None:
                    wr_src.append(wl)
                    wr_dst.append(i)
                pl = pos[k].get(e)
                if pl is None:
                    continue
                p = pl
            nk = nexts[k]
            nxt = nk[p + 1]
            if nxt >= 0:
                rw_src.append(i)
                rw_dst.append(nxt)
            elif p == len(nk) - 2:
                for _, w in self.unseen.get(k, ()):
                    rw_src.append(i)
                    rw_dst.append(w)
        g.add_edges(wr_src, wr_dst, WR)
        g.add_edges(rw_src, rw_dst, RW)

    # --- explanations -------------------------------------------------------------------------------------

    def explain(self, u: int, v: int, rel: int) -> str:
        t = self.txns
        U, V = t.name(u), t.name(v)
        if rel == WW:
            for k, ev in self._appends(v):
                pk = self.pos.get(k, {})
                for ku, eu in self._appends(u):
                    if ku != k:
                        continue
                    if eu in pk and ev in pk and pk[eu] < pk[ev]:
                        return (
                            f"{U} < {V} because {U}'s append of {eu!r} to key {k!r} comes before {V}'s append "
                            f"of {ev!r} in the order reads of {k!r} show ({self._show(k)})"
                        )
                    if eu in pk and ev not in pk and pk[eu] == len(self.order[k]) - 1:
                        return (
                            f"{U} < {V} because {U}'s append of {eu!r} is the last element of key {k!r} any read "
                            f"saw ({self._show(k)}) and {V}'s committed append of {ev!r} is in none of them"
                        )
        elif rel == WR:
            for m in t.mops[v]:
                if m[0] == "r" and m[2] and isinstance(m[2], list | tuple):  # a read's value: a list, or None
                    k, val = m[1], m[2]
                    if self.writer.get(k, {}).get(val[-1]) == u:
                        return f"{U} < {V} because {V} read key {k!r} = {val!r}, which ends with {U}'s append of {val[-1]!r}"
        elif rel == RW:
            for m in t.mops[u]:
                if m[0] != "r":
                    continue
                k, val = m[1], (m[2] if isinstance(m[2], list | tuple) else [])  # a read's value: a list, or None
                for kv, ev in self._appends(v):
                    if kv == k and ev not in val:
                        return (
                            f"{U} < {V} because {U} read key {k!r} = {val!r}, which lacks {V}'s append of {ev!r} "
                            f"(so {U} read an earlier version than the one {V} wrote)"
                        )
        return f"{U} < {V} by a dependency on the keys they share"

    def _appends(self, i: int) -> list[tuple[object, object]]:
        return [(m[1], m[2]) for m in self.txns.mops[i] if m[0] == "append"]

    def _show(self, k: object) -> str:
        o = self.order.get(k, [])
        return repr(o) if len(o) <= 12 else f"[{', '.join(map(repr, o[:5]))}, ... {len(o) - 10} more ..., " + (
            ", ".join(map(repr, o[-5:])) + "]"
        )
