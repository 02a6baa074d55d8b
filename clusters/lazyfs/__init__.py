"""The lazy filesystem on nodes: install it, mount it over a system's data directory, send it commands, unmount.

Owns `LazyMount` (one mount on one node), `require_fuse`, `mount`, `command`, `unmount` and the ledger kind
"lazyfs-mount", and the three calls a system makes for its option `lazyfs=true` (`harness.options.lazyfs_spec`):
`mount_data` in setup, `lose_unfsynced` after each kill, `unmount_data` in teardown. The filesystem itself is the
standalone program `clusters/lazyfs/lazyfs.py`, uploaded to each node and run there as a daemon (`clusters.daemon`);
this module never imports it and talks to it only through its `ctl` command line, run through the node's Remote.
Does not decide when to lose power (that is `nemeses.power_loss`) and does not stop or start the system: callers do,
around `mount` and `unmount`.

Mounting moves the data directory D aside to `D.lazyfs-backing`, mounts the filesystem at D over it, and records
a ledger entry first, so that `harness cleanup` after a kill -9 of the harness unmounts it and moves the backing
directory back (what was not fsynced is lost, as it would be in a power cut; the directory is usable).

Which Python runs it: on `local` nodes (network namespaces sharing this machine's files) the harness's own
interpreter, with mfusepy from the harness's dependencies; in containers and on ssh hosts `python3` with a FUSE
binding (the node images carry Debian's python3-fusepy; an ssh host without one is refused in one line).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusters.daemon import start_daemon, stop_daemon
from harness.control import Remote
from harness.errors import BadInput, ClusterError
from harness.ledger import LedgerEntry, undoer
from harness.options import LAZYFS

if TYPE_CHECKING:
    from harness.test import Test

PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lazyfs.py")
KIND = "lazyfs-mount"
_BINDING = ("import importlib.util as u, sys; "
            "sys.exit(0 if any(u.find_spec(m) for m in ('mfusepy', 'fusepy', 'fuse')) else 3)")


def node_python(test: Test) -> str:
    return sys.executable if test.options.cluster == "local" else "python3"


def fs_remote(test: Test, node: str) -> Remote:
    """The node's Remote for its filesystem and mounts: on local nodes this machine outside the node's network
    namespace (see `clusters.local.remote.NamespaceRemote.mounts`), elsewhere the node's own Remote."""
    remote = test.cluster.remote(node)
    mounts = getattr(remote, "mounts", None)
    return mounts() if callable(mounts) else remote


@dataclass(frozen=True, kw_only=True)
class LazyMount:
    """The lazy filesystem mounted at `data_dir` on `node`, its backing directory beside it."""

    node: str
    data_dir: str
    workdir: str
    run_id: str

    @property
    def backing(self) -> str:
        return self.data_dir.rstrip("/") + ".lazyfs-backing"

    @property
    def program(self) -> str:
        return os.path.join(self.workdir, "lazyfs.py")

    @property
    def pidfile(self) -> str:
        return os.path.join(self.workdir, "lazyfs.pid")

    @property
    def logfile(self) -> str:
        return os.path.join(self.workdir, "lazyfs.log")

    @property
    def control(self) -> str:
        # a Unix socket path holds at most 107 bytes: a short name in /tmp, unique per run and node
        tag = hashlib.sha1(f"{self.run_id}:{self.node}:{self.data_dir}".encode()).hexdigest()[:16]
        return f"/tmp/lazyfs-{tag}.sock"


def require_fuse(test: Test, nodes: list[str]) -> None:
    """BadInput (one line) unless every node can mount the lazy filesystem: /dev/fuse and a FUSE binding."""
    python = node_python(test)
    for node in nodes:
        r = fs_remote(test, node)
        if not r.run(["test", "-c", "/dev/fuse"], timeout=30, check=False).ok:
            raise BadInput(f"power loss needs FUSE on {node}: no /dev/fuse there (install fuse3; containers get it "
                           "from the harness)")
        if not r.run([python, "-c", _BINDING], timeout=30, check=False).ok:
            raise BadInput(f"power loss needs a FUSE binding for {python} on {node}: install python3-fusepy "
                           "(Debian) or mfusepy (pip) there")


def describe(test: Test, node: str, data_dir: str) -> LazyMount:
    return LazyMount(node=node, data_dir=data_dir, workdir=str(test.node_info(node).workdir), run_id=test.run_id)


def mount(test: Test, m: LazyMount) -> None:
    """Mount the lazy filesystem over `m.data_dir` on `m.node` (the system must be stopped); a no-op where it
    is mounted already (the system's option `lazyfs=true` mounted it)."""
    node = m.node
    remote = fs_remote(test, node)
    if m.data_dir in mounted(remote):
        return
    locator = getattr(remote, "locator", None)
    if test.ledger is not None and locator is not None:
        test.ledger.record(KIND, f"{node}:{m.data_dir}", data_dir=m.data_dir, backing=m.backing, pidfile=m.pidfile,
                           **locator)
    remote.upload(PROGRAM, m.program)
    _sh(remote, 'set -e; d=$1; b=$2; [ -d "$b" ] || mv "$d" "$b"; mkdir -p "$d"', m.data_dir, m.backing)
    start_daemon(remote, [node_python(test), m.program, "mount", m.backing, m.data_dir, "--control", m.control],
                 pidfile=m.pidfile, logfile=m.logfile, ledger=test.ledger, settle=0.2)
    ready = 'for i in $(seq 100); do grep -q " $1 fuse" /proc/mounts && [ -S "$2" ] && exit 0; sleep 0.1; done; exit 1'
    if _sh(remote, ready, m.data_dir, m.control, check=False).exit_code != 0:
        tail = remote.run(["tail", "-n", "3", m.logfile], timeout=30, check=False).stdout.strip()
        raise ClusterError(f"on {node}: the lazy filesystem did not mount at {m.data_dir}: {tail[-400:]}")


