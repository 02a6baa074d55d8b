"""tc queueing disciplines of the harness on a node's interface: traffic from the node to chosen peers goes
through an htb class (rate limit) with an optional netem child (delay, jitter, loss, duplication, reordering);
all other traffic (clients, peers not chosen) takes the unshaped default class.

    root 4e4d: htb default 1
      class 4e4d:1  htb rate 10gbit                 everything else
      class 4e4d:2  htb rate <rate or 10gbit>       filtered: u32 match ip dst <peer>/32
        qdisc 4e4e: netem delay .. loss .. ...      only when a netem behaviour is asked

Owns `host_has_netem` (does this kernel have the netem qdisc?), `node_interface`, `shape`, `unshape`,
`shaping_residue` and the ledger kind "nemesis-tc" with its undo function. Healing deletes the root qdisc only
when its handle is ours (4e4d:), and the harness refuses to shape an interface whose root qdisc is someone
else's. Does not choose peers or behaviours.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Sequence

from harness.control import Remote
from harness.errors import FaultError
from harness.ledger import LedgerEntry, undoer
from nemeses.remotes import node_is_gone, remote_from_locator

KIND = "nemesis-tc"
ROOT = "4e4d:"
NETEM = "4e4e:"
UNLIMITED = "10gbit"


@functools.lru_cache(maxsize=1)
def host_has_netem() -> str | None:
    """None if this host's kernel can create a netem qdisc, else the reason (tried in a throwaway network
    namespace of its own, so nothing on the host changes). Local namespaces and docker containers share this
    kernel."""
    if shutil.which("tc") is None or shutil.which("unshare") is None:
        return "tc or unshare is not installed on this host"
    p = subprocess.run(
        ["unshare", "-rn", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if p.returncode == 0:
        return None
    return "this kernel has no netem qdisc (`tc qdisc add dev lo root netem` fails: " + (
        p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit {p.returncode}") + ")"


def node_has_netem(remote: Remote) -> str | None:
    """Like host_has_netem, on a node with its own kernel (ssh): a no-op netem (0 ms) on the node's loopback,
    removed at once."""
    r = remote.run(["tc", "qdisc", "add", "dev", "lo", "root", "handle", NETEM, "netem", "delay", "0ms"],
                   timeout=30, check=False)
    if r.exit_code != 0:
        return f"no netem qdisc on {remote.node}: {r.stderr.strip() or r.exit_code}"
    remote.run(["tc", "qdisc", "del", "dev", "lo", "root"], timeout=30, check=False)
    return None


def node_interface(remote: Remote, address: str) -> str:
    """The interface of the node that carries `address`."""
    r = remote.run(["ip", "-o", "-4", "addr", "show"], timeout=30)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[2] == "inet" and parts[3].split("/")[0] == address:
            return parts[1].split("@")[0]
    raise FaultError(f"on {remote.node}: no interface carries {address}")


def root_handle(remote: Remote, dev: str) -> str:
    """The handle of the root qdisc of `dev` ("0:" for the kernel's default)."""
    r = remote.run(["tc", "qdisc", "show", "dev", dev, "root"], timeout=30, check=False)
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "qdisc" and "root" in parts:
            return parts[2]
    return "0:"


def netem_args(delay_ms: float, jitter_ms: float, loss_pct: float, duplicate_pct: float,
               reorder_pct: float) -> list[str]:
    """netem parameters for the behaviour; [] when none is asked. Reordering needs a delay (netem sends the
    reordered packets at once and delays the others), so it implies 1 ms when none is given."""
    args: list[str] = []
    if reorder_pct > 0 and delay_ms <= 0:
        delay_ms = 1.0
    if delay_ms > 0:
        args += ["delay", f"{delay_ms:g}ms"]
        if jitter_ms > 0:
            args += [f"{jitter_ms:g}ms"]
    if loss_pct > 0:
        args += ["loss", f"{loss_pct:g}%"]
    if duplicate_pct > 0:
        args += ["duplicate", f"{duplicate_pct:g}%"]
    if reorder_pct > 0:
        args += ["reorder", f"{reorder_pct:g}%"]
    return args


def _tc(remote: Remote, *args: str) -> None:
    r = remote.run(["tc", *args], timeout=30, check=False)
    if r.exit_code != 0:
        raise FaultError(f"on {remote.node}: tc {' '.join(args)} failed: {r.stderr.strip() or r.exit_code}")


def shape(remote: Remote, dev: str, peers: Sequence[str], *, rate: str = "", netem: Sequence[str] = ()) -> None:
    """Shape traffic from the node to `peers` (addresses) on `dev`. Replaces an earlier shaping of ours;
    refuses (FaultError) when the root qdisc of `dev` belongs to someone else."""
    handle = root_handle(remote, dev)
    if handle not in ("0:", ROOT):
        raise FaultError(f"on {remote.node}: {dev} has a root qdisc {handle} that is not the harness's; not touching it")
    if handle == ROOT:
        _tc(remote, "qdisc", "del", "dev", dev, "root")
    _tc(remote, "qdisc", "add", "dev", dev, "root", "handle", ROOT, "htb", "default", "1")
    _tc(remote, "class", "add", "dev", dev, "parent", ROOT, "classid", ROOT + "1", "htb", "rate", UNLIMITED)
    r = rate or UNLIMITED
    _tc(remote, "class", "add", "dev", dev, "parent", ROOT, "classid", ROOT + "2", "htb", "rate", r, "ceil", r)
    if netem:
        _tc(remote, "qdisc", "add", "dev", dev, "parent", ROOT + "2", "handle", NETEM, "netem", *netem)
    for peer in peers:
        _tc(remote, "filter", "add", "dev", dev, "parent", ROOT, "protocol", "ip", "prio", "1", "u32",
            "match", "ip", "dst", f"{peer}/32", "flowid", ROOT + "2")


def unshape(remote: Remote, dev: str) -> None:
    """Remove our shaping of `dev` (the kernel's default qdisc comes back). Idempotent."""
    if root_handle(remote, dev) == ROOT:
        _tc(remote, "qdisc", "del", "dev", dev, "root")


def shaping_residue(remote: Remote, dev: str) -> list[str]:
    return [f"{remote.node}: tc qdisc {ROOT} still on {dev}"] if root_handle(remote, dev) == ROOT else []


@undoer(KIND)
def _undo_tc(entry: LedgerEntry) -> None:
    if node_is_gone(entry.data):
        return
    remote = remote_from_locator(entry.data)
    try:
        unshape(remote, str(entry.data["dev"]))
    finally:
        remote.close()
