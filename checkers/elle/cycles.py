"""Cycle search in one strongly connected component, and the naming of a cycle by its edges.

Owns the search specifications of Elle's cycle anomalies (G0, G1c, G-single, G-nonadjacent, G2 and their
-process / -realtime variants), a breadth-first search over (transaction, path-summary) states that finds one
shortest simple cycle per specification, the classification of a found cycle by the relations that explain
its steps, the per-component search budget (steps and seconds) whose exhaustion is reported as
"cycle-search-timeout" instead of hanging, and the cheap fallback that still proves which models a timed-out
component violates ("<model>-cycle-exists", as Elle). Does not own the graph (graph.py) nor the explanations
in words.

Each step of a cycle is explained by one relation, preferring data dependencies (ww, then wr, then rw) over
process and real-time order, as Elle's explainer does: a cycle whose every edge is also a data dependency is
reported as the plain anomaly, not its -realtime variant. A spec for a -process/-realtime variant therefore
only matches when at least one step has no data explanation.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from checkers.elle.graph import PROCESS, REALTIME, RW, WR, WW

# Path-summary state bits.
_LAST_RW = 1
_ADJ = 2
_WR = 4
_EXTRA = 8
_RW1 = 16
_RW2 = 32  # two or more rw steps

NONE, SINGLE, NONADJ, G2 = range(4)


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    start: int  # relation of the first step
    data: int  # data relations allowed on later steps (rw handled by `rw_mode`)
    rw_mode: int
    extra: int  # PROCESS, REALTIME or 0; when set, at least one step must be explained by it


@dataclass(frozen=True, slots=True)
class Cycle:
    kind: str
    nodes: tuple[int, ...]  # t0, t1, ..., tk-1; step i goes nodes[i] -> nodes[i+1 mod k]
    rels: tuple[int, ...]


def specs(extra: int) -> list[Spec]:
    """Plain specs, then (if `extra`) the same shapes requiring a process or real-time step."""
    out: list[Spec] = []
    for e in (0, extra) if extra else (0,):
        out += [
            Spec("G0", WW, WW, NONE, e),
            Spec("G1c", WR, WW | WR, NONE, e),
            Spec("G-single", RW, WW | WR, SINGLE, e),
            Spec("G-nonadjacent", RW, WW | WR, NONADJ, e),
            Spec("G2", RW, WW | WR, G2, e),
        ]
    return out


def classify(rels: Sequence[int]) -> str:
    """Elle's name for a cycle whose steps are explained by `rels`."""
    nrw = sum(1 for r in rels if r == RW)
    suffix = "-realtime" if REALTIME in rels else "-process" if PROCESS in rels else ""
    if nrw == 0:
        base = "G1c" if WR in rels else "G0"
    elif nrw == 1:
        base = "G-single-item"
    else:
        k = len(rels)
        adjacent = any(rels[i] == RW and rels[(i + 1) % k] == RW for i in range(k))
        base = "G2-item" if adjacent else "G-nonadjacent-item"
    return base + suffix


class Budget:
    """Per-component search budget: at most `steps` state expansions (0: no limit) and `seconds` of wall
    time (0: no limit). Steps make a timeout reproducible; seconds bound the worst case like Elle's
    cycle-search-timeout."""

    __slots__ = ("_deadline", "_used", "seconds", "steps")

    def __init__(self, steps: int, seconds: float) -> None:
        self.steps = steps
        self.seconds = seconds
        self._used = 0
        self._deadline = time.monotonic() + seconds if seconds > 0 else 0.0

    def spend(self, n: int) -> bool:
        """Account n steps; False when the budget is exhausted."""
        self._used += n
        if self.steps and self._used > self.steps:
            return False
        return not (self._deadline and (self._used & 0x3FF) < n and time.monotonic() > self._deadline)

    def expired(self) -> bool:
        return bool(self.steps and self._used > self.steps) or bool(
            self._deadline and time.monotonic() > self._deadline
        )


class SearchTimeout(Exception):
    pass


