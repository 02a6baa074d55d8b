"""`--cluster ssh`: existing hosts reached over ssh, Jepsen style.

Owns `SSHProvider` (the `harness.clusters` plugin `ssh`), `SSHCluster`, the nodes-file format and the ledger
undo function of the kind "ssh-workdir". The harness provisions nothing on the hosts but a workdir per node,
`<workdir>/<run id>/<node>`, removed at teardown; the system must already be installed there.

Nodes come from `--nodes-file FILE` or, without one, from the node names, taken as host names. A nodes file has
one host per line, `#` comments allowed:  `host`, or `name host`, where host may be `user@host:port`. Node
addresses are resolved to IPs once (systems such as etcd must bind to an IP).

Options: user=root, port=22, key=PATH (default: ssh agent, then ~/.ssh keys), known_hosts=strict|accept-new|
ignore (accept-new: trust and save a first-seen host key; a changed key is always rejected),
known_hosts_file=~/.ssh/known_hosts, sudo=auto|always|never (auto: when user is not root), max_channels=8
(concurrent channels per host), retries=3 (reconnects when a channel cannot be opened), connect_timeout=10,
workdir=/var/lib/harness.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clusters.ssh.remote import (
    KNOWN_HOSTS_POLICIES,
    SSHParams,
    SSHRemote,
    remote_from_locator,
)
from harness.cluster import ClusterSpec, Node, access_text, node_remote
from harness.control import failures_text, on_all, on_nodes
from harness.db import logs_kind, salvage_logs
from harness.errors import BadInput, Unreachable
from harness.ledger import LedgerEntry, undoer
from harness.options import OptionSpec, parse_opts


@dataclass(frozen=True, kw_only=True)
class HostLine:
    """One host of a nodes file (or a node name taken as a host name)."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None


def parse_host(text: str, name: str | None = None) -> HostLine:
    user, _, rest = text.rpartition("@")
    host, port = rest, None
    if rest.count(":") == 1:
        host, _, p = rest.partition(":")
        if not p.isdigit():
            raise BadInput(f"bad port in host {text!r}")
        port = int(p)
    if not host:
        raise BadInput(f"bad host {text!r}")
    return HostLine(name=name or host, host=host, user=user or None, port=port)


def read_nodes_file(path: str) -> list[HostLine]:
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as e:
        raise BadInput(f"cannot read nodes file {path}: {e.strerror}") from None
    hosts: list[HostLine] = []
    for i, raw in enumerate(lines, 1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) > 2:
            raise BadInput(f"{path}:{i}: expected `host` or `name host`, not {text!r}")
        hosts.append(parse_host(parts[-1], parts[0] if len(parts) == 2 else None))
    if not hosts:
        raise BadInput(f"nodes file {path} names no host")
    names = [h.name for h in hosts]
    if len(set(names)) != len(names):
        raise BadInput(f"nodes file {path} names a node twice")
    return hosts


