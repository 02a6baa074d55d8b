"""The transaction dependency graph: integer nodes, edges in flat arrays, CSR adjacency in numpy, SCCs by scipy.

Owns the relation bits (ww, wr, rw, process, realtime), `Graph` (append-only edge arrays: no per-edge objects,
so a million-transaction history fits in memory; analyzers add edges in batches), its compressed adjacency (numpy
arrays), the strongly connected components (scipy.sparse.csgraph, in C, no recursion limit) and the small
per-component adjacency the cycle search walks. Does not
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
    """Edges u -> v labelled with a relation bit; duplicates and self-loops are allowed when added and merged
    (duplicates) or dropped (self-loops) when read."""

    __slots__ = ("dst", "n", "rel", "src")

    def __init__(self, n: int) -> None:
        self.n = n
        self.src = array("i")
        self.dst = array("i")
        self.rel = array("B")

    def add(self, u: int, v: int, rel: int) -> None:
        self.src.append(u)
        self.dst.append(v)
        self.rel.append(rel)

    def add_edges(self, src: list[int], dst: list[int], rel: int) -> None:
        """Edges src[i] -> dst[i], all labelled `rel`: one call per batch instead of one per edge."""
        self.src.extend(src)
        self.dst.extend(dst)
        self.rel.extend(bytes((rel,)) * len(src))

    def __len__(self) -> int:
        return len(self.src)

    def csr(self) -> Csr:
        """Adjacency in compressed sparse rows, duplicate (u, v) edges merged into one relation mask."""
        n = self.n
        src = np.frombuffer(self.src, dtype=np.int32).astype(np.int64)
        dst = np.frombuffer(self.dst, dtype=np.int32).astype(np.int64)
        rel = np.frombuffer(self.rel, dtype=np.uint8)
        keep = src != dst
        if not keep.all():
            src, dst, rel = src[keep], dst[keep], rel[keep]
        if not len(src):
            return Csr(np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.uint8))
        key = src * n + dst
        del src, dst
        order = np.argsort(key, kind="stable")
        key = key[order]
        rel = rel[order]
        del order
        starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
        masks = np.bitwise_or.reduceat(rel, starts)
        ukey = key[starts]
        del key
        counts = np.bincount(ukey // n, minlength=n)
        offs = np.concatenate(([0], np.cumsum(counts)))
        return Csr(offs, (ukey % n).astype(np.int32), masks)


@dataclass(frozen=True, slots=True)
class Csr:
    """Out-edges of node u are dst[offs[u]:offs[u+1]] with relation masks mask[...] (numpy arrays)."""

    offs: np.ndarray
    dst: np.ndarray
    mask: np.ndarray

    def edge_count(self) -> int:
        return len(self.dst)

    def sccs(self) -> list[list[int]]:
        """Strongly connected components with more than one node (scipy's iterative Pearce/Tarjan, in C)."""
        from scipy.sparse import csr_array  # imported here: a second or so of start-up most commands never need
        from scipy.sparse.csgraph import connected_components

        n = len(self.offs) - 1
        if not len(self.dst):
            return []
        m = csr_array((np.ones(len(self.dst), dtype=np.int8), self.dst, self.offs), shape=(n, n))
        _, labels = connected_components(m, directed=True, connection="strong")
        sizes = np.bincount(labels)
        big = sizes[labels] > 1
        if not big.any():
            return []
        nodes = np.flatnonzero(big)
        order = np.argsort(labels[nodes], kind="stable")
        nodes, lab = nodes[order], labels[nodes][order]
        cuts = np.flatnonzero(lab[1:] != lab[:-1]) + 1
        return [c.tolist() for c in np.split(nodes, cuts)]

    def subgraph(self, nodes: list[int]) -> dict[int, dict[int, int]]:
        """Adjacency {u: {v: mask}} restricted to `nodes`, rows in `nodes` order, targets in increasing order."""
        members = set(nodes)
        offs, dst, mask = self.offs, self.dst, self.mask
        adj: dict[int, dict[int, int]] = {}
        for u in nodes:
            a, b = int(offs[u]), int(offs[u + 1])
            adj[u] = {v: m for v, m in zip(dst[a:b].tolist(), mask[a:b].tolist()) if v in members}
        return adj
