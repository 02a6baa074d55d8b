"""etcd on the nodes: configure, start, await, kill, restart, pause, resume, find the leader, wipe.

Owns `EtcdDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady, and the disk nemesis's
`HasDataFiles`: the WAL segments and snapshots under `data/member/`) and the etcd command line. The
process runs as a daemon from `clusters.daemon` with its files in the node's workdir: `etcd.pid`, `etcd.log`,
`data/`. Client and peer URLs listen on the node's cluster address only (not 0.0.0.0, not loopback: on an ssh
host loopback is open to every local user). The initial cluster is built from the test's nodes; a restarted
member reuses its data directory (so the initial-cluster flags are ignored by etcd, as on a real restart).
Does not install etcd: the binary comes from the node (Debian's etcd-server, or the `binary=` system option).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from clusters import lazyfs
from clusters.daemon import daemon_pids, signal_daemon, start_daemon, stop_daemon
from clusters.etcd.gateway import EtcdError, Gateway
from harness.control import NotYet, Remote, on_all, retry_until
from harness.errors import BadInput, ClusterError

if TYPE_CHECKING:
    from clusters.etcd.options import EtcdOptions
    from harness.test import Test

CLIENT_PORT = 2379
PEER_PORT = 2380
_DATA_FILES = 'for f in "$1"/wal/*.wal "$1"/snap/*.snap; do [ -f "$f" ] && echo "$f"; done; true'


class EtcdDB:
    """etcd members on every node of the test, with the options of `clusters.etcd.options`."""

    def __init__(self, opts: EtcdOptions) -> None:
        self.binary = opts.binary
        self.version = opts.version
        self.heartbeat_ms = opts.heartbeat_ms
        self.election_ms = opts.election_ms
        self.conf: Mapping[str, str] = opts.conf  # conf.KEY=VALUE: --KEY=VALUE flags
        self._versions: dict[str, str] = {}  # node -> version its binary reports

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def _workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """The peer port (the members' own links), then the client port (nemeses.probe.HasPorts)."""
        return (PEER_PORT, CLIENT_PORT)

    def pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self._workdir(test, node), "etcd.pid")

    def logfile(self, test: Test, node: str) -> str:
        return os.path.join(self._workdir(test, node), "etcd.log")

    def data_dir(self, test: Test, node: str) -> str:
        return os.path.join(self._workdir(test, node), "data")

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    # command line ---------------------------------------------------------------------------------
    def argv(self, test: Test, node: str) -> list[str]:
        host = test.node_host(node)
        initial = ",".join(f"{n}=http://{test.node_host(n)}:{PEER_PORT}" for n in test.nodes)
        return [
            self.binary,
            "--name", node,
            "--data-dir", self.data_dir(test, node),
            "--listen-peer-urls", f"http://{host}:{PEER_PORT}",
            "--initial-advertise-peer-urls", f"http://{host}:{PEER_PORT}",
            "--listen-client-urls", f"http://{host}:{CLIENT_PORT}",  # the cluster network only, not loopback
            "--advertise-client-urls", f"http://{host}:{CLIENT_PORT}",
            "--initial-cluster", initial,
            "--initial-cluster-state", "new",
            "--initial-cluster-token", f"harness-{_run_id(test)}",
            "--heartbeat-interval", str(self.heartbeat_ms),
            "--election-timeout", str(self.election_ms),
        ] + (["--log-outputs", "stderr"] if self._modern(test, node) else []) + [
            f"--{k}={v}" for k, v in sorted(self.conf.items())
        ]

    def _modern(self, test: Test, node: str) -> bool:
        """Whether the binary knows 3.4's flags (--log-outputs); asked once per node and cached."""
        if node not in self._versions:
            self._versions[node] = self.installed_version(test, node)
        try:
            major, minor = (int(x) for x in self._versions[node].split(".")[:2])
        except ValueError:
            return True
        return (major, minor) >= (3, 4)

    def installed_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run([self.binary, "--version"], timeout=30, check=False)
        if r.exit_code != 0:
            why = r.stderr.strip() or r.stdout.strip()
            raise BadInput(f"etcd binary {self.binary!r} does not run on {node}: {why}")
        for line in r.stdout.splitlines():
            if line.lower().startswith("etcd version:"):
                return line.split(":", 1)[1].strip()
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else "unknown"

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        if self.version:
            have = self._versions[node] = self.installed_version(test, node)
            if not (have == self.version or have.startswith(self.version + ".")):
                raise BadInput(f"etcd on {node} is {have}, not the requested {self.version}: point binary= at one")
        remote = self._remote(test, node)
        self._check_conf(remote)
        remote.run(["rm", "-rf", self.data_dir(test, node)], timeout=60)
        if lazyfs.wanted(test):
            lazyfs.mount_data(test, node, self.data_dir(test, node))
        self.start(test, node)

    def _check_conf(self, remote: Remote) -> None:
        """BadInput for a conf.KEY that this etcd binary has no --KEY flag for (etcd itself would only exit)."""
        if not self.conf:
            return
        r = remote.run([self.binary, "--help"], timeout=30, check=False)
        known = set(re.findall(r"--([a-z0-9][a-z0-9-]*)", r.stdout + r.stderr))
        unknown = sorted(k for k in self.conf if k not in known)
        if unknown:
            raise BadInput(f"etcd on {remote.node} has no flag --{unknown[0]} (from conf.{unknown[0]})")

    def teardown(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        stop_daemon(remote, self.pidfile(test, node), sig="KILL", wait=1, ledger=test.ledger)
        if lazyfs.wanted(test):
            lazyfs.unmount_data(test, node, self.data_dir(test, node))
        remote.run(["rm", "-rf", self.data_dir(test, node)], timeout=60, check=False)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1, release=False)
        if lazyfs.wanted(test):
            lazyfs.lose_unfsynced(test, node, self.data_dir(test, node))

    def start(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        if daemon_pids(remote, self.pidfile(test, node)):
            return
        start_daemon(
            remote, self.argv(test, node), pidfile=self.pidfile(test, node), logfile=self.logfile(test, node),
            cwd=self._workdir(test, node), ledger=test.ledger, settle=0.2,
        )

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "STOP")

    def resume(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "CONT")

    # HasLogs -------------------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        return [self.logfile(test, node)]

    # HasDataFiles --------------------------------------------------------------------------------
    def data_files(self, test: Test, node: str) -> Sequence[str]:
        """The member's durable files: its WAL segments (`member/wal/*.wal`) and raft snapshots
        (`member/snap/*.snap`), absolute paths. Left out: the preallocated `*.tmp` segment (no data yet) and the
        bbolt backend `member/snap/db` (the applied state, not the log of what was acknowledged)."""
        member = os.path.join(self.data_dir(test, node), "member")
        r = self._remote(test, node).run(["sh", "-c", _DATA_FILES, "data-files", member], timeout=30, check=False)
        return sorted(line for line in r.stdout.splitlines() if line.strip())

    # HasPrimaries --------------------------------------------------------------------------------
    def primaries(self, test: Test) -> Sequence[str]:
        """Every node some reachable member names as its leader (normally one; two would be a split brain)."""

        def leader_seen_by(node: str) -> str:
            gw = Gateway(test.node_host(node), CLIENT_PORT, timeout=1.0)
            try:
                return gw.members().get(str(gw.status().get("leader", "")), "")
            except EtcdError:
                return ""
            finally:
                gw.close()

        return sorted({name for name in on_all(test.nodes, leader_seen_by).values() if name})

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """Every node answers a linearizable read (which needs a leader and a quorum); a member whose process
        exited meanwhile ends the wait at once."""
        waiting = list(test.nodes)

        def attempt() -> None:
            while waiting:
                node = waiting[0]
                gw = Gateway(test.node_host(node), CLIENT_PORT, timeout=1.0)
                try:
                    gw.range("harness/ready")
                except EtcdError as e:
                    self._running_or_raise(test, node)
                    raise NotYet(f"{node}: {e}") from None
                finally:
                    gw.close()
                waiting.pop(0)

        retry_until(timeout, attempt, every=0.05, what="etcd ready")

    def _running_or_raise(self, test: Test, node: str) -> None:
        if not daemon_pids(self._remote(test, node), self.pidfile(test, node)):
            tail = self._remote(test, node).run(["tail", "-n", "3", self.logfile(test, node)], check=False)
            raise ClusterError(f"etcd on {node} exited: {' | '.join(tail.stdout.strip().splitlines())}")

def _run_id(test: Test) -> str:
    spec = getattr(test.cluster, "spec", None)
    return str(getattr(spec, "run_id", test.name))