def command(test: Test, m: LazyMount, what: str) -> dict[str, object]:
    """Send `what` (power-loss, torn-write, sync, stats) to the filesystem; its JSON reply, or ClusterError."""
    r = fs_remote(test, m.node).run([node_python(test), m.program, "ctl", m.control, what], timeout=120,
                                    check=False)
    try:
        reply: dict[str, object] = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ClusterError(f"on {m.node}: lazyfs {what} gave no answer: {r.stderr.strip()[-300:]}") from None
    if not reply.get("ok"):
        raise ClusterError(f"on {m.node}: lazyfs {what} failed: {reply.get('error')}")
    return reply


def unmount(test: Test, m: LazyMount) -> None:
    """Make everything durable, unmount, and put the data directory back (the system must be stopped).
    Idempotent."""
    remote = fs_remote(test, m.node)
    try:
        command(test, m, "sync")
    except ClusterError:
        pass  # not running (any more): nothing to flush
    _restore(remote, m.data_dir, m.backing)
    stop_daemon(remote, m.pidfile, sig="TERM", wait=5, ledger=test.ledger)
    if test.ledger is not None and getattr(remote, "locator", None) is not None:
        test.ledger.release(KIND, f"{m.node}:{m.data_dir}")


# --------------------------------------------------------------------------------- the system option lazyfs=true
def wanted(test: Test) -> bool:
    """Whether the run's system option `lazyfs=true` puts the data directories on the lazy filesystem."""
    return bool(test.system_opts.get(LAZYFS))


def mount_data(test: Test, node: str, data_dir: str) -> None:
    """For `lazyfs=true`, in the system's setup with the system stopped: the data directory (created if absent)
    on the lazy filesystem. BadInput (one line) when the node has no FUSE."""
    require_fuse(test, [node])
    fs_remote(test, node).run(["mkdir", "-p", data_dir], timeout=30)
    mount(test, describe(test, node, data_dir))


def lose_unfsynced(test: Test, node: str, data_dir: str) -> dict[str, object] | None:
    """For `lazyfs=true`, right after the system was killed on `node`: drop what it had not fsynced, as a power
    cut would; the filesystem's account of what it dropped, or None where the directory is not mounted."""
    m = describe(test, node, data_dir)
    if m.data_dir not in mounted(fs_remote(test, node)):
        return None
    return command(test, m, "power-loss")


def unmount_data(test: Test, node: str, data_dir: str) -> None:
    """For `lazyfs=true`, in the system's teardown with the system stopped: the data directory back in place."""
    unmount(test, describe(test, node, data_dir))


_RESTORE = r"""
d=$1; b=$2
if grep -q " $d fuse" /proc/mounts; then umount "$d" 2>/dev/null || umount -l "$d"; fi
if [ -d "$b" ]; then rmdir "$d" 2>/dev/null || true; [ -e "$d" ] || mv "$b" "$d"; fi
rm -rf "$b.lazyfs-trash"
if grep -q " $d fuse" /proc/mounts || [ -d "$b" ]; then echo "could not restore $d" >&2; exit 1; fi
"""


def _restore(remote: Remote, data_dir: str, backing: str) -> None:
    r = _sh(remote, _RESTORE, data_dir, backing, check=False)
    if r.exit_code != 0:
        raise ClusterError(f"on {remote.node}: {r.stderr.strip() or 'could not unmount the lazy filesystem'}")


def mounted(remote: Remote) -> list[str]:
    """Mount points of lazy filesystems on the node (for residue checks)."""
    r = remote.run(["sh", "-c", "grep ' fuse' /proc/mounts | grep '^lazyfs ' | cut -d' ' -f2"], timeout=30,
                   check=False)
    return [line for line in r.stdout.splitlines() if line]


def _sh(remote: Remote, script: str, *args: str, check: bool = True) -> Any:
    return remote.run(["sh", "-c", script, "lazyfs", *args], timeout=60, check=check)


@undoer(KIND)
def _undo_mount(entry: LedgerEntry) -> None:
    data_dir, backing = str(entry.data["data_dir"]), str(entry.data["backing"])
    via = entry.data.get("via")
    if via == "netns":  # a local node: the mount is in this machine's mount namespace
        subprocess.run(["sh", "-c", _RESTORE, "lazyfs", data_dir, backing], capture_output=True, check=False)
    elif via == "ssh":
        from clusters.ssh.remote import remote_from_locator

        remote = remote_from_locator(entry.data)
        try:
            _restore(remote, data_dir, backing)
        finally:
            remote.close()
    else:
        raise ClusterError(f"lazyfs entry {entry.key}: unknown locator {via!r}")
