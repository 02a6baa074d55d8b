"""An example nemesis plugin, packaged on its own: `port-block` makes a node refuse its clients (TCP to the
system's client port is dropped) while it keeps talking to its peers — a node that looks dead to clients and
alive to the cluster.

Owns the `port-block` fault family: ops `block-port` {"nodes": spec or list} and `unblock-port`, the default
schedule, the final heal and the report label. `block-port` completes with evidence that the block took effect
(`harness.evidence`): a TCP connect from the harness's host, where the clients run, to each blocked node's port
must time out. Reuses the harness's building blocks: `ChainSet` (its own
iptables chain HARNESS-PORT on each node, recorded in the ledger so `harness cleanup` removes it), node specs
and the periodic schedule. Does not know any system except through the option `port-block-port`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.errors import BadInput
from harness.evidence import Evidence, Probe, with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from harness.test import Test
from nemeses.net.iptables import ChainSet
from nemeses.probe import BLOCKED, connect_from_here
from nemeses.targets import targets_of
from nemeses.schedule import default_schedule
from nemeses.targets import parse_specs

BLOCK, UNBLOCK = "block-port", "unblock-port"


def _port(s: str) -> int:
    v = int(s)
    if not 0 < v < 65536:
        raise ValueError("a TCP port from 1 to 65535")
    return v


class PortBlock:
    """Drops TCP packets to `port` on chosen nodes, except from the other nodes of the cluster."""

    fs = frozenset({BLOCK, UNBLOCK})

    def __init__(self, port: int) -> None:
        self.port = port
        self.chains = ChainSet("HARNESS-PORT", "nemesis port-block")
        self.blocked: list[str] = []

    def setup(self, test: Test) -> None:
        self.chains.check_available(test)

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f == BLOCK:
            v: Mapping[str, Any] = op.value if isinstance(op.value, Mapping) else {"nodes": op.value}
            try:
                nodes, _ = targets_of(test, v.get("nodes", "one"))
            except ValueError as e:
                return op.replace(type="info", error=f"port-block: {e}")
            for n in nodes:
                peers = [["-s", test.node_host(p), "-j", "RETURN"] for p in test.nodes if p != n]
                self.chains.add_rules(test, n, peers + [["-p", "tcp", "--dport", str(self.port), "-j", "DROP"]])
                self.blocked.append(n)
            probes = []
            for n in nodes:
                seen = connect_from_here(test.node_host(n), self.port)
                probes.append(Probe(node=n, what="tcp connect from the clients' host", target=f"{n}:{self.port}",
                                    expected="blocked", observed=seen, effect=seen in BLOCKED))
            evidence = Evidence(probes=tuple(probes), nothing="" if nodes else "no node was chosen")
            return op.replace(type="info", value=with_evidence({"nodes": nodes, "port": self.port}, evidence))
        if op.f == UNBLOCK:
            self.chains.flush(test)
            unblocked, self.blocked = self.blocked, []
            return op.replace(type="info", value={"nodes": sorted(set(unblocked))})
        return op.replace(type="info", error=f"port-block does not handle {op.f!r}")

    def teardown(self, test: Test) -> None:
        self.blocked = []
        self.chains.teardown(test)

    def residue(self, test: Test) -> list[str]:
        return self.chains.residue(test)


class PortBlockPlugin:
    """The `harness.nemeses` plugin `port-block`."""

    name = "port-block"
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="port-block-port", default=2379, parse=_port, help="the client port to block"),
        OptionSpec(name="port-block-targets", default=("one",), parse=parse_specs, help="node specs to block"),
    )

    def package(self, test: Test) -> Package:
        if not test.nodes:
            raise BadInput("nemesis port-block needs nodes")
        specs = tuple(test.nemesis_opts.get("port-block-targets") or ("one",))

        def start(t: Test) -> dict[str, Any]:
            return {"f": BLOCK, "value": {"nodes": t.rng.choice(specs)}}

        return Package(
            name="port-block", nemesis=PortBlock(int(test.nemesis_opts.get("port-block-port") or 2379)),
            generator=default_schedule(test, start, {"f": UNBLOCK}), final_generator={"f": UNBLOCK},
            label="port-block", start_fs=frozenset({BLOCK}), stop_fs=frozenset({UNBLOCK}),
        )


PLUGIN = PortBlockPlugin()
