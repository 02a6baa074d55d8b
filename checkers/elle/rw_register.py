"""Read-write register analysis: version orders inferred per key, ww/wr/rw dependencies, non-cycle anomalies.

Owns what an rw-register history (micro-ops `["w", k, v]` and `["r", k, v]`, every written value unique per
key) shows: internal, G1a, G1b, lost-update and cyclic-versions; the per-key version graphs; and the
dependency edges. Does not own cycle search (cycles.py) nor verdicts (checker.py).

A transaction's external read of k is its first read of k before it writes k; its external write is its last
write of k. Version order edges v1 < v2 of a key come only from what the options allow us to assume:
  initial state   nil (never written) precedes every written version (always on, as in Elle);
  wfr-keys        a transaction that read v1 and then wrote v2 installed v2 after v1;
  sequential-keys each process observes a key's versions in order;
  linearizable-keys  if a completed before b began, the version a left precedes the one b first saw.
A key whose version graph has a cycle is reported as cyclic-versions and contributes no ww/rw edges.
"""

from __future__ import annotations

import itertools
from typing import Any

from checkers.elle.case import Analysis, Case
from checkers.elle.graph import RW, WR, WW, Graph
from checkers.elle.txns import FAIL, OK, Txns
from harness.errors import MalformedHistory

MOPS = frozenset(("w", "r"))
_NIL = ("~nil",)  # the initial version, distinct from any value a history can hold

# Why one version precedes another: (kind, txn, txn), put in words by RWRegister._why only when shown.
_Reason = tuple[int, int, int]
_BY_NIL_KIND, _BY_WFR, _BY_PROCESS, _BY_REALTIME = range(4)
_BY_NIL: _Reason = (_BY_NIL_KIND, -1, -1)


def _h(v: object) -> object:
    if v is None:
        return _NIL
    if isinstance(v, list):
        return tuple(_h(x) for x in v)
    return v


def _show(v: object) -> str:
    return "nil" if v is _NIL else repr(v)


