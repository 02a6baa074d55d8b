"""Host networking of the local provider: a Linux bridge with an address on a private /24, one network
namespace per node joined to it by a veth pair, and the iptables FORWARD ACCEPT rule for the bridge.

Owns the names (derived from the run id, short enough for Linux's 15-character interface names), subnet
allocation (10.77.<k>.0/24 unless the user picks one; a reservation file per subnet so that concurrent runs never
share one, released only by the run that holds it, swept by `harness cleanup` once its process has ended), the shell-outs to `ip` and `iptables`, and the ledger undo functions of the kinds "bridge", "netns",
"veth", "iptables-accept" and "workdir". Does not run anything inside the namespaces (see `clusters.local.remote`).

Why the ACCEPT rule: Docker sets the FORWARD policy to DROP, and with br_netfilter loaded bridged frames between
two namespaces traverse FORWARD too, so without it the nodes could not talk to each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import BadInput, ClusterError
from harness.ledger import LedgerEntry, pid_alive, state_dir, sweeper, undoer

DEFAULT_PREFIX = "10.77"
log = logging.getLogger("harness")


@dataclass(frozen=True, kw_only=True)
class NetNames:
    """Names of the host objects of one run."""

    tag: str  # 6 hex digits from the run id

    @property
    def bridge(self) -> str:
        return f"hbr{self.tag}"

    def netns(self, node: str) -> str:
        return f"harness-{self.tag}-{node}"

    def veth(self, index: int) -> str:
        return f"hv{self.tag}{index}"


def names_for(run_id: str) -> NetNames:
    return NetNames(tag=hashlib.sha1(run_id.encode()).hexdigest()[:6])


def sh(argv: Sequence[str], *, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a host command; ClusterError with its stderr when `check` and it fails."""
    p = subprocess.run(list(argv), capture_output=True, text=True, input=stdin, timeout=60)
    if check and p.returncode != 0:
        raise ClusterError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p


# ------------------------------------------------------------------------------------------- subnets
def _reservation_dir() -> str:
    d = os.path.join(state_dir(), "local-nets")
    os.makedirs(d, exist_ok=True)
    return d


def _host_networks() -> list[ipaddress.IPv4Network]:
    out = sh(["ip", "-4", "-o", "addr", "show"], check=False).stdout
    nets: list[ipaddress.IPv4Network] = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.IPv4Interface(parts[parts.index("inet") + 1]).network)
    for line in sh(["ip", "-4", "route", "show"], check=False).stdout.splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest and dest != "default":
            try:
                nets.append(ipaddress.IPv4Network(dest, strict=False))
            except ValueError:
                pass
    return nets


def check_subnet(wanted: str) -> ipaddress.IPv4Network:
    """The `subnet=` option as a network, or BadInput when it is not one or this host already uses it (reading
    only: nothing is reserved until the cluster is set up)."""
    try:
        net = ipaddress.IPv4Network(wanted)
    except ValueError as e:
        raise BadInput(f"bad subnet {wanted!r} for the local cluster: {e}") from None
    if any(net.overlaps(u) for u in _host_networks()):
        raise BadInput(f"subnet {wanted} is already in use on this host; pick another with subnet=")
    return net


@dataclass(frozen=True, kw_only=True)
class Reservation:
    """A reservation file of the local provider: which cluster (`holder`: its run id and a token of its own, so
    that not even a cluster of the same run id in the same process can take or release it) of which process holds
    a subnet."""

    path: str
    holder: str
    pid: int

    @classmethod
    def read(cls, path: str) -> Reservation | None:
        try:
            with open(path) as fh:
                holder, pid = fh.read().split()[:2]
            return cls(path=path, holder=holder, pid=int(pid))
        except (OSError, ValueError):
            return None

    @property
    def run_id(self) -> str:
        return self.holder.split("/", 1)[0]

    def held_by_other(self, holder: str) -> bool:
        """Held by a live cluster other than `holder` (also another one of this same process)."""
        return pid_alive(self.pid) and (self.pid != os.getpid() or self.holder != holder)


def reserve_subnet(holder: str, tag: str, wanted: ipaddress.IPv4Network | None) -> ipaddress.IPv4Network:
    """A /24 no host interface or route uses and no live run has reserved; reserved for this run until
    `release_subnet` by `holder`. `wanted` (the `subnet=` option) is taken as is, or ClusterError if taken
    meanwhile."""
    lock = open(os.path.join(_reservation_dir(), ".lock"), "w")  # noqa: SIM115 - closed in the finally below
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used = _host_networks()
        if wanted is not None:
            candidates = [wanted]
        else:
            start = int(tag, 16) % 250
            candidates = [ipaddress.IPv4Network(f"{DEFAULT_PREFIX}.{(start + i) % 250}.0/24") for i in range(250)]
        for net in candidates:
            path = os.path.join(_reservation_dir(), str(net.network_address))
            held = Reservation.read(path)
            if any(net.overlaps(u) for u in used) or (held is not None and held.held_by_other(holder)):
                continue
            with open(path, "w") as fh:
                fh.write(f"{holder} {os.getpid()}\n")
            return net
        if wanted is not None:
            raise ClusterError(f"subnet {wanted} was taken by another run meanwhile; pick another with subnet=")
        raise ClusterError(f"no free /24 left in {DEFAULT_PREFIX}.0.0/16 for a local cluster")
    finally:
        lock.close()


def release_subnet(net: ipaddress.IPv4Network | str, holder: str) -> None:
    """Drop the reservation of `net` if `holder` holds it (another's reservation is never touched)."""
    path = os.path.join(_reservation_dir(), str(ipaddress.IPv4Network(str(net)).network_address))
    held = Reservation.read(path)
    if held is not None and held.holder == holder:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


