"""Choosing the nodes a fault hits: node specs `one`, `minority`, `majority`, `minority-third`, `primaries`,
`all`, or a comma-free node name.

Owns `NODE_SPECS`, `parse_specs` (option parser for `kill-targets=one,majority`), `select_nodes`,
`targets_of` (the nodes a fault op's value names), `draw_targets` (the same, redrawing among a family's specs
when the one asked names no node at that moment) and `require_targets`. Specs count and choose among the nodes that run the system (`harness.db.active_nodes`), never
idle ones: a fault on a node that runs nothing tests nothing. `require_targets` is what every nemesis package
calls at build time, so that a fault family whose targets would run nothing is refused before the run. Random
choices draw from the rng passed in (the nemesis stream `test.nemesis_rng` when a nemesis picks nodes while
it performs an op), never from `random`. Does not inject anything.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.db import HasPrimaries, active_nodes
from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.test import Test

NODE_SPECS: tuple[str, ...] = ("one", "minority", "majority", "minority-third", "primaries", "all")


def majority(n: int) -> int:
    return n // 2 + 1


def parse_specs(text: str) -> tuple[str, ...]:
    """`"one,majority"` -> ("one", "majority"); ValueError naming an unknown spec."""
    specs = tuple(s.strip() for s in text.split(",") if s.strip())
    if not specs:
        raise ValueError("name at least one node spec")
    for s in specs:
        if s not in NODE_SPECS:
            raise ValueError(f"unknown node spec {s!r} (one of {', '.join(NODE_SPECS)})")
    return specs


def pick(spec: str, nodes: Sequence[str], rng: random.Random, primaries: Sequence[str] = ()) -> list[str]:
    """The nodes `spec` names, chosen with `rng` (pure: no I/O; primaries are passed in)."""
    nodes = list(nodes)
    n = len(nodes)
    shuffled = nodes[:]
    rng.shuffle(shuffled)
    if spec == "one":
        chosen = shuffled[:1]
    elif spec == "minority":
        chosen = shuffled[: majority(n) - 1]
    elif spec == "majority":
        chosen = shuffled[: majority(n)]
    elif spec == "minority-third":
        chosen = shuffled[: max(1, n // 3)] if n > 2 else shuffled[:1]
    elif spec == "primaries":
        chosen = [p for p in primaries if p in nodes]
    elif spec == "all":
        chosen = nodes
    else:
        raise ValueError(f"unknown node spec {spec!r}")
    return sorted(chosen, key=nodes.index)


def select_nodes(test: Test, spec: str, among: Sequence[str] | None = None) -> list[str]:
    """The nodes running the system that `spec` names now (asks the system for its primaries when needed), drawn
    from `among` when given (a fault that needs a live process draws from the nodes where one runs)."""
    primaries: Sequence[str] = ()
    if spec == "primaries" and isinstance(test.db, HasPrimaries):
        primaries = test.db.primaries(test)
    return pick(spec, active_nodes(test) if among is None else among, test.nemesis_rng, primaries)


def require_targets(test: Test, who: str, at_least: int = 1) -> tuple[str, ...]:
    """The nodes that run the system; BadInput before the run when fewer than `at_least` do (1 for a fault on a
    node, 2 for a fault on the links between nodes), since the fault would hit nodes that run nothing."""
    active = active_nodes(test)
    if len(active) >= at_least:
        return active
    idle = [n for n in test.nodes if n not in active]
    where = f"only on {', '.join(active)}" if active else "on no node"
    what = "a node" if at_least == 1 else f"at least {at_least} nodes"
    raise BadInput(f"{who} needs {what} running {test.options.system}, but it runs {where} "
                   f"({', '.join(idle)} run nothing): the fault would test nothing")


def targets_of(test: Test, value: object, among: Sequence[str] | None = None) -> tuple[list[str], str | None]:
    """Nodes an op value names (a node spec, drawn from `among` when given, or a list of nodes), and a note when
    there are none. ValueError for a node the test does not have or one that runs nothing of the system."""
    if isinstance(value, (list, tuple)):
        unknown = [n for n in value if n not in test.nodes]
        if unknown:
            raise ValueError(f"unknown node(s) {', '.join(map(str, unknown))}")
        idle = [n for n in value if n not in active_nodes(test)]
        if idle:
            raise ValueError(f"{', '.join(map(str, idle))} run(s) nothing of {test.options.system}")
        return [str(n) for n in value], None
    spec = str(value or "one")
    nodes = select_nodes(test, spec, among)
    return nodes, (None if nodes else f"no node matches {spec!r} now")


@dataclass(frozen=True, kw_only=True)
class Drawn:
    """The nodes a fault op acts on: `nodes` ([] when no spec named any), `note` why there are none, and
    `redrawn` saying which spec stood in for the one asked when that one named no node."""

    nodes: list[str]
    note: str | None = None
    redrawn: str | None = None


def draw_targets(test: Test, value: object, specs: Sequence[str], among: Sequence[str] | None = None) -> Drawn:
    """The nodes an op value names, as `targets_of`; when it is a spec that names no node now (`primaries` while
    no leader exists, after a majority was killed), the other specs of `specs` are tried in an order drawn from
    the nemesis stream (`test.nemesis_rng`: the seed's ops, drawn by the generator, stay the same) and the first
    that names a node stands in. `nodes` is empty only when no spec names a node. ValueError as `targets_of`."""
    nodes, note = targets_of(test, value, among)
    if nodes or isinstance(value, (list, tuple)):
        return Drawn(nodes=nodes, note=note)
    asked = str(value or "one")
    others = [s for s in specs if s != asked]
    test.nemesis_rng.shuffle(others)
    for spec in others:
        nodes = select_nodes(test, spec, among)
        if nodes:
            return Drawn(nodes=nodes, redrawn=f"{asked!r} named no node now; drew {spec!r} instead")
    tried = ", ".join(repr(s) for s in [asked, *others])
    return Drawn(nodes=[], note=f"no node matches {tried} now")