class RWRegister:
    def __init__(self, txns: Txns, *, wfr: bool, sequential: bool, linearizable: bool) -> None:
        self.txns = txns
        self.wfr, self.sequential, self.linearizable = wfr, sequential, linearizable
        self.writer: dict[object, dict[object, int]] = {}  # key -> version -> txn with that external write
        self.readers: dict[object, dict[object, list[int]]] = {}  # key -> version -> ok txns reading it externally
        self.why: dict[object, dict[tuple[object, object], _Reason]] = {}  # key -> (v1, v2) -> why v1 < v2 (see _why)
        # per txn, its external reads / writes as flat tuples (k1, v1, k2, v2, ...): a million small dicts
        # would cost a few hundred MB; ext_r(i) / ext_w(i) give them back as dicts
        self._er: list[tuple[object, ...]] = []
        self._ew: list[tuple[object, ...]] = []

    def ext_r(self, i: int) -> dict[object, object]:
        x = self._er[i]
        return dict(zip(x[::2], x[1::2])) if x else {}

    def ext_w(self, i: int) -> dict[object, object]:
        x = self._ew[i]
        return dict(zip(x[::2], x[1::2])) if x else {}

    def run(self) -> Analysis:
        t = self.txns
        g = Graph(len(t))
        cases: list[Case] = []
        failed: dict[object, dict[object, int]] = {}
        middle: dict[object, dict[object, int]] = {}
        lost: dict[tuple[object, object], list[int]] = {}
        seen_w: dict[object, dict[object, int]] = {}  # key -> value -> first txn writing it (values are unique)
        status = t.status
        er_append, ew_append, chain = self._er.append, self._ew.append, itertools.chain.from_iterable
        for i, mops in enumerate(t.mops):
            st = status[i]
            if len(mops) > 1 and len({m[1] for m in mops}) < len(mops):
                er, ew = self._touched_twice(i, st, mops, seen_w, failed, middle, cases)
            else:
                er, ew = {}, {}
                for f, k, v in mops:
                    if f == "w":
                        if v is None:
                            continue  # a write of an unknown value (an unfilled invocation) names no version
                        hv = _h(v) if type(v) is list else v
                        self._unique(seen_w, k, hv, i)
                        if st == FAIL:
                            failed.setdefault(k, {}).setdefault(hv, i)
                        ew[k] = hv
                    elif st == OK:
                        er[k] = _NIL if v is None else _h(v) if type(v) is list else v
            er_append(tuple(chain(er.items())) if er else ())
            ew_append(tuple(chain(ew.items())) if ew else ())
            if st == FAIL:
                continue
            for k, hv in ew.items():
                self.writer.setdefault(k, {}).setdefault(hv, i)
            if st == OK:
                for k, hv in er.items():
                    self.readers.setdefault(k, {}).setdefault(hv, []).append(i)
                    if k in ew:
                        lost.setdefault((k, hv), []).append(i)
        self._lost_updates(lost, cases)
        self._aborted_reads(failed, middle, cases)
        versions = self._version_graph()
        self._edges(g, versions, cases)
        return Analysis(graph=g, cases=cases, explainer=self, keys=len(self.writer.keys() | self.readers.keys()))

    def _unique(self, seen_w: dict[object, dict[object, int]], k: object, hv: object, i: int) -> None:
        sk = seen_w.get(k)
        if sk is None:
            sk = seen_w[k] = {}
        prev = sk.setdefault(hv, i)
        if prev != i:
            t = self.txns
            raise MalformedHistory(
                f"rw-register needs every written value to be unique per key, but {_show(hv)} is "
                f"written to key {k!r} by both {t.name(prev)} and {t.name(i)} (a workload bug: "
                "the checker cannot tell them apart)"
            )

    def _touched_twice(
        self, i: int, st: int, mops: list[Any], seen_w: dict[object, dict[object, int]],
        failed: dict[object, dict[object, int]], middle: dict[object, dict[object, int]], cases: list[Case],
    ) -> tuple[dict[object, object], dict[object, object]]:
        """External reads and writes of a txn that touches some key twice, with what that alone shows
        (internal reads, intermediate writes)."""
        t = self.txns
        er: dict[object, object] = {}
        ew: dict[object, object] = {}
        state: dict[object, object] = {}
        for f, k, v in mops:
            hv = _h(v)
            if f == "w" and v is None:
                continue  # a write of an unknown value (an unfilled invocation) names no version
            if f == "w":
                self._unique(seen_w, k, hv, i)
                if st == FAIL:
                    failed.setdefault(k, {}).setdefault(hv, i)
                elif k in ew:
                    middle.setdefault(k, {}).setdefault(ew[k], i)
                ew[k] = hv
                state[k] = hv
            elif st == OK:
                if k in state and state[k] != hv:
                    cases.append(
                        Case(
                            "internal",
                            (i,),
                            k,
                            f"{t.name(i)} read {k!r} = {_show(hv)} but its own earlier operations "
                            f"imply {_show(state[k])}",
                            (t.describe(i),),
                        )
                    )
                if k not in state:
                    er[k] = hv
                state[k] = hv
        return er, ew

    def _lost_updates(self, lost: dict[tuple[object, object], list[int]], cases: list[Case]) -> None:
        """Ok transactions that all read one version of a key and all wrote that key."""
        t = self.txns
        for (k, hv), ts in lost.items():
            if len(ts) > 1:
                names = ", ".join(t.name(x) for x in ts)
                cases.append(
                    Case(
                        "lost-update",
                        tuple(ts),
                        k,
                        f"lost update on key {k!r}: {names} all read {_show(hv)} and all wrote {k!r}",
                        tuple(t.describe(x) for x in ts),
                    )
                )

    def _aborted_reads(self, failed: dict[object, dict[object, int]], middle: dict[object, dict[object, int]],
                       cases: list[Case]) -> None:
        """G1a (a read of a version only a failed transaction wrote) and G1b (of a version its writer overwrote)."""
        t = self.txns
        for k, rk in self.readers.items():
            wk = self.writer.get(k, {})
            for hv, rs in rk.items():
                if hv is _NIL or hv in wk:
                    continue
                w = failed.get(k, {}).get(hv)
                kind, why = ("G1a", "which only failed {w} wrote") if w is not None else ("", "")
                if w is None:
                    w = middle.get(k, {}).get(hv)
                    kind, why = ("G1b", "an intermediate value {w} overwrote") if w is not None else ("", "")
                if w is None:
                    continue
                for r in rs:
                    if r == w:
                        continue
                    cases.append(
                        Case(
                            kind,
                            (r, w),
                            k,
                            f"{t.name(r)} read {k!r} = {_show(hv)}, " + why.format(w=t.name(w)),
                            (t.describe(w), t.describe(r)),
                        )
                    )

    # --- version orders ---------------------------------------------------------------------------------

    def _version_graph(self) -> dict[object, dict[object, set[object]]]:
        t = self.txns
        vg: dict[object, dict[object, set[object]]] = {}

        def edge(k: object, a: object, b: object, why: _Reason) -> None:
            if a != b:
                succ = vg.setdefault(k, {}).setdefault(a, set())
                if b not in succ:
                    succ.add(b)
                    self.why.setdefault(k, {})[(a, b)] = why

        for k, rk in self.readers.items():
            if _NIL in rk:
                for hv in self.writer.get(k, {}):
                    edge(k, _NIL, hv, _BY_NIL)
        if self.wfr:
            status, ers, ews = t.status, self._er, self._ew
            for i in range(len(t)):
                if status[i] == OK and ers[i] and ews[i]:
                    ew = self.ext_w(i)
                    for k, hv in self.ext_r(i).items():
                        if k in ew:
                            edge(k, hv, ew[k], (_BY_WFR, i, i))
        oks = [i for i in range(len(t)) if t.status[i] == OK]
        if self.sequential:
            oks_by_start = sorted(oks, key=t.start.__getitem__)
            last: dict[tuple[object, object], tuple[object, int]] = {}
            for i in oks_by_start:
                p = t.process[i]
                for k, first, fin in self._observed(i):
                    prev = last.get((p, k))
                    if prev is not None:
                        edge(k, prev[0], first, (_BY_PROCESS, prev[1], i))
                    last[(p, k)] = (fin, i)
        if self.linearizable:
            events = sorted([(t.start[i], 0, i) for i in oks] + [(t.end[i], 1, i) for i in oks])
            frontier: dict[object, set[int]] = {}
            snap: dict[int, dict[object, tuple[int, ...]]] = {}
            for _, kind, i in events:
                obs = self._observed(i)
                if kind == 0:
                    snap[i] = {}
                    for k, first, _fin in obs:
                        fr = tuple(frontier.get(k, ()))
                        snap[i][k] = fr
                        for u in fr:
                            fin_u = self._final(u, k)
                            edge(k, fin_u, first, (_BY_REALTIME, u, i))
                else:
                    for k, _first, _fin in obs:
                        live = frontier.setdefault(k, set())
                        live.difference_update(snap[i].get(k, ()))
                        live.add(i)
                    snap.pop(i, None)
        return vg

    def _why(self, a: object, b: object, why: _Reason) -> str:
        """Why version a of a key precedes b, in words (kept as a small tuple until someone asks)."""
        name = self.txns.name
        kind, x, y = why
        if kind == _BY_WFR:
            return f"{name(x)} read {_show(a)} and then wrote {_show(b)}"
        if kind == _BY_PROCESS:
            return f"process {self.txns.process[y]} saw {_show(a)} in {name(x)} and then {_show(b)} in {name(y)}"
        if kind == _BY_REALTIME:
            return f"{name(x)} (which left {_show(a)}) completed before {name(y)} (which saw {_show(b)}) began"
        return "every written version follows the initial (nil) state"

    def _observed(self, i: int) -> list[tuple[object, object, object]]:
        """(key, first version seen, version left) for each key an ok txn touched."""
        er, ew = self.ext_r(i), self.ext_w(i)
        keys = list(er) + [k for k in ew if k not in er]
        return [(k, er.get(k, ew.get(k)), ew.get(k, er.get(k))) for k in keys]

    def _final(self, i: int, k: object) -> object:
        return self.ext_w(i).get(k, self.ext_r(i).get(k))

    def _edges(self, g: Graph, vg: dict[object, dict[object, set[object]]], cases: list[Case]) -> None:
        ww_src: list[int] = []
        ww_dst: list[int] = []
        rw_src: list[int] = []
        rw_dst: list[int] = []
        wr_src: list[int] = []
        wr_dst: list[int] = []
        for k, succ in vg.items():
            cyc = _find_cycle(succ)
            if cyc is not None:
                why = self.why[k]
                steps = tuple(f"{_show(a)} < {_show(b)}: {self._why(a, b, why[(a, b)])}"
                              for a, b in zip(cyc, cyc[1:] + cyc[:1]))
                cases.append(
                    Case(
                        "cyclic-versions",
                        tuple(sorted({w for v in cyc if (w := self.writer.get(k, {}).get(v)) is not None})),
                        k,
                        f"the versions of {k!r} must be ordered in a cycle: "
                        + " < ".join(_show(v) for v in cyc + cyc[:1]),
                        steps,
                    )
                )
                continue
            wk = self.writer.get(k, {})
            rk = self.readers.get(k, {})
            for a, bs in succ.items():
                wa = wk.get(a)
                ra = rk.get(a, ())
                for b in bs:
                    wb = wk.get(b)
                    if wb is None:
                        continue
                    if wa is not None:
                        ww_src.append(wa)
                        ww_dst.append(wb)
                    rw_src += ra
                    rw_dst += [wb] * len(ra)
        for k, rk in self.readers.items():
            wk = self.writer.get(k, {})
            for hv, rs in rk.items():
                w = wk.get(hv)
                if w is not None:
                    wr_src += [w] * len(rs)
                    wr_dst += rs
        g.add_edges(ww_src, ww_dst, WW)
        g.add_edges(wr_src, wr_dst, WR)
        g.add_edges(rw_src, rw_dst, RW)

    # --- explanations -------------------------------------------------------------------------------------

    def explain(self, u: int, v: int, rel: int) -> str:
        t = self.txns
        U, V = t.name(u), t.name(v)
        if rel == WR:
            for k, hv in self.ext_r(v).items():
                if self.ext_w(u).get(k) == hv:
                    return f"{U} < {V} because {V} read key {k!r} = {_show(hv)}, which {U} wrote"
        for k, hb in self.ext_w(v).items():
            why = self.why.get(k, {})
            a = self.ext_w(u).get(k) if rel == WW else self.ext_r(u).get(k)
            if a is not None and (a, hb) in why:
                did = "wrote" if rel == WW else "read"
                return (f"{U} < {V} because {U} {did} key {k!r} = {_show(a)} and {V} wrote {_show(hb)}, a later "
                        f"version ({self._why(a, hb, why[(a, hb)])})")
        return f"{U} < {V} by a dependency on the keys they share"