def explained(m: int) -> int:
    """The relation that explains an edge with mask m: data first (ww, wr, rw), then process, then real time."""
    for rel in (WW, WR, RW, PROCESS, REALTIME):
        if m & rel:
            return rel
    return 0


def _step(spec: Spec, m: int, s: int) -> tuple[int, int]:
    """(relation explaining an edge with mask m, new state) when the edge may be taken in state s; (0, 0) if
    not. The explanation depends on the edge alone, so a search never calls a data edge real-time order."""
    rel = explained(m)
    if rel == WW:
        return (WW, s & ~_LAST_RW) if spec.data & WW else (0, 0)
    if rel == WR:
        return (WR, (s & ~_LAST_RW) | _WR) if spec.data & WR else (0, 0)
    if rel == RW:
        mode = spec.rw_mode
        if mode == G2 or (mode == NONADJ and not s & _LAST_RW):
            ns = s | _LAST_RW
            if s & _LAST_RW:
                ns |= _ADJ
            ns = ns | _RW2 if s & (_RW1 | _RW2) else ns | _RW1
            return RW, ns
        return 0, 0
    if rel and rel == spec.extra:
        return rel, (s & ~_LAST_RW) | _EXTRA
    return 0, 0


def _accepts(spec: Spec, s: int) -> bool:
    if spec.extra and not s & _EXTRA:
        return False
    mode = spec.rw_mode
    if mode == NONADJ:
        return bool(s & _RW2) and not s & _LAST_RW
    if mode == G2:
        return bool(s & _RW2) and bool(s & (_ADJ | _LAST_RW))
    return True


def _initial(spec: Spec) -> int:
    if spec.start == RW:
        return _LAST_RW | _RW1
    if spec.start == WR:
        return _WR
    return 0


def _allowed_mask(spec: Spec) -> int:
    return spec.data | (RW if spec.rw_mode != NONE else 0) | spec.extra


