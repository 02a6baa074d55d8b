"""Clusters: the nodes of a test and how to reach them.

Owns `Node`, the `Cluster` protocol, the `ClusterProvider` plugin protocol (entry-point group
`harness.clusters`) and what a node may be called (`check_node_name`: a host name, as the ssh provider also takes
`user@host:port`), and what every provider's `remote`/`access` share (`node_remote`, `access_text`).
Implementations (local namespaces, docker, ssh) live in `clusters/`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from harness.control import Remote
from harness.errors import BadInput
from harness.options import OptionSpec


@dataclass(frozen=True, kw_only=True)
class Node:
    """A node of the cluster. `host` is the address clients and peers use; `workdir` is a directory on the
    node that belongs to the harness for this node (data, logs, pid files); it is distinct per node even when
    nodes share a filesystem (local namespaces)."""

    name: str
    host: str
    workdir: str


@runtime_checkable
class Cluster(Protocol):
    """A set of nodes provisioned for one run.

    `setup` provisions every node (recording in the ledger what it creates, before creating it) and must leave
    nothing behind if it fails; `teardown` removes everything `setup` made and is idempotent. `remote(node)`
    gives the node's Remote. `access` tells a person how to reach the nodes (for --leave-running).
    """

    provider: str
    nodes: tuple[Node, ...]

    def setup(self) -> None: ...

    def teardown(self) -> None: ...

    def remote(self, node: str) -> Remote: ...

    def access(self) -> str: ...


@dataclass(frozen=True, kw_only=True)
class ClusterSpec:
    """What the user asked for: node count or names, a nodes file (ssh), the system (which image), options."""

    run_id: str
    system: str
    node_names: tuple[str, ...]
    nodes_file: str | None = None
    opts: Mapping[str, object] = field(default_factory=dict)
    needs: frozenset[str] = frozenset()  # what the run's faults need of the nodes: "fuse" (/dev/fuse, mounting)
    dockerfile: str | None = None  # docker: a system file's own node image recipe (its nodes.dockerfile)


RemoteT = TypeVar("RemoteT", bound=Remote)


def node_remote(remotes: Mapping[str, RemoteT], node: str) -> RemoteT:
    """`Cluster.remote` of a cluster whose Remotes are `remotes` by node name: an unknown node is bad input
    naming the nodes there are."""
    try:
        return remotes[node]
    except KeyError:
        raise BadInput(f"no node {node!r} in this cluster (nodes: {', '.join(remotes)})") from None


def access_text(header: str, nodes: Sequence[Node], shell: Callable[[Node], str]) -> str:
    """`Cluster.access`: `header`, then per node its name, address and `shell` (the command that opens a shell
    on it), then how to remove the cluster."""
    lines = [header] + [f"  {n.name} {n.host}: {shell(n)}" for n in nodes]
    return "\n".join([*lines, "remove it later with: harness cleanup"])


class ClusterProvider(Protocol):
    """Plugin in `harness.clusters`: makes a Cluster from a ClusterSpec. `create` validates the spec (and
    checks that the provider can work here: root, engine running) and raises BadInput with one clear line
    if not; it does not provision anything (that is `Cluster.setup`)."""

    name: str
    option_specs: Sequence[OptionSpec]

    def create(self, spec: ClusterSpec, ledger: object) -> Cluster: ...


_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")


def _is_host(host: str) -> bool:
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return 0 < len(host) <= 253 and all(_LABEL.match(label) for label in host.rstrip(".").split("."))


def check_node_name(name: str) -> None:
    """BadInput unless `name` is a host name or address (RFC 1123 labels: letters, digits, '-' inside, '.' between),
    optionally `user@` before it and `:port` after it (ssh hosts)."""
    user, at, rest = name.rpartition("@")
    host, port = rest, ""
    if rest.count(":") == 1:
        host, _, port = rest.partition(":")
    ok = _is_host(host) and (not at or bool(_USER.match(user))) and (not port or (port.isdigit() and 0 < int(port) < 65536))
    if not ok:
        raise BadInput(f"bad node name {name!r}: a node is named by a host name or address (letters, digits, '-' "
                       "inside a label, '.' between labels), optionally user@ before it and :port after it")