def _acyclic(succ: dict[object, set[object]]) -> bool:
    """Whether a version graph has no cycle (Kahn's algorithm; no sorting, unlike the search below)."""
    indeg: dict[object, int] = dict.fromkeys(succ, 0)
    for bs in succ.values():
        for b in bs:
            indeg[b] = indeg.get(b, 0) + 1
    ready = [a for a, d in indeg.items() if d == 0]
    done = 0
    while ready:
        a = ready.pop()
        done += 1
        for b in succ.get(a, ()):
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    return done == len(indeg)


def _find_cycle(succ: dict[object, set[object]]) -> list[object] | None:
    """One cycle of a small version graph (iterative DFS with colours, in a fixed order so the cycle named is
    reproducible), or None."""
    if _acyclic(succ):
        return None
    colour: dict[object, int] = {}
    for root in sorted(succ, key=repr):
        if root in colour:
            continue
        colour[root] = 1
        path = [root]
        its = [iter(sorted(succ.get(root, ()), key=repr))]
        while its:
            nxt = next(its[-1], None)
            if nxt is None:
                colour[path.pop()] = 2
                its.pop()
                continue
            c = colour.get(nxt, 0)
            if c == 1:
                return path[path.index(nxt):]
            if c == 0:
                colour[nxt] = 1
                path.append(nxt)
                its.append(iter(sorted(succ.get(nxt, ()), key=repr)))
        continue
    return None