def _components(adj: dict[int, dict[int, int]], allowed: int) -> dict[int, int]:
    """Node -> component id in the subgraph of edges explained by an allowed relation (iterative Tarjan);
    nodes in trivial components are left out."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    on: set[int] = set()
    stack: list[int] = []
    comp: dict[int, int] = {}
    counter = 0
    ncomp = 0
    for root, row in adj.items():
        if root in index:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        work = [(root, iter(row.items()))]
        while work:
            v, it = work[-1]
            descended = False
            for w, m in it:
                if not explained(m) & allowed:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(adj[w].items())))
                    descended = True
                    break
                if w in on and index[w] < low[v]:
                    low[v] = index[w]
            if descended:
                continue
            work.pop()
            if low[v] == index[v]:
                members = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    members.append(w)
                    if w == v:
                        break
                if len(members) > 1:
                    for w in members:
                        comp[w] = ncomp
                    ncomp += 1
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
    return comp


def _search(spec: Spec, adj: dict[int, dict[int, int]], order: list[int], budget: Budget) -> Cycle | None:
    s0 = _initial(spec)
    comp = _components(adj, _allowed_mask(spec))
    for a in order:
        ca = comp.get(a)
        if ca is None:
            continue
        for b, m in adj[a].items():
            if explained(m) != spec.start or comp.get(b) != ca:
                continue
            # BFS from b back to a inside their component; keys are node * 64 + state.
            start_key = b * 64 + s0
            parent: dict[int, tuple[int, int]] = {start_key: (-1, spec.start)}
            queue = deque((start_key,))
            while queue:
                if not budget.spend(1):
                    raise SearchTimeout
                key = queue.popleft()
                u, s = divmod(key, 64)
                for v, mv in adj[u].items():
                    if comp.get(v) != ca:
                        continue
                    rel, ns = _step(spec, mv, s)
                    if not rel:
                        continue
                    if v == a:
                        if _accepts(spec, ns):
                            cyc = _rebuild(a, key, rel, parent)
                            if cyc is not None:
                                return cyc
                        continue
                    nk = v * 64 + ns
                    if nk not in parent:
                        parent[nk] = (key, rel)
                        queue.append(nk)
    return None


def _rebuild(a: int, key: int, closing_rel: int, parent: dict[int, tuple[int, int]]) -> Cycle | None:
    """The cycle a -> ... -> (key's node) -> a, or None if the walk repeats a node."""
    nodes: list[int] = []
    rels: list[int] = [closing_rel]
    k = key
    while k != -1:
        nodes.append(k // 64)
        pk, rel = parent[k]
        rels.append(rel)
        k = pk
    nodes.append(a)
    nodes.reverse()
    rels.reverse()  # rels[0] is the start step a -> nodes[1]
    if len(set(nodes)) != len(nodes):
        return None
    return Cycle(classify(rels), tuple(nodes), tuple(rels))


def search_component(
    adj: dict[int, dict[int, int]], extra: int, steps: int, seconds: float
) -> tuple[list[Cycle], bool]:
    """One cycle per anomaly type found in this component (types named by `classify`), and whether some
    spec's search ran out of budget. Each spec gets an equal share of the component's budget, so a search
    that cannot finish does not starve the others."""
    order = sorted(adj)
    found: dict[str, Cycle] = {}
    masks = 0
    for row in adj.values():
        for m in row.values():
            masks |= m
    todo = [
        spec
        for spec in specs(extra)
        if masks & spec.start
        and not (spec.extra and not masks & spec.extra)
        and not (spec.rw_mode in (NONADJ, G2) and not masks & RW)
    ]
    timed_out = False
    for spec in todo:
        budget = Budget(max(1, steps // len(todo)) if steps else 0, seconds / len(todo) if seconds else 0.0)
        try:
            cyc = _search(spec, adj, order, budget)
        except SearchTimeout:
            timed_out = True
            continue
        if cyc is not None and cyc.kind not in found:
            found[cyc.kind] = cyc
    return list(found.values()), timed_out


def _has_cycle(nodes: list[int], succ: dict[int, set[int]]) -> bool:
    """Whether a small directed graph (self-loops count) has a cycle: Kahn's algorithm."""
    indeg = dict.fromkeys(nodes, 0)
    for u in nodes:
        for v in succ.get(u, ()):
            if u == v:
                return True
            indeg[v] += 1
    queue = deque(u for u in nodes if indeg[u] == 0)
    seen = 0
    while queue:
        u = queue.popleft()
        seen += 1
        for v in succ.get(u, ()):
            indeg[v] -= 1
            if indeg[v] == 0:
                queue.append(v)
    return seen < len(nodes)


_STRONG = {0: "", PROCESS: "strong-session-", REALTIME: "strong-"}


def cycle_exists(adj: dict[int, dict[int, int]], extra: int) -> list[str]:
    """When the search ran out of budget: which models a cycle in this component certainly violates, as
    Elle's "<model>-cycle-exists" anomalies. Read committed: a cycle of ww/wr edges; snapshot isolation: a
    cycle of the composition D ; rw? with D = ww/wr edges (Cerone and Gotsman's characterisation: SI forbids
    exactly the cycles without two adjacent anti-dependencies); serializable: any cycle. Each is first
    checked without process / real-time edges, then with them (naming the strong variant)."""
    nodes = sorted(adj)
    out: list[str] = []
    for e in (0, extra) if extra else (0,):
        d_mask = WW | WR | e
        d: dict[int, set[int]] = {u: {v for v, m in row.items() if explained(m) & d_mask} for u, row in adj.items()}
        rw: dict[int, set[int]] = {u: {v for v, m in row.items() if explained(m) == RW} for u, row in adj.items()}
        allm: dict[int, set[int]] = {u: {v for v, m in row.items() if explained(m) & (d_mask | RW)}
                                     for u, row in adj.items()}
        comp: dict[int, set[int]] = {u: set(vs) | {w for v in vs for w in rw.get(v, ())} for u, vs in d.items()}
        for name, succ in (("read-committed", d), ("snapshot-isolation", comp), ("serializable", allm)):
            if _has_cycle(nodes, succ):
                model = "strict-serializable" if (name == "serializable" and e == REALTIME) else _STRONG[e] + name
                out.append(f"{model}-cycle-exists")
                break
        if out:
            break
    return out