@sweeper("local subnet reservations")
def sweep_reservations(log: Callable[[str], None]) -> list[str]:
    """Remove the reservations of processes that no longer run (a harness killed before its ledger named the
    subnet); returns problems."""
    problems: list[str] = []
    d = _reservation_dir()
    for name in sorted(os.listdir(d)):
        held = Reservation.read(os.path.join(d, name)) if not name.startswith(".") else None
        if held is None or pid_alive(held.pid):
            continue
        try:
            os.unlink(held.path)
            log(f"removed stale subnet reservation {name}/24 of run {held.run_id} (pid {held.pid} has ended)")
        except OSError as e:
            problems.append(f"subnet reservation {held.path}: {e.strerror}")
    return problems


# ------------------------------------------------------------------------------------------ objects
def link_exists(name: str) -> bool:
    return sh(["ip", "link", "show", "dev", name], check=False).returncode == 0


def netns_exists(ns: str) -> bool:
    return os.path.exists(f"/run/netns/{ns}")


def create_bridge(bridge: str, gateway: ipaddress.IPv4Interface) -> None:
    sh(["ip", "link", "add", "name", bridge, "type", "bridge"])
    sh(["ip", "addr", "add", str(gateway), "dev", bridge])
    sh(["ip", "link", "set", bridge, "up"])


def delete_link(name: str) -> None:
    if link_exists(name):
        p = sh(["ip", "link", "del", "dev", name], check=False)
        if p.returncode != 0 and link_exists(name):
            raise ClusterError(f"ip link del {name}: {p.stderr.strip()}")


def _accept_rule(bridge: str) -> list[str]:
    return ["FORWARD", "-i", bridge, "-o", bridge, "-j", "ACCEPT", "-m", "comment", "--comment", "harness"]


def add_accept_rule(bridge: str) -> None:
    if shutil.which("iptables") is None:
        return  # no iptables, no FORWARD policy to get past
    sh(["iptables", "-w", "-I", *_accept_rule(bridge)[:1], "1", *_accept_rule(bridge)[1:]])


def _has_accept_rule(bridge: str) -> bool:
    return sh(["iptables", "-w", "-C", *_accept_rule(bridge)], check=False).returncode == 0


def delete_accept_rule(bridge: str) -> None:
    """Remove the bridge's ACCEPT rule(s). One already gone is what was wanted (noted at debug level): a run's own
    teardown and a cleanup may both reach for it."""
    if shutil.which("iptables") is None:
        return
    if not _has_accept_rule(bridge):
        log.debug("FORWARD ACCEPT rule of bridge %s: already gone", bridge)
        return
    while _has_accept_rule(bridge):
        p = sh(["iptables", "-w", "-D", *_accept_rule(bridge)], check=False)
        if p.returncode == 0:
            continue
        if _has_accept_rule(bridge):
            raise ClusterError(f"iptables -D {' '.join(_accept_rule(bridge))}: {p.stderr.strip()}")
        log.debug("FORWARD ACCEPT rule of bridge %s: removed by someone else meanwhile", bridge)


def create_node_netns(ns: str, veth: str, bridge: str, address: ipaddress.IPv4Interface) -> None:
    """The namespace `ns` with lo up and eth0 (peer of `veth` on `bridge`) at `address`."""
    sh(["ip", "netns", "add", ns])
    sh(["ip", "-n", ns, "link", "set", "lo", "up"])
    sh(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    sh(["ip", "link", "set", veth, "master", bridge, "up"])
    sh(["ip", "-n", ns, "addr", "add", str(address), "dev", "eth0"])
    sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
    gw = str(next(address.network.hosts()))
    sh(["ip", "-n", ns, "route", "add", "default", "via", gw], check=False)


def netns_pids(ns: str) -> list[int]:
    p = sh(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split() if x.isdigit()]


def delete_netns(ns: str) -> None:
    """Kill every process left in `ns`, then delete it (its veth pair goes with it). Idempotent."""
    if not netns_exists(ns):
        return
    for pid in netns_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    p = sh(["ip", "netns", "del", ns], check=False)
    if p.returncode != 0 and netns_exists(ns):
        raise ClusterError(f"ip netns del {ns}: {p.stderr.strip()}")


def remove_workdir(path: str) -> None:
    # Guard against a corrupt ledger entry turning into `rm -rf /`.
    if path.count("/") < 3 or not os.path.isabs(path):
        raise ClusterError(f"refusing to remove suspicious workdir {path!r}")
    shutil.rmtree(path, ignore_errors=True)
    parent = os.path.dirname(path)
    try:
        os.rmdir(parent)  # the run's folder, once its last node is gone
    except OSError:
        pass


# -------------------------------------------------------------------------------------------- undo
@undoer("bridge")
def _undo_bridge(entry: LedgerEntry) -> None:
    delete_link(entry.key)
    if entry.data.get("subnet"):
        release_subnet(str(entry.data["subnet"]), entry.run_id)  # ledgers written before the "subnet" kind


@undoer("subnet")
def _undo_subnet(entry: LedgerEntry) -> None:
    release_subnet(entry.key, str(entry.data.get("run") or entry.run_id))


@undoer("iptables-accept")
def _undo_accept(entry: LedgerEntry) -> None:
    delete_accept_rule(str(entry.data["bridge"]))


@undoer("netns")
def _undo_netns(entry: LedgerEntry) -> None:
    delete_netns(entry.key)


@undoer("veth")
def _undo_veth(entry: LedgerEntry) -> None:
    delete_link(entry.key)


@undoer("workdir")
def _undo_workdir(entry: LedgerEntry) -> None:
    remove_workdir(entry.key)
