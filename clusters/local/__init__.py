"""`--cluster local`, the embedded default: N nodes as network namespaces on a Linux bridge of this host,
running the system's real processes from the host filesystem.

Owns `LocalProvider` (the `harness.clusters` plugin `local`) and `LocalCluster`. Each node gets a namespace
`harness-<tag>-<node>` with its own address on a private /24 (10.77.<k>.0/24, or the `subnet=` option), a veth
on the bridge `hbr<tag>` whose address (.1) lets the host (where the clients run) reach every node, and a workdir
`<state dir>/<run id>/<node>`. Everything is recorded in the ledger before it is created. Needs root.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from typing import Any

from clusters.local.network import (
    add_accept_rule,
    check_subnet,
    create_bridge,
    create_node_netns,
    delete_accept_rule,
    delete_link,
    delete_netns,
    link_exists,
    names_for,
    netns_exists,
    release_subnet,
    remove_workdir,
    reserve_subnet,
)
from clusters.local.remote import NamespaceRemote
from harness.cluster import ClusterSpec, Node, access_text, node_remote
from harness.db import logs_kind, salvage_logs
from harness.errors import BadInput, ClusterError
from harness.ledger import LedgerEntry, state_dir, undoer
from harness.options import OptionSpec, parse_opts


class LocalCluster:
    """Nodes as network namespaces on one bridge. `setup` reserves the subnet (so building a test reserves
    nothing) and is all-or-nothing: on failure it tears down. Only what this cluster created is ever removed: an
    object that already exists (another run's) is refused, never adopted, and never torn down."""

    provider = "local"
    TEARDOWN_ORDER = ("netns", "veth", "workdir", "iptables-accept", "bridge", "subnet")

    def __init__(self, spec: ClusterSpec, ledger: Any, wanted: ipaddress.IPv4Network | None) -> None:
        self.spec = spec
        self.ledger = ledger
        self.wanted = wanted
        self.subnet: ipaddress.IPv4Network | None = None
        self.names = names_for(spec.run_id)
        self.holder = f"{spec.run_id}/{secrets.token_hex(4)}"  # whose subnet reservation: this cluster's only
        base = os.path.join(state_dir(), spec.run_id)
        # Addresses are known once the subnet is reserved (setup); until then a node has no host.
        self.nodes: tuple[Node, ...] = tuple(Node(name=n, host="", workdir=os.path.join(base, n))
                                             for n in spec.node_names)
        self._remotes = {n.name: NamespaceRemote(n.name, self.names.netns(n.name)) for n in self.nodes}
        self._created: list[tuple[str, str]] = []  # (ledger kind, key) of what this cluster made

    def setup(self) -> None:
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise

    def _setup(self) -> None:
        self.subnet = reserve_subnet(self.holder, self.names.tag, self.wanted)
        self._made("subnet", str(self.subnet), run=self.holder)
        hosts = list(self.subnet.hosts())
        gateway = ipaddress.IPv4Interface(f"{hosts[0]}/{self.subnet.prefixlen}")
        self.nodes = tuple(Node(name=n.name, host=str(hosts[i + 1]), workdir=n.workdir)
                           for i, n in enumerate(self.nodes))
        br = self.names.bridge
        self._make("bridge", br, link_exists(br), lambda: create_bridge(br, gateway), subnet=str(self.subnet))
        self._make("iptables-accept", br, False, lambda: add_accept_rule(br), bridge=br)
        for i, node in enumerate(self.nodes):
            ns, veth = self.names.netns(node.name), self.names.veth(i)
            address = ipaddress.IPv4Interface(f"{node.host}/{self.subnet.prefixlen}")
            self._make("netns", ns, netns_exists(ns), lambda: None, node=node.name)  # made with its veth, next
            self._make("veth", veth, link_exists(veth), functools.partial(create_node_netns, ns, veth, br, address),
                       node=node.name)
            self._make("workdir", node.workdir, os.path.exists(node.workdir),
                       functools.partial(os.makedirs, node.workdir), node=node.name)

    def _made(self, kind: str, key: str, **data: object) -> None:
        self.ledger.record(kind, key, **data)
        self._created.append((kind, key))

    def _make(self, kind: str, key: str, exists: bool, create: Callable[[], None], **data: object) -> None:
        """Record `kind` `key` in the ledger, then create it; one that already exists belongs to someone else."""
        if exists:
            raise ClusterError(f"{kind} {key} already exists (another run's?): refusing to use or remove it")
        self._made(kind, key, **data)  # before creating: a kill -9 in between leaves it named in the ledger
        create()

    def teardown(self) -> None:
        """Remove what this cluster created: namespaces (killing what still runs in them), veths, workdirs, the
        rule, the bridge, the subnet reservation. Every step runs; the failures are raised together."""
        problems: list[str] = []
        for kind in self.TEARDOWN_ORDER:
            for k, key in [c for c in self._created if c[0] == kind]:
                try:
                    _UNDO[kind](self, key)
                except Exception as e:  # noqa: BLE001 - keep removing the rest
                    problems.append(f"{kind} {key}: {e}")
                    continue
                self.ledger.release(kind, key)
                self._created.remove((k, key))
        run_dir = os.path.dirname(self.nodes[0].workdir) if self.nodes else ""
        if run_dir and os.path.isdir(run_dir) and not os.listdir(run_dir):
            shutil.rmtree(run_dir, ignore_errors=True)
        if problems:
            raise ClusterError("local cluster teardown: " + "; ".join(problems))

    def remote(self, node: str) -> NamespaceRemote:
        return node_remote(self._remotes, node)

    def access(self) -> str:
        return access_text(f"local cluster on bridge {self.names.bridge} ({self.subnet}); as root:", self.nodes,
                           lambda n: f"ip netns exec {self.names.netns(n.name)} bash   (workdir {n.workdir})")


class LocalProvider:
    """The `harness.clusters` plugin `local`."""

    name = "local"
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="subnet", default="", help="IPv4 /24 for the nodes (default: a free 10.77.<k>.0/24)"),
    )

    def create(self, spec: ClusterSpec, ledger: object) -> LocalCluster:
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
        wanted = check_subnet(opts["subnet"]) if opts["subnet"] else None
        if wanted is not None and len(spec.node_names) > wanted.num_addresses - 3:
            raise BadInput(f"a local cluster on {wanted} holds at most {wanted.num_addresses - 3} nodes")
        return LocalCluster(spec, ledger, wanted)  # the subnet is reserved by setup, not here


_UNDO: dict[str, Callable[[LocalCluster, str], None]] = {
    "netns": lambda c, key: delete_netns(key),
    "veth": lambda c, key: delete_link(key),
    "workdir": lambda c, key: remove_workdir(key),
    "iptables-accept": lambda c, key: delete_accept_rule(key),
    "bridge": lambda c, key: delete_link(key),
    "subnet": lambda c, key: release_subnet(key, c.holder),
}


PLUGIN = LocalProvider()


@undoer(logs_kind("local"))
def _salvage_logs(entry: LedgerEntry) -> None:
    """After a kill -9: the node logs into the run directory, before the workdirs go (see harness.db)."""
    names = names_for(entry.run_id)
    salvage_logs(entry.key, dict(entry.data.get("files", {})), lambda n: NamespaceRemote(n, names.netns(n)))
