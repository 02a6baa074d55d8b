"""The transaction dependency graph: integer nodes, edges in flat arrays, CSR adjacency, iterative Tarjan.

Owns the relation bits (ww, wr, rw, process, realtime), `Graph` (append-only edge arrays: no per-edge objects,
so a million-transaction history fits in memory), its compressed adjacency, the strongly connected components
(iterative Tarjan, no recursion limit) and the small per-component adjacency the cycle search walks. Does not
own how edges are inferred (workload analyzers) nor which cycles mean what (cycles.py).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

WW = 1
WR = 2
RW = 4
PROCESS = 8
REALTIME = 16
DATA = WW | WR | RW
REL_NAMES: dict[int, str] = {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}


class Graph:
    """Edges u -> v labelled with a relation bit; duplicates are allowed and merged when read."""

    __slots__ = ("dst", "n", "rel", "src")

    def __init__(self, n: int) -> None:
        self.n = n
        self.src = array("i")
        self.dst = array("i")
        self.rel = array("B")

    def add(self, u: int, v: int, rel: int) -> None:
        if u != v:
            self.src.append(u)
            self.dst.append(v)
            self.rel.append(rel)

    def __len__(self) -> int:
        return len(self.src)

    def csr(self) -> Csr:
        """Adjacency in compressed sparse rows, duplicate (u, v) edges merged into one relation mask."""
        n = self.n
        if not len(self.src):
            return Csr([0] * (n + 1), [], [])
        src = np.frombuffer(self.src, dtype=np.int32).astype(np.int64)
        dst = np.frombuffer(self.dst, dtype=np.int32).astype(np.int64)
        rel = np.frombuffer(self.rel, dtype=np.uint8)
        key = src * n + dst
        order = np.argsort(key, kind="stable")
        key = key[order]
        rel = rel[order]
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        masks = np.bitwise_or.reduceat(rel, starts)
        ukey = key[starts]
        usrc = ukey // n
        udst = ukey % n
        counts = np.bincount(usrc, minlength=n)
        offs = np.concatenate(([0], np.cumsum(counts)))
        return Csr(offs.tolist(), udst.tolist(), masks.tolist())


@dataclass(frozen=True, slots=True)
class Csr:
    """Out-edges of node u are dst[offs[u]:offs[u+1]] with relation masks mask[...]."""

    offs: list[int]
    dst: list[int]
    mask: list[int]

    def edge_count(self) -> int:
        return len(self.dst)

    def sccs(self) -> list[list[int]]:
        """Strongly connected components with more than one node (iterative Tarjan)."""
        offs, dst = self.offs, self.dst
        n = len(offs) - 1
        index = [-1] * n
        low = [0] * n
        onstack = bytearray(n)
        stack: list[int] = []
        out: list[list[int]] = []
        counter = 0
        for root in range(n):
            if index[root] != -1 or offs[root] == offs[root + 1]:
                continue
            index[root] = low[root] = counter
            counter += 1
            stack.append(root)
            onstack[root] = 1
            work = [(root, offs[root])]
            while work:
                v, i = work[-1]
                end = offs[v + 1]
                descended = False
                while i < end:
                    w = dst[i]
                    i += 1
                    if index[w] == -1:
                        work[-1] = (v, i)
                        index[w] = low[w] = counter
                        counter += 1
                        stack.append(w)
                        onstack[w] = 1
                        work.append((w, offs[w]))
                        descended = True
                        break
                    if onstack[w] and index[w] < low[v]:
                        low[v] = index[w]
                if descended:
                    continue
                work.pop()
                if low[v] == index[v]:
                    w = stack.pop()
                    onstack[w] = 0
                    if w != v:
                        comp = [w]
                        while w != v:
                            w = stack.pop()
                            onstack[w] = 0
                            comp.append(w)
                        out.append(comp)
                if work:
                    u = work[-1][0]
                    low[u] = min(low[u], low[v])
        return out

    def subgraph(self, nodes: list[int]) -> dict[int, dict[int, int]]:
        """Adjacency {u: {v: mask}} restricted to `nodes`."""
        members = set(nodes)
        offs, dst, mask = self.offs, self.dst, self.mask
        adj: dict[int, dict[int, int]] = {}
        for u in nodes:
            row: dict[int, int] = {}
            for i in range(offs[u], offs[u + 1]):
                v = dst[i]
                if v in members:
                    row[v] = mask[i]
            adj[u] = row
        return adj
