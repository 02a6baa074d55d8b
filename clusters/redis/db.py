"""Redis and Sentinel on the nodes: configure, start, await, kill, restart, pause, resume, find the primary, wipe.

Owns `RedisDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady). Two daemons per node, each through
`clusters.daemon` with its files in the node's workdir:

    redis-server   `redis.pid`, `redis.log`, data (append-only file) in `data/`
    Sentinel       `sentinel.pid`, `sentinel.log` (mode=sentinel only)

Both configuration files live in `conf/` (mode 0700: they hold the run's password; Redis and Sentinel rewrite
them in place, and a rewritten file must not become readable by others). What they say is
`clusters.redis.conf`'s business.

Topology: with mode=sentinel the first node starts as the primary and every other node as its replica; from
then on the Sentinels decide (a failover promotes a replica and reconfigures the others, including an old
primary that comes back). With mode=standalone one node runs redis-server alone.

Faults act on the node's data server and its Sentinel together, as a crash or a stall of the machine would:
`kill` SIGKILLs both, `start` starts whichever is not running (each rereads its own, possibly rewritten,
file), `pause` and `resume` SIGSTOP / SIGCONT both. The Sentinels of the other nodes (a majority while one
node is down) carry out the failover.

`primaries` asks every node's Sentinel which address it names for the master (from the controller, which
reaches every node whatever the partition): normally one node; two are a split brain in the making.
Does not install Redis: the binaries come from the node (Debian's redis-server and redis-sentinel, or
`binary=`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis

from clusters.daemon import daemon_pids, log_tail, signal_daemon, start_daemon, stop_daemon
from clusters.redis.client import master_state
from clusters.redis.conf import (
    MASTER,
    PORT,
    SENTINEL_PORT,
    check_directives,
    quorum,
    redis_conf,
    sentinel_conf,
)
from harness.control import NotYet, Remote, on_nodes, retry_until, write_private
from harness.errors import BadInput, ClusterError, TimedOut

if TYPE_CHECKING:
    from clusters.redis import RedisOptions
    from harness.test import Test

_DAEMONS = ("redis", "sentinel")


class RedisDB:
    """redis-server (and, with mode=sentinel, a Sentinel) on every node of the test."""

    def __init__(self, opts: RedisOptions, *, password: str) -> None:
        self.opts = opts
        self._password = password

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def data_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "data")

    def conf_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "conf")

    def conf_file(self, test: Test, node: str, daemon: str) -> str:
        return os.path.join(self.conf_dir(test, node), f"{daemon}.conf")

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """redis-server's port (replication and clients), then Sentinel's (nemeses.probe.HasPorts)."""
        return (PORT, SENTINEL_PORT)

    def pidfile(self, test: Test, node: str, daemon: str = "redis") -> str:
        """The pid file of `daemon`; by default redis-server's, the main process (`nemeses.probe.HasPidfile`)."""
        return os.path.join(self.workdir(test, node), f"{daemon}.pid")

    def logfile(self, test: Test, node: str, daemon: str) -> str:
        return os.path.join(self.workdir(test, node), f"{daemon}.log")

    def daemons(self) -> tuple[str, ...]:
        return _DAEMONS if self.opts.mode == "sentinel" else ("redis",)

    def argv(self, test: Test, node: str, daemon: str) -> list[str]:
        conf = self.conf_file(test, node, daemon)
        return [self.opts.binary, conf, "--sentinel"] if daemon == "sentinel" else [self.opts.binary, conf]

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    def first_primary(self, test: Test) -> str:
        """The node that starts as the primary: the first node of the test."""
        return test.nodes[0]

    def installed_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run([self.opts.binary, "--version"], timeout=30, check=False)
        if r.exit_code != 0:
            why = r.stderr.strip() or r.stdout.strip()
            raise BadInput(f"redis binary {self.opts.binary!r} does not run on {node}: {why}")
        for word in r.stdout.split():
            if word.startswith("v="):
                return word[2:]
        return r.stdout.strip() or "unknown"

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        remote.run(["rm", "-rf", self.data_dir(test, node), self.conf_dir(test, node)], timeout=60)
        remote.run(["mkdir", "-p", self.data_dir(test, node)], timeout=30)
        primary = self.first_primary(test)
        host = test.node_host(node)
        conf = self.conf_file(test, node, "redis")
        write_private(remote, conf, redis_conf(
            host=host, data_dir=self.data_dir(test, node), password=self._password,
            primary_host=None if node == primary else test.node_host(primary), user_conf=self.opts.conf))
        check_directives(remote, self.opts.binary, conf, self.opts.conf)
        if self.opts.mode == "sentinel":
            write_private(remote, self.conf_file(test, node, "sentinel"), sentinel_conf(
                host=host, conf_dir=self.conf_dir(test, node), password=self._password,
                primary_host=test.node_host(primary), quorum=quorum(test.nodes),
                down_after_ms=self.opts.down_after_ms, failover_timeout_ms=self.opts.failover_timeout_ms))
        self.start(test, node)

    def teardown(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        for daemon in self.daemons():
            stop_daemon(remote, self.pidfile(test, node, daemon), sig="KILL", wait=1, ledger=test.ledger)
        remote.run(["rm", "-rf", self.data_dir(test, node), self.conf_dir(test, node)], timeout=60, check=False)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        for daemon in self.daemons():
            stop_daemon(remote, self.pidfile(test, node, daemon), sig="KILL", wait=1, release=False)

    def start(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        for daemon in self.daemons():
            pidfile = self.pidfile(test, node, daemon)
            if daemon_pids(remote, pidfile):
                continue
            start_daemon(remote, self.argv(test, node, daemon), pidfile=pidfile,
                         logfile=self.logfile(test, node, daemon), cwd=self.workdir(test, node),
                         ledger=test.ledger, settle=0.2)

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        for daemon in self.daemons():
            signal_daemon(self._remote(test, node), self.pidfile(test, node, daemon), "STOP")

    def resume(self, test: Test, node: str) -> None:
        for daemon in self.daemons():
            signal_daemon(self._remote(test, node), self.pidfile(test, node, daemon), "CONT")

    # HasLogs -------------------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        return [self.logfile(test, node, d) for d in self.daemons()]

    # HasPrimaries --------------------------------------------------------------------------------
    def primaries(self, test: Test) -> Sequence[str]:
        """Every node some reachable Sentinel names as the master (standalone: the one node)."""
        if self.opts.mode == "standalone":
            return list(test.nodes)
        by_host = {test.node_host(n): n for n in test.nodes}
        named, _ = on_nodes(test.nodes, lambda n: self._sentinel_names(test, n))
        return sorted({by_host[h] for h in named.values() if h in by_host})

    def _sentinel_names(self, test: Test, node: str) -> str:
        with self._sentinel(test, node, timeout=1.0) as s:
            addr = s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        if not addr:
            raise ClusterError(f"the Sentinel on {node} names no master")
        return addr[0].decode() if isinstance(addr[0], bytes) else str(addr[0])

    def _sentinel(self, test: Test, node: str, timeout: float) -> redis.Redis:
        return redis.Redis(host=test.node_host(node), port=SENTINEL_PORT, password=self._password,
                           socket_timeout=timeout, socket_connect_timeout=timeout)

    def _server(self, test: Test, node: str, timeout: float) -> redis.Redis:
        return redis.Redis(host=test.node_host(node), port=PORT, password=self._password,
                           socket_timeout=timeout, socket_connect_timeout=timeout)

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """The primary has every replica online, and every Sentinel names it, knows every replica and every other
        Sentinel (a failover needs the quorum to know each other); standalone: the server answers."""
        try:
            retry_until(timeout, lambda: self._ready(test), every=0.2, what="redis ready")
        except TimedOut as e:
            raise ClusterError(f"{e}{self._exited(test)}") from None

    def _ready(self, test: Test) -> None:
        primary = self.first_primary(test)
        try:
            with self._server(test, primary, 1.0) as r:
                info = r.info("replication")
            if self.opts.mode == "standalone":
                return
            online = sum(1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                         and v.get("state") == "online")
            if info.get("role") != "master" or online < len(test.nodes) - 1:
                raise NotYet(f"{primary} has {online} of {len(test.nodes) - 1} replicas online")
            for node in test.nodes:
                with self._sentinel(test, node, 1.0) as s:
                    m = s.execute_command("SENTINEL", "MASTER", MASTER)
                state = master_state(m)
                if state.get("ip") != test.node_host(primary) or state.get("flags") != "master":
                    raise NotYet(f"the Sentinel on {node} sees {state.get('ip')} as {state.get('flags')}")
                if int(state.get("num-slaves", 0)) < len(test.nodes) - 1:
                    raise NotYet(f"the Sentinel on {node} knows {state.get('num-slaves')} replicas")
                if int(state.get("num-other-sentinels", 0)) < len(test.nodes) - 1:
                    raise NotYet(f"the Sentinel on {node} knows {state.get('num-other-sentinels')} other Sentinels")
        except redis.RedisError as e:
            raise NotYet(f"{type(e).__name__}: {e}") from None

    def _exited(self, test: Test) -> str:
        """'; <daemon> on <node> exited: <log tail>' for each daemon that is not running, or ''."""
        out = []
        for node in test.nodes:
            remote = self._remote(test, node)
            for d in self.daemons():
                if not daemon_pids(remote, self.pidfile(test, node, d)):
                    out.append(f"; {d} on {node} exited: {log_tail(remote, self.logfile(test, node, d))}")
        return "".join(out)
