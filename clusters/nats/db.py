"""nats-server with clustered JetStream on the nodes: configure, start, await, kill, restart, pause, resume, find the
stream leader, wipe.

Owns `NatsDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady, HasDataDir, HasDataFiles). One daemon
per node through `clusters.daemon`, its files in the node's workdir:

    nats-server   `nats.pid`, `nats.log`, configuration `conf/nats.conf` (mode 0600: it holds the run's password),
                  JetStream's store in `data/` (the power-loss nemesis's data directory)

Every node routes to every other (a full mesh); JetStream's meta group elects a leader among them, and the
workload's stream (`clusters.nats.workloads`) is created once the cluster is up, with `replicas` copies: its own
Raft group elects the stream leader. `kill` SIGKILLs the server, `start` starts it again on its kept store,
`pause` / `resume` SIGSTOP / SIGCONT it.

`primaries` asks every node for the stream's info (from the controller, which reaches every node whatever the
partition) and returns the leaders they name: normally one node.
Does not install NATS: the binary comes from the node (Debian's nats-server, or `binary=`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, TypeVar

import nats.errors as nerr
import nats.js.errors as jserr

from clusters.daemon import daemon_pids, log_tail, signal_daemon, start_daemon, stop_daemon
from clusters.nats.client import connect
from clusters.nats.conf import CLIENT_PORT, ROUTE_PORT, check_conf, server_conf
from clusters.nats.workloads import STREAM_OF, create_streams
from harness.control import NotYet, Remote, on_nodes, retry_until, write_private
from harness.errors import BadInput, ClusterError, TimedOut

if TYPE_CHECKING:
    from clusters.nats import NatsOptions
    from harness.test import Test

T = TypeVar("T")
_DATA_FILES = 'for f in "$1"/jetstream/*/streams/*/msgs/*.blk; do [ -f "$f" ] && echo "$f"; done; true'


def _run(coro: Coroutine[object, object, T]) -> T:
    """Run one coroutine of the controller (a fresh loop per call: callers run in several threads at once)."""
    return asyncio.run(coro)


class NatsDB:
    """nats-server with JetStream on every node of the test, clustered by routes."""

    def __init__(self, opts: NatsOptions, *, password: str, workload: str) -> None:
        self.opts = opts
        self._password = password
        self.workload = workload

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def data_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "data")

    def conf_file(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "conf", "nats.conf")

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """The route port (the servers' own links), then the client port (nemeses.probe.HasPorts)."""
        return (ROUTE_PORT, CLIENT_PORT)

    def pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "nats.pid")

    def logfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "nats.log")

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    def installed_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run([self.opts.binary, "--version"], timeout=30, check=False)
        if r.exit_code != 0:
            raise BadInput(f"nats-server binary {self.opts.binary!r} does not run on {node}: "
                           f"{(r.stderr or r.stdout).strip()}")
        return r.stdout.strip().rsplit("v", 1)[-1] or "unknown"

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        conf_dir = os.path.dirname(self.conf_file(test, node))
        remote.run(["rm", "-rf", self.data_dir(test, node), conf_dir], timeout=60)
        remote.run(["mkdir", "-p", self.data_dir(test, node)], timeout=30)
        remote.run(["sh", "-c", 'umask 077 && mkdir -p "$1"', "mkdir-private", conf_dir], timeout=30)
        peers = [test.node_host(n) for n in test.nodes if n != node]
        write_private(remote, self.conf_file(test, node), server_conf(
            name=node, host=test.node_host(node), store_dir=self.data_dir(test, node), password=self._password,
            peers=peers, sync=self.opts.sync, user_conf=self.opts.conf))
        check_conf(remote, self.opts.binary, self.conf_file(test, node), self.opts.conf, self.opts.sync)
        self.start(test, node)

    def teardown(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        stop_daemon(remote, self.pidfile(test, node), sig="KILL", wait=1, ledger=test.ledger)
        remote.run(["rm", "-rf", self.data_dir(test, node), os.path.dirname(self.conf_file(test, node))],
                   timeout=60, check=False)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1, release=False)

    def start(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        if daemon_pids(remote, self.pidfile(test, node)):
            return
        start_daemon(remote, [self.opts.binary, "-c", self.conf_file(test, node)], pidfile=self.pidfile(test, node),
                     logfile=self.logfile(test, node), cwd=self.workdir(test, node), ledger=test.ledger, settle=0.2)

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "STOP")

    def resume(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "CONT")

    # HasLogs, HasDataFiles -----------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        """nats-server's log, once it has one (a run refused before any server started has none to collect)."""
        log = self.logfile(test, node)
        r = self._remote(test, node).run(["test", "-f", log], timeout=30, check=False)
        return [log] if r.exit_code == 0 else []

    def data_files(self, test: Test, node: str) -> Sequence[str]:
        """The stream's message blocks (`jetstream/<account>/streams/<stream>/msgs/*.blk`), absolute paths."""
        r = self._remote(test, node).run(["sh", "-c", _DATA_FILES, "data-files", self.data_dir(test, node)],
                                         timeout=30, check=False)
        return sorted(line for line in r.stdout.splitlines() if line.strip())

    # HasPrimaries --------------------------------------------------------------------------------
    def primaries(self, test: Test) -> Sequence[str]:
        """Every node some reachable server names as the leader of the workload's stream."""
        named, _ = on_nodes(test.nodes, lambda n: _run(self._stream_leader(test, n, 1.0)))
        return sorted({leader for leader in named.values() if leader in test.nodes})

    async def _stream_leader(self, test: Test, node: str, timeout: float) -> str:
        nc = await connect(test.node_host(node), self._password, timeout)
        try:
            info = await nc.jetstream(timeout=timeout).stream_info(STREAM_OF[self.workload])
        finally:
            await nc.close()
        leader = info.cluster.leader if info.cluster is not None else None
        if not leader:
            raise ClusterError(f"{node} knows no leader of the stream")
        return leader

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """Every server answers, the workload's stream exists (created here) with a leader and every replica
        current."""
        try:
            retry_until(timeout, lambda: _run(self._ready(test)), every=0.3, what="nats JetStream ready")
        except TimedOut as e:
            raise ClusterError(f"{e}{self._exited(test)}") from None

    async def _ready(self, test: Test) -> None:
        try:
            nc = await connect(test.node_host(test.nodes[0]), self._password, 1.0)
        except (nerr.Error, OSError, asyncio.TimeoutError) as e:
            raise NotYet(f"connect {test.nodes[0]}: {type(e).__name__}") from None
        try:
            await create_streams(nc, self.workload, self.opts.replicas, self.opts.msg_id, timeout=2.0)
            info = await nc.jetstream(timeout=2.0).stream_info(STREAM_OF[self.workload])
        except (nerr.Error, jserr.Error, asyncio.TimeoutError) as e:
            raise NotYet(f"{type(e).__name__}: {e}") from None
        finally:
            await nc.close()
        cluster = info.cluster
        if cluster is None or not cluster.leader:
            raise NotYet("the stream has no leader yet")
        current = [r for r in cluster.replicas or [] if r.current]
        if len(current) < self.opts.replicas - 1:
            raise NotYet(f"{len(current)} of {self.opts.replicas - 1} replicas of the stream are current")

    def _exited(self, test: Test) -> str:
        """'; nats-server on <node> exited: <log tail>' for each node where it is not running, or ''."""
        out = []
        for node in test.nodes:
            remote = self._remote(test, node)
            if not daemon_pids(remote, self.pidfile(test, node)):
                out.append(f"; nats-server on {node} exited: {log_tail(remote, self.logfile(test, node))}")
        return "".join(out)
