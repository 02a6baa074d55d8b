"""Property tests of the grudges and node specs: pure functions, checked over many node counts and seeds."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemeses.partition import grudge as gr
from nemeses.targets import majority, parse_specs, pick

nodes_st = st.integers(min_value=2, max_value=9).map(lambda n: [f"n{i}" for i in range(1, n + 1)])


def components(grudge: gr.Grudge) -> list[frozenset[str]]:
    return sorted({frozenset({n} | (set(grudge) - grudge[n] - {n})) for n in grudge}, key=sorted)


@given(nodes_st, st.integers(0, 10_000), st.sampled_from(gr.KINDS))
def test_every_grudge_is_well_formed(nodes: list[str], seed: int, kind: str) -> None:
    if kind in gr.NEEDS_THREE and len(nodes) < 3:
        with pytest.raises(ValueError, match="at least three nodes"):
            gr.make(kind, nodes, random.Random(seed))
        return
    g = gr.make(kind, nodes, random.Random(seed), primaries=nodes[:1])
    assert set(g) <= set(nodes)
    for n, drops in g.items():
        assert n not in drops and drops <= set(nodes)
    assert any(g.values())  # something is cut


@given(nodes_st, st.integers(0, 10_000), st.sampled_from(["halves", "random-halves", "one", "majority", "primaries"]))
def test_complete_grudges_are_symmetric_components(nodes: list[str], seed: int, kind: str) -> None:
    if kind == "majority" and len(nodes) < 3:
        return
    g = gr.make(kind, nodes, random.Random(seed), primaries=nodes[-1:])
    for a, drops in g.items():
        for b in drops:
            assert a in g[b]  # a cut both ways
    comps = components(g)
    assert sorted(n for c in comps for n in c) == sorted(nodes)
    sizes = sorted(len(c) for c in comps)
    if kind == "one":
        assert sizes[0] == 1
    if kind == "majority":
        assert sizes[-1] == majority(len(nodes))
    if kind in ("halves", "random-halves"):
        assert sizes == sorted([len(nodes) // 2, len(nodes) - len(nodes) // 2])


@given(nodes_st, st.integers(0, 10_000))
def test_majorities_ring_every_node_sees_a_majority(nodes: list[str], seed: int) -> None:
    if len(nodes) < 3:
        return
    g = gr.make("majorities-ring", nodes, random.Random(seed))
    seen = {n: frozenset(nodes) - g[n] for n in nodes}
    for n in nodes:
        assert n in seen[n] and len(seen[n]) == majority(len(nodes))
    assert len(set(seen.values())) > 1  # not everyone sees the same majority


@given(st.integers(3, 9), st.integers(0, 10_000))
def test_bridge_has_one_node_seeing_both_sides(n: int, seed: int) -> None:
    nodes = [f"n{i}" for i in range(n)]
    g = gr.make("bridge", nodes, random.Random(seed))
    (middle,) = [x for x in nodes if not g[x]]
    for x in nodes:
        assert middle not in g[x]


@given(nodes_st, st.integers(0, 10_000))
def test_one_way_cuts_only_the_victims_outgoing_packets(nodes: list[str], seed: int) -> None:
    g = gr.make("one-way", nodes, random.Random(seed))
    (victim,) = {d for drops in g.values() for d in drops}
    assert g[victim] == frozenset()
    assert all(g[n] == {victim} for n in nodes if n != victim)


def test_explicit_grudge_and_unknown_nodes() -> None:
    assert gr.to_value(gr.from_value({"n1": ["n2", "n1"]}, ["n1", "n2"])) == {"n1": ["n2"]}
    with pytest.raises(ValueError, match="unknown node"):
        gr.from_value({"n1": ["n9"]}, ["n1", "n2"])
    with pytest.raises(ValueError, match="unknown grudge"):
        gr.make("sideways", ["n1", "n2"], random.Random(0))


@given(st.integers(1, 9), st.integers(0, 10_000))
def test_node_specs_pick_the_right_counts(n: int, seed: int) -> None:
    nodes = [f"n{i}" for i in range(n)]
    rng = random.Random(seed)
    assert len(pick("one", nodes, rng)) == 1
    assert len(pick("minority", nodes, rng)) == majority(n) - 1
    assert len(pick("majority", nodes, rng)) == majority(n)
    assert pick("all", nodes, rng) == nodes
    assert pick("primaries", nodes, rng, primaries=["n0", "x"]) == ["n0"]


def test_parse_specs_rejects_unknown() -> None:
    assert parse_specs("one, majority") == ("one", "majority")
    with pytest.raises(ValueError, match="unknown node spec 'most'"):
        parse_specs("one,most")