def _resolve(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError:
        raise Unreachable(f"cannot resolve ssh host {host!r}") from None


class SSHCluster:
    """Existing hosts; `create` already connected to every host (Unreachable names every one that failed);
    `setup` makes the per-node workdirs; `teardown` removes them and closes the connections."""

    provider = "ssh"

    def __init__(
        self, spec: ClusterSpec, ledger: Any, hosts: Sequence[HostLine], base: SSHParams, workdir: str, sudo: str
    ) -> None:
        self.spec = spec
        self.ledger = ledger
        self._remotes: dict[str, SSHRemote] = {}
        nodes = []
        for h in hosts:
            user = h.user or base.user
            params = SSHParams(**{**base.__dict__, "host": h.host, "user": user, "port": h.port or base.port,
                                  "sudo": sudo == "always" or (sudo == "auto" and user != "root")})
            self._remotes[h.name] = SSHRemote(h.name, params)
            nodes.append(Node(name=h.name, host=_resolve(h.host), workdir=f"{workdir}/{spec.run_id}/{h.name}"))
        self.nodes: tuple[Node, ...] = tuple(nodes)

    def check_reachable(self) -> None:
        """Connect to every host at once (each host's one connection is kept: setup and the run open their
        channels on it); Unreachable, one line naming every host that failed, before anything is created."""
        _done, failed = on_nodes([n.name for n in self.nodes], lambda name: self._remotes[name].connect())
        if failed:
            for r in self._remotes.values():
                r.close()
            raise Unreachable(f"{len(failed)} of {len(self.nodes)} ssh hosts unreachable, nothing started: "
                              + failures_text(failed))

    def setup(self) -> None:
        try:
            by_name = {n.name: n for n in self.nodes}
            on_all(by_name, lambda name: self._setup_node(by_name[name]))
        except BaseException:
            self.teardown()
            raise

    def _setup_node(self, node: Node) -> None:
        remote = self._remotes[node.name]
        remote.connect()
        self.ledger.record("ssh-workdir", f"{node.name}:{node.workdir}", path=node.workdir, **remote.locator)
        remote.run(["mkdir", "-p", node.workdir], timeout=30)

    def teardown(self) -> None:
        for node in self.nodes:
            remote = self._remotes[node.name]
            try:
                remote.run(["sh", "-c", _RM_WORKDIR, "rm-workdir", node.workdir], timeout=60, check=False)
            except Unreachable:
                continue  # left in the ledger: `harness cleanup` retries later
            self.ledger.release("ssh-workdir", f"{node.name}:{node.workdir}")
            remote.close()

    def remote(self, node: str) -> SSHRemote:
        return node_remote(self._remotes, node)

    def access(self) -> str:
        return access_text("ssh cluster:", self.nodes, self._ssh_command)

    def _ssh_command(self, node: Node) -> str:
        p = self._remotes[node.name].params
        key = f" -i {p.key_file}" if p.key_file else ""
        return f"ssh{key} -p {p.port} {p.user}@{p.host}   (workdir {node.workdir})"


_RM_WORKDIR = 'rm -rf "$1"; rmdir "$(dirname "$1")" 2>/dev/null; true'


@undoer("ssh-workdir")
def _undo_workdir(entry: LedgerEntry) -> None:
    path = str(entry.data["path"])
    if path.count("/") < 3:
        raise BadInput(f"refusing to remove suspicious workdir {path!r}")
    remote = remote_from_locator(entry.data)
    try:
        remote.run(["sh", "-c", _RM_WORKDIR, "rm-workdir", path], timeout=60)
    finally:
        remote.close()


@undoer(logs_kind("ssh"))
def _salvage_logs(entry: LedgerEntry) -> None:
    """After a kill -9: the node logs into the run directory, before the workdirs go (see harness.db)."""
    locators = dict(entry.data.get("locators", {}))
    remotes: dict[str, SSHRemote] = {}

    def remote_of(node: str) -> SSHRemote:
        if node not in remotes:
            remotes[node] = remote_from_locator(locators[node])
        return remotes[node]

    try:
        salvage_logs(entry.key, {n: f for n, f in dict(entry.data.get("files", {})).items() if n in locators},
                     remote_of)
    finally:
        for r in remotes.values():
            r.close()


def _positive_int(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise ValueError("must be a positive integer")
    return v


class SSHProvider:
    """The `harness.clusters` plugin `ssh`."""

    name = "ssh"
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="user", default="root", help="ssh user"),
        OptionSpec(name="port", default=22, help="ssh port", parse=_positive_int),
        OptionSpec(name="key", default="", help="private key file (default: agent, then ~/.ssh keys)"),
        OptionSpec(name="known_hosts", default="accept-new", help="host key policy", choices=KNOWN_HOSTS_POLICIES),
        OptionSpec(name="known_hosts_file", default="~/.ssh/known_hosts", help="known hosts file"),
        OptionSpec(name="sudo", default="auto", help="sudo -n for commands", choices=("auto", "always", "never")),
        OptionSpec(name="max_channels", default=8, help="concurrent channels per host", parse=_positive_int),
        OptionSpec(name="retries", default=3, help="reconnects when a channel cannot be opened", parse=int),
        OptionSpec(name="connect_timeout", default=10.0, help="seconds", parse=float),
        OptionSpec(name="workdir", default="/var/lib/harness", help="base of the node workdirs on the hosts"),
    )

    def create(self, spec: ClusterSpec, ledger: object) -> SSHCluster:
        o = parse_opts("cluster ssh", self.option_specs, {k: str(v) for k, v in (spec.opts or {}).items()})
        hosts = read_nodes_file(spec.nodes_file) if spec.nodes_file else [parse_host(n) for n in spec.node_names]
        if not hosts:
            raise BadInput("the ssh cluster needs hosts: --nodes-file FILE or node names that are host names")
        key = str(o["key"])
        if key and not os.path.isfile(os.path.expanduser(key)):
            raise BadInput(f"ssh key {key} does not exist")
        base = SSHParams(
            host="", port=int(o["port"]), user=str(o["user"]), key_file=key, known_hosts=str(o["known_hosts"]),
            known_hosts_file=str(o["known_hosts_file"]), max_channels=int(o["max_channels"]),
            retries=int(o["retries"]), connect_timeout=float(o["connect_timeout"]),
        )
        workdir = str(o["workdir"]).rstrip("/") or "/var/lib/harness"
        cluster = SSHCluster(spec, ledger, hosts, base, workdir, str(o["sudo"]))
        cluster.check_reachable()  # an unreachable host is bad input: fail before the run starts
        return cluster


PLUGIN = SSHProvider()
