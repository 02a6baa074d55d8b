"""Who may connect to the Postgres nodes of a run, and with which password.

Owns the access rules of a node: `hba` (the pg_hba.conf: scram-sha-256 from the cluster's own addresses only,
nothing else; Postgres makes no Unix socket and listens on the node's cluster address), `allowed_addresses` (every
node's address, the controller's address on the cluster network, where the clients run, and the networks of
the `allow=` system option), `controller_addresses` and `parse_networks`. Does not own starting Postgres (see `clusters.postgres.db`).

The superuser's password is derived per run from the Test's secrets (`harness.credentials`): it lives in the
harness's memory, reaches initdb through a file that is removed at once, and stays on each node only in
`<workdir>/pgpass` (mode 0600, owner postgres), which a standby's pg_basebackup and walreceiver read through
`passfile=`. It is never put on a command line (`ps` would show it to every local user), in a log, or in the
run directory.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from harness.errors import BadInput

if TYPE_CHECKING:
    from harness.test import Test

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
USER = "postgres"


def parse_networks(text: str) -> tuple[Network, ...]:
    """`"10.0.0.0/24,192.168.1.7"` -> networks (a bare address is one host); ValueError naming a bad one."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"{part!r} is not an address or a network (CIDR)") from None
    return tuple(out)


def _address(host: str) -> Network:
    """The host network (/32 or /128) of a node's address; a host name is resolved here."""
    try:
        return ipaddress.ip_network(host)
    except ValueError:
        pass
    try:
        info = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as e:
        raise BadInput(f"cannot resolve node address {host!r}: {e}") from None
    return ipaddress.ip_network(str(info[0][4][0]))


def controller_addresses(hosts: Iterable[str]) -> set[Network]:
    """The addresses this machine (where clients run) uses to reach `hosts`: the source address the kernel
    picks for each (a UDP connect sends nothing). On the local provider it is the bridge's address, on docker
    the network's gateway, over ssh this machine's address on the route to each host."""
    out: set[Network] = set()
    for host in hosts:
        net = _address(host)
        family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((str(net.network_address), 9))
            except OSError:
                continue  # no route: no client of this machine can reach it either
            out.add(ipaddress.ip_network(s.getsockname()[0]))
    return out


def allowed_addresses(test: Test, nodes: Sequence[str], extra: Sequence[Network] = ()) -> list[Network]:
    """Every address that may connect: the nodes' (replication), this machine's on their network (clients and
    the harness's own queries), and `extra` (the `allow=` option, e.g. when a NAT sits between)."""
    hosts = [test.node_host(n) for n in nodes]
    found = {_address(h) for h in hosts} | controller_addresses(hosts) | set(extra)
    return sorted(found, key=lambda n: (n.version, n))


def hba(allowed: Sequence[Network]) -> str:
    """pg_hba.conf: scram-sha-256 from the allowed addresses, for the superuser only; nothing else."""
    lines = ["# written by the harness: only the cluster's own addresses, only with the run's password"]
    for net in allowed:
        lines.append(f"host all {USER} {net} scram-sha-256")
        lines.append(f"host replication {USER} {net} scram-sha-256")
    return "\n".join(lines) + "\n"
