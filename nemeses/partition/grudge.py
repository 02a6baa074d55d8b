"""Grudges: who drops whose packets during a partition. Pure functions of the node list and an rng.

A grudge maps each node to the set of nodes whose packets it drops (as in Jepsen's `jepsen.nemesis`); a cut is
symmetric when both ends hold the grudge, one-way (asymmetric) when only one does. Owns the named shapes:

    halves           nodes in test order, split in two (the smaller half first)
    random-halves    the same on a shuffled order
    one              one random node isolated from all others
    majority         a random majority cut from the rest (for an even count: n/2+1 against n/2-1)
    majorities-ring  every node sees a majority (itself and its ring neighbours), no two see the same one
    bridge           two halves that only one node in the middle still sees both of
    primaries        every primary isolated from every other node
    one-way          one random node whose packets every other node drops; it still hears them

Does not touch the network (`nemeses.partition` applies grudges).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

Grudge = dict[str, frozenset[str]]

KINDS: tuple[str, ...] = (
    "halves", "random-halves", "one", "majority", "majorities-ring", "bridge", "primaries", "one-way",
)

NEEDS_THREE = ("majority", "majorities-ring", "bridge")


def complete(components: Sequence[Sequence[str]]) -> Grudge:
    """Every node drops every node outside its own component."""
    everyone = [n for c in components for n in c]
    grudge: Grudge = {}
    for c in components:
        inside = set(c)
        for n in c:
            grudge[n] = frozenset(x for x in everyone if x not in inside)
    return grudge


def halves(nodes: Sequence[str]) -> Grudge:
    k = len(nodes) // 2
    return complete([list(nodes[:k]), list(nodes[k:])])


def _shuffled(nodes: Sequence[str], rng: random.Random) -> list[str]:
    s = list(nodes)
    rng.shuffle(s)
    return s


def majorities_ring(nodes: Sequence[str], rng: random.Random) -> Grudge:
    """On a shuffled ring, node i sees the window of m = n//2+1 nodes around it and drops the rest. For an
    odd m the window is centred (cuts are symmetric); for an even m it leans forward, which makes some cuts
    one-way: with three nodes no symmetric choice of majorities exists."""
    ring = _shuffled(nodes, rng)
    n = len(ring)
    m = n // 2 + 1
    back = (m - 1) // 2
    grudge: Grudge = {}
    for i, node in enumerate(ring):
        sees = {ring[(i + d) % n] for d in range(-back, m - back)}
        grudge[node] = frozenset(x for x in ring if x not in sees)
    return grudge


def bridge(nodes: Sequence[str], rng: random.Random) -> Grudge:
    s = _shuffled(nodes, rng)
    k = len(s) // 2
    left, middle, right = s[:k], s[k], s[k + 1 :]
    grudge: Grudge = {n: frozenset(right) for n in left}
    grudge.update({n: frozenset(left) for n in right})
    grudge[middle] = frozenset()
    return grudge


def one_way(nodes: Sequence[str], rng: random.Random) -> Grudge:
    x = rng.choice(list(nodes))
    grudge: Grudge = {n: frozenset([x]) for n in nodes if n != x}
    grudge[x] = frozenset()
    return grudge


def make(kind: str, nodes: Sequence[str], rng: random.Random, primaries: Sequence[str] = ()) -> Grudge:
    """The grudge of `kind` over `nodes`. ValueError for an unknown kind or too few nodes."""
    nodes = list(nodes)
    if len(nodes) < 2:
        raise ValueError(f"a partition needs at least two nodes, not {len(nodes)}")
    if kind in NEEDS_THREE and len(nodes) < 3:
        raise ValueError(f"a {kind} partition needs at least three nodes (with two it cuts nothing)")
    if kind == "halves":
        return halves(nodes)
    if kind == "random-halves":
        return halves(_shuffled(nodes, rng))
    if kind == "one":
        s = _shuffled(nodes, rng)
        return complete([s[:1], s[1:]])
    if kind == "majority":
        s = _shuffled(nodes, rng)
        m = len(s) // 2 + 1
        return complete([s[:m], s[m:]])
    if kind == "majorities-ring":
        return majorities_ring(nodes, rng)
    if kind == "bridge":
        return bridge(nodes, rng)
    if kind == "primaries":
        ps = [p for p in primaries if p in nodes]
        rest = [n for n in nodes if n not in ps]
        return complete([[p] for p in ps] + ([rest] if rest else []))
    if kind == "one-way":
        return one_way(nodes, rng)
    raise ValueError(f"unknown grudge {kind!r} (one of {', '.join(KINDS)})")


def from_value(value: Mapping[str, Sequence[str]], nodes: Sequence[str]) -> Grudge:
    """An explicit grudge from a hand-written op value {node: [nodes it drops]}; ValueError on unknown nodes."""
    known = set(nodes)
    grudge: Grudge = {}
    for n, drops in value.items():
        bad = ({n} | set(drops)) - known
        if bad:
            raise ValueError(f"grudge names unknown node(s) {', '.join(sorted(bad))}")
        grudge[n] = frozenset(drops) - {n}
    return grudge


def to_value(grudge: Grudge) -> dict[str, list[str]]:
    """JSON-ready form for the history: {node: sorted nodes it drops}, nodes that drop nothing left out."""
    return {n: sorted(d) for n, d in sorted(grudge.items()) if d}
