"""`--cluster local`, the embedded default: N nodes as network namespaces on a Linux bridge of this host,
running the system's real processes from the host filesystem.

Owns `LocalProvider` (the `harness.clusters` plugin `local`) and `LocalCluster`. Each node gets a namespace
`harness-<tag>-<node>` with its own address on a private /24 (10.77.<k>.0/24, or the `subnet=` option), a veth
on the bridge `hbr<tag>` whose address (.1) lets the host (where the clients run) reach every node, and a workdir
`<state dir>/<run id>/<node>`. Everything is recorded in the ledger before it is created. Needs root.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Sequence
from typing import Any

from clusters.local.network import (
    add_accept_rule,
    create_bridge,
    create_node_netns,
    delete_accept_rule,
    delete_link,
    delete_netns,
    names_for,
    release_subnet,
    remove_workdir,
    reserve_subnet,
)
from clusters.local.remote import NamespaceRemote
from harness.cluster import ClusterSpec, Node
from harness.errors import BadInput
from harness.ledger import state_dir
from harness.options import OptionSpec, parse_opts


class LocalCluster:
    """Nodes as network namespaces on one bridge. `setup` is all-or-nothing: on failure it tears down."""

    provider = "local"

    def __init__(self, spec: ClusterSpec, ledger: Any, subnet: ipaddress.IPv4Network) -> None:
        self.spec = spec
        self.ledger = ledger
        self.subnet = subnet
        self.names = names_for(spec.run_id)
        hosts = list(subnet.hosts())
        if len(spec.node_names) > len(hosts) - 1:
            raise BadInput(f"a local cluster on {subnet} holds at most {len(hosts) - 1} nodes")
        self.gateway = ipaddress.IPv4Interface(f"{hosts[0]}/{subnet.prefixlen}")
        base = os.path.join(state_dir(), spec.run_id)
        self.nodes: tuple[Node, ...] = tuple(
            Node(name=n, host=str(hosts[i + 1]), workdir=os.path.join(base, n)) for i, n in enumerate(spec.node_names)
        )
        self._remotes = {n.name: NamespaceRemote(n.name, self.names.netns(n.name)) for n in self.nodes}
        self._up = False

    def setup(self) -> None:
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise
        self._up = True

    def _setup(self) -> None:
        led, br = self.ledger, self.names.bridge
        led.record("bridge", br, subnet=str(self.subnet))
        create_bridge(br, self.gateway)
        led.record("iptables-accept", br, bridge=br)
        add_accept_rule(br)
        for i, node in enumerate(self.nodes):
            ns = self.names.netns(node.name)
            led.record("netns", ns, node=node.name)
            led.record("veth", self.names.veth(i), node=node.name)
            address = ipaddress.IPv4Interface(f"{node.host}/{self.subnet.prefixlen}")
            create_node_netns(ns, self.names.veth(i), br, address)
            led.record("workdir", node.workdir, node=node.name)
            os.makedirs(node.workdir, exist_ok=True)

    def teardown(self) -> None:
        """Remove namespaces (killing what still runs in them), veths, the rule, the bridge, the workdirs."""
        led, br = self.ledger, self.names.bridge
        for i, node in enumerate(self.nodes):
            ns = self.names.netns(node.name)
            delete_netns(ns)
            led.release("netns", ns)
            delete_link(self.names.veth(i))
            led.release("veth", self.names.veth(i))
            remove_workdir(node.workdir)
            led.release("workdir", node.workdir)
        delete_accept_rule(br)
        led.release("iptables-accept", br)
        delete_link(br)
        release_subnet(self.subnet)
        led.release("bridge", br)
        run_dir = os.path.dirname(self.nodes[0].workdir) if self.nodes else ""
        if run_dir and os.path.isdir(run_dir) and not os.listdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        self._up = False

    def remote(self, node: str) -> NamespaceRemote:
        try:
            return self._remotes[node]
        except KeyError:
            raise BadInput(f"no node {node!r} in this cluster (nodes: {', '.join(self._remotes)})") from None

    def access(self) -> str:
        lines = [f"local cluster on bridge {self.names.bridge} ({self.subnet}); as root:"]
        for n in self.nodes:
            lines.append(f"  {n.name} {n.host}: ip netns exec {self.names.netns(n.name)} bash   (workdir {n.workdir})")
        lines.append("remove it later with: harness cleanup")
        return "\n".join(lines)


class LocalProvider:
    """The `harness.clusters` plugin `local`."""

    name = "local"
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="subnet", default="", help="IPv4 /24 for the nodes (default: a free 10.77.<k>.0/24)"),
    )

    def create(self, spec: ClusterSpec, ledger: Any) -> LocalCluster:
        opts = parse_opts("cluster local", self.option_specs, {k: str(v) for k, v in (spec.opts or {}).items()})
        if os.geteuid() != 0:
            raise BadInput(
                "the local cluster needs root (it creates network namespaces); run as root or use --cluster docker"
            )
        if shutil.which("ip") is None:
            raise BadInput("the local cluster needs the `ip` command (apt-get install iproute2)")
        if not spec.node_names:
            raise BadInput("the local cluster needs at least one node name")
        for n in spec.node_names:
            if not n.replace("-", "").replace("_", "").isalnum() or len(n) > 32:
                raise BadInput(f"bad node name {n!r}: letters, digits, - and _ only, at most 32 characters")
        subnet = reserve_subnet(spec.run_id, names_for(spec.run_id).tag, opts["subnet"] or None)
        return LocalCluster(spec, ledger, subnet)


PLUGIN = LocalProvider()
