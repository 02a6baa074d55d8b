"""The `swizzle-clog` fault family (after FoundationDB's swizzle-clogging): cut the links of a random subset
of nodes one node at a time over a few seconds, then restore them one at a time in another order. Slowly
spreading and healing cuts in shifting orders finds more bugs than one clean partition.

Ops: `start-clog` {"nodes": list or spec (default: a random non-empty subset), "seconds": spread} cuts, in a
random order, every link of each chosen node (both directions, iptables DROP in the chain HARNESS-CLOG on both
ends) and completes with the order and the time of each cut, and the evidence that the cuts hold once all are
made (`nemeses.probe.link_evidence`: TCP connects between every ordered pair of nodes); `stop-clog` {"seconds": spread} restores them
node by node in another random order (never the same order when there is a choice). Teardown removes the
chain; the chains are in the ledger (kind "nemesis-iptables").

Options: `clog-seconds` (spread of cuts and of restores, default 3).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.evidence import with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.net.iptables import ChainSet
from nemeses.probe import LinkPlan, link_evidence
from nemeses.remotes import require_remotes
from nemeses.targets import require_targets, targets_of
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)

if TYPE_CHECKING:
    from harness.test import Test

CHAIN = "HARNESS-CLOG"
START, STOP = "start-clog", "stop-clog"
FS = frozenset({START, STOP})


def restore_order(cut: Sequence[str], rng: random.Random) -> list[str]:
    """A random order of `cut` different from `cut` itself whenever more than one order exists."""
    order = list(cut)
    if len(order) < 2:
        return order
    while order == list(cut):
        rng.shuffle(order)
    return order


class SwizzleClog:
    """Cuts and restores the links of chosen nodes one node at a time."""

    fs = FS

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.chains = ChainSet(CHAIN, "nemesis swizzle-clog")
        self.clogged: list[str] = []  # in cut order
        self.rules: dict[str, list[tuple[str, list[str]]]] = {}  # clogged node -> (node holding rule, rule)

    def setup(self, test: Test) -> None:
        self.chains.check_available(test)

    def _cut(self, test: Test, x: str) -> None:
        rules: list[tuple[str, list[str]]] = []
        for y in test.nodes:
            if y == x:
                continue
            rules.append((y, ["-s", test.node_host(x), "-j", "DROP"]))
            rules.append((x, ["-s", test.node_host(y), "-j", "DROP"]))
        self.rules[x] = rules
        self.clogged.append(x)
        for holder, rule in rules:
            self.chains.add_rules(test, holder, [rule])

    def _restore(self, test: Test, x: str) -> None:
        for holder, rule in self.rules.pop(x, []):
            self.chains.delete_rule(test, holder, rule)
        self.clogged.remove(x)

    def _one_by_one(self, test: Test, nodes: list[str], seconds: float, fn: Callable[[Test, str], None]) -> list[float]:
        t0 = time.monotonic()
        step = seconds / len(nodes) if nodes else 0.0
        at = []
        for i, n in enumerate(nodes):
            wait = t0 + i * step - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            fn(test, n)
            at.append(round(time.monotonic() - t0, 3))
        return at

    def invoke(self, test: Test, op: Op) -> Op:
        v: Mapping[str, Any] = op.value if isinstance(op.value, Mapping) else {}
        seconds = float(v.get("seconds", self.seconds))
        if op.f == START:
            try:
                if "nodes" in v:
                    nodes, _ = targets_of(test, v["nodes"])
                else:
                    k = test.nemesis_rng.randint(1, len(test.nodes))
                    nodes = test.nemesis_rng.sample(list(test.nodes), k)
            except ValueError as e:
                return op.replace(type="info", error=f"swizzle-clog: {e}")
            nodes = [n for n in nodes if n not in self.clogged]
            test.nemesis_rng.shuffle(nodes)
            at = self._one_by_one(test, nodes, seconds, self._cut)
            cut = frozenset(pair for x in self.clogged for y in test.nodes if y != x for pair in ((x, y), (y, x)))
            evidence = link_evidence(test, LinkPlan(cut=cut, nodes=tuple(test.nodes)), "swizzle-clog")
            return op.replace(type="info", value=with_evidence({"order": nodes, "at_s": at}, evidence))
        if op.f == STOP:
            order = restore_order(self.clogged, test.nemesis_rng)
            at = self._one_by_one(test, order, seconds, self._restore)
            self.chains.flush(test)
            return op.replace(type="info", value={"order": order, "at_s": at})
        return op.replace(type="info", error=f"swizzle-clog does not handle {op.f!r}")

    def teardown(self, test: Test) -> None:
        self.clogged.clear()
        self.rules.clear()
        self.chains.teardown(test)

    def residue(self, test: Test) -> list[str]:
        return self.chains.residue(test)


def _seconds(s: str) -> float:
    v = float(s)
    if v < 0:
        raise ValueError("seconds >= 0")
    return v


class SwizzlePlugin:
    """The `harness.nemeses` plugin `swizzle-clog`."""

    name = "swizzle-clog"
    fs = FS  # the ops its nemesis handles
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="clog-seconds", default=3.0, parse=_seconds, help="spread of the cuts and of the restores"),
        SCHEDULE_SPEC,
    )

    def package(self, test: Test) -> Package:
        if len(test.nodes) < 2:
            raise BadInput("nemesis swizzle-clog needs at least two nodes")
        require_remotes(test, "nemesis swizzle-clog")
        require_targets(test, "nemesis swizzle-clog", 2)
        gen = family_generator(test, "swizzle-clog", FS, default_schedule(test, {"f": START}, {"f": STOP}))
        return Package(
            name="swizzle-clog", nemesis=SwizzleClog(float(test.nemesis_opts.get("clog-seconds", 3.0))),
            generator=gen, final_generator={"f": STOP, "value": {"seconds": 0}}, label="swizzle-clog",
            start_fs=frozenset({START}), stop_fs=frozenset({STOP}),
        )


PLUGIN = SwizzlePlugin()
