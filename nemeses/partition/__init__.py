"""The `partition` fault family: network partitions by iptables DROP rules in the harness's own chain
HARNESS-PART on every node (inside its namespace or container), jumped to from INPUT.

Ops: `start-partition` with value a grudge kind (see `nemeses.partition.grudge`) or an explicit grudge
{node: [nodes it drops]}; it heals any earlier partition first and completes with {"kind", "grudge"} saying
exactly which cuts were made, and the evidence that they hold (`nemeses.probe.link_evidence`: a TCP connect
between every ordered pair of nodes, which must time out across a cut; an empty grudge, or cuts only between
nodes on which nothing listens, acted on nothing). `stop-partition` flushes the chain on every node. Teardown removes the chain and
its jump; `residue` reports any left. Each node's chain is in the ledger before it exists (kind
"nemesis-iptables"), so `harness cleanup` removes it after a crash of the harness.

Options: `partition-grudge=one,majority,...` (the kinds the schedule draws from with the test's rng; default:
one, majority, majorities-ring, bridge, one-way, and primaries when the system can name them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from harness.control import on_all
from harness.db import HasPrimaries, active_nodes
from harness.errors import BadInput
from harness.evidence import with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.net.iptables import ChainSet
from nemeses.partition import grudge as grudges
from nemeses.probe import LinkPlan, link_evidence
from nemeses.remotes import require_remotes
from nemeses.targets import require_targets
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)

if TYPE_CHECKING:
    from harness.test import Test

CHAIN = "HARNESS-PART"
START, STOP = "start-partition", "stop-partition"
FS = frozenset({START, STOP})
DEFAULT_KINDS = ("one", "majority", "majorities-ring", "bridge", "one-way")


def _parse_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    if not kinds:
        raise ValueError("name at least one grudge")
    for k in kinds:
        if k not in grudges.KINDS:
            raise ValueError(f"unknown grudge {k!r} (one of {', '.join(grudges.KINDS)})")
    return kinds


OPTION_SPECS: Sequence[OptionSpec] = (
    OptionSpec(name="partition-grudge", default=(), parse=_parse_kinds,
               help="grudge kinds to draw from: " + ", ".join(grudges.KINDS)),
    SCHEDULE_SPEC,
)


def apply_grudge(chains: ChainSet, test: Test, grudge: grudges.Grudge) -> None:
    """DROP, on each node, packets from the nodes it holds a grudge against; on every node at once (a fault on
    nine hosts should start in the time one host takes)."""
    on_all(sorted(n for n, drops in grudge.items() if drops), lambda node: chains.add_rules(
        test, node, [["-s", test.node_host(d), "-j", "DROP"] for d in sorted(grudge[node])]))


class PartitionNemesis:
    """Starts and heals partitions. `current` is the grudge in force (empty when healed)."""

    fs = FS

    def __init__(self) -> None:
        self.chains = ChainSet(CHAIN, "nemesis partition")
        self.current: dict[str, list[str]] = {}

    def setup(self, test: Test) -> None:
        self.chains.check_available(test)

    def grudge_for(self, test: Test, value: object) -> tuple[str, grudges.Grudge]:
        if isinstance(value, Mapping):
            return "explicit", grudges.from_value(value, test.nodes)
        kind = str(value or "one")
        primaries: Sequence[str] = ()
        if kind == "primaries":
            primaries = test.db.primaries(test) if isinstance(test.db, HasPrimaries) else ()
            if not primaries:
                return kind, {}
        return kind, grudges.make(kind, active_nodes(test), test.nemesis_rng, primaries)  # cuts between nodes that run it

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f == START:
            try:
                kind, grudge = self.grudge_for(test, op.value)
            except ValueError as e:
                return op.replace(type="info", error=f"partition not started: {e}")
            self.chains.flush(test)
            self.current = {}
            apply_grudge(self.chains, test, grudge)
            self.current = grudges.to_value(grudge)
            value: dict[str, object] = {"kind": kind, "grudge": self.current}
            if not grudge and kind == "primaries":  # nothing to cut: said in the history and by the evidence
                value["skipped"] = "no primary could be found to isolate"
            cut = frozenset((d, n) for n, drops in grudge.items() for d in drops)
            involved = tuple(n for n in test.nodes if n in active_nodes(test) or any(n in c for c in cut))
            evidence = link_evidence(test, LinkPlan(cut=cut, nodes=involved), f"partition {kind}")
            return op.replace(type="info", value=with_evidence(value, evidence))
        if op.f == STOP:
            self.chains.flush(test)
            healed, self.current = self.current, {}
            return op.replace(type="info", value={"healed": healed})
        return op.replace(type="info", error=f"partition does not handle {op.f!r}")

    def teardown(self, test: Test) -> None:
        self.current = {}
        self.chains.teardown(test)

    def residue(self, test: Test) -> list[str]:
        return self.chains.residue(test)


class PartitionPlugin:
    """The `harness.nemeses` plugin `partition`."""

    name = "partition"
    fs = FS  # the ops its nemesis handles
    option_specs = OPTION_SPECS

    def package(self, test: Test) -> Package:
        if len(test.nodes) < 2:
            raise BadInput("nemesis partition needs at least two nodes")
        require_remotes(test, "nemesis partition")
        n = len(require_targets(test, "nemesis partition", 2))
        kinds: tuple[str, ...] = tuple(test.nemesis_opts.get("partition-grudge") or ())
        if not kinds:
            kinds = DEFAULT_KINDS + (("primaries",) if isinstance(test.db, HasPrimaries) else ())
            if n < 3:
                kinds = tuple(k for k in kinds if k not in grudges.NEEDS_THREE)
        elif "primaries" in kinds and not isinstance(test.db, HasPrimaries):
            raise BadInput(f"partition-grudge=primaries needs a system that is HasPrimaries; {test.options.system} is not")
        elif n < 3 and set(kinds) & set(grudges.NEEDS_THREE):
            raise BadInput(f"partition-grudge={','.join(sorted(set(kinds) & set(grudges.NEEDS_THREE)))} needs at "
                           "least three nodes")

        def start(t: Test) -> dict[str, object]:
            return {"f": START, "value": t.rng.choice(kinds)}

        gen = family_generator(test, "partition", FS, default_schedule(test, start, {"f": STOP}))
        return Package(
            name="partition", nemesis=PartitionNemesis(), generator=gen, final_generator={"f": STOP},
            label="partition", start_fs=frozenset({START}), stop_fs=frozenset({STOP}),
        )


PLUGIN = PartitionPlugin()
