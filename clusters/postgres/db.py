"""Postgres on the nodes: initdb, configure, start, await, kill, restart, pause, resume, find the primary, wipe.

Owns `PostgresDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady, and the clock nemesis's
`ClockSkewable`), the postgres command line and the topologies of the `replication` system option. Postgres
runs on every node of the test, always:

    none         one node, a single primary; refused with more than one node (the others would idle, and faults
                 aimed at them would hit nothing while the run passed)
    async, sync  the first node is the primary; every other node is a hot standby cloned with pg_basebackup and
                 fed by streaming replication; with `sync` the primary waits for ANY 1 of the standbys to
                 confirm each commit (synchronous_standby_names = 'ANY 1 (...)').
    auto         (the default) none on one node, sync on more. Sync because clients talk to the primary only
                 and nothing promotes a standby: with async a fault between nodes could never change what a
                 client sees, while with sync a commit waits for a standby, so partitions, packet faults and
                 standby crashes reach the history (slow or cancelled commit waits).

Access (see `clusters.postgres.auth`): Postgres listens on the node's cluster address only and takes the
superuser `postgres` with the run's password (scram-sha-256) from the cluster's own addresses only.

Every command goes through the node's `Remote`, so the same code runs on local namespaces (which share this
host's filesystem: the data directory lives in the node's workdir, chowned to `postgres`), docker containers
and ssh hosts. Postgres refuses to run as root: commands run as the `postgres` OS user with `setpriv`, which
execs (unlike `runuser`/`su`, which fork and wait), so the pid file of `clusters.daemon` holds the postmaster.

Postgres forks a backend per connection and a few auxiliary processes, each in its own session. Signalling
the postmaster alone would neither pause the backends (they keep serving open connections) nor stop them
quickly on kill, so `kill`, `pause` and `resume` signal the postmaster and its children (found by parent pid in
/proc).

Clock skew (`restart_under_faketime`): a fast shutdown (SIGINT: no crash recovery, nothing acknowledged lost),
then the same start with the libfaketime variables placed after the privilege drop (`setpriv ... -- env K=V
postgres ...`; libfaketime cannot open the semaphore it made while still root once the process runs as
`postgres`). The environment is kept per node, so a later kill and start keeps the node's skewed clock;
`teardown` forgets it. Does not own the client (see `clusters.postgres.client`) and installs nothing: the binaries come from the
node (Debian's postgresql-15, or `bindir=`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import psycopg

from clusters import lazyfs
from clusters.daemon import daemon_pids, log_tail, signal_tree, start_daemon, stop_daemon
from clusters.postgres.auth import Network, allowed_addresses, hba
from harness.control import NotYet, Remote, on_all, retry_until, write_private
from harness.errors import BadInput, ClusterError
from harness.options import one_node_only, require_nodes

if TYPE_CHECKING:
    from clusters.postgres.options import PostgresOptions
    from harness.test import Test
    from psycopg.rows import TupleRow

USER = "postgres"


def _q(s: str) -> str:
    """A single-quoted Postgres string literal."""
    return "'" + s.replace("'", "''") + "'"


def topology(replication: str, nodes: Sequence[str]) -> str:
    """The replication a run gets: `auto` resolved by the node count; BadInput for a topology that would leave
    nodes idle or has no standby to replicate to."""
    require_nodes("postgres", nodes)
    if replication == "auto":
        return "none" if len(nodes) == 1 else "sync"
    if replication == "none":
        one_node_only("postgres replication=none", nodes,
                      "replication=async|sync (the default with more nodes is sync)")
    if replication != "none" and len(nodes) < 2:
        raise BadInput(f"postgres replication={replication} needs at least 2 nodes (a primary and a standby)")
    return replication


class PostgresDB:
    """Postgres 15 on the test's nodes, with the options of `clusters.postgres.options`; `password` is the
    superuser's, the run's own."""

    def __init__(self, opts: PostgresOptions, nodes: Sequence[str], *, password: str) -> None:
        self.bindir = opts.bindir
        self.replication = topology(opts.replication, nodes)
        self.port = opts.port
        self.fsync = opts.fsync
        self.allow: tuple[Network, ...] = opts.allow
        self.conf: Mapping[str, str] = opts.conf  # conf.KEY=VALUE: server settings
        self.password = password
        self.primary = nodes[0]
        self.faketime: dict[str, dict[str, str]] = {}  # node -> libfaketime environment its postgres runs with

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def data_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "pgdata")

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """Postgres's one port, clients' and replicas' alike (nemeses.probe.HasPorts)."""
        return (self.port,)

    def pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "postgres.pid")

    def logfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "postgres.log")

    def pgpass(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "pgpass")

    def binary(self, name: str) -> str:
        return os.path.join(self.bindir, name)

    def standbys(self, test: Test) -> list[str]:
        return [] if self.replication == "none" else [n for n in test.nodes if n != self.primary]

    def conninfo(self, test: Test, node: str) -> str:
        """How a node reaches the primary: the password comes from the node's pgpass file, not this string."""
        return (f"host={test.node_host(self.primary)} port={self.port} user={USER} "
                f"passfile={self.pgpass(test, node)} application_name={node}")

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    @staticmethod
    def as_postgres(argv: Sequence[str]) -> list[str]:
        """argv run as the postgres OS user; setpriv execs, so a daemon's pid is postgres's own."""
        return ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "--", *argv]

    # command line ---------------------------------------------------------------------------------
    def settings(self, test: Test, node: str) -> dict[str, str]:
        """Server settings, passed as -c on the command line (they override the config files)."""
        s = {
            "listen_addresses": test.node_host(node),
            "port": str(self.port),
            # No Unix socket: nothing of the harness uses one, and none means no door for local users (also, a
            # socket path under a long run id would pass the 107 bytes a socket address can hold).
            "unix_socket_directories": "",
            "shared_buffers": "32MB",
            "max_connections": "200",
            "fsync": "on" if self.fsync else "off",
            "wal_level": "replica",
            "max_wal_senders": "10",
            "wal_keep_size": "256MB",
            "hot_standby": "on",
            "log_line_prefix": "%m [%p] %q%a ",
            "log_min_messages": "warning",
            "deadlock_timeout": "200ms",
        }
        standbys = self.standbys(test)
        if self.replication == "sync" and node == self.primary:
            names = ", ".join('"' + n.replace('"', "") + '"' for n in standbys)
            s["synchronous_standby_names"] = f"ANY 1 ({names})"
            s["synchronous_commit"] = "on"
        if node in standbys:
            s["primary_conninfo"] = self.conninfo(test, node)
        s.update(self.conf)  # the user's settings win: they are what the run is testing
        return s

    def argv(self, test: Test, node: str) -> list[str]:
        env = self.faketime.get(node)
        argv = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
        argv += [self.binary("postgres"), "-D", self.data_dir(test, node)]
        for k, v in self.settings(test, node).items():
            argv += ["-c", f"{k}={v}"]
        return self.as_postgres(argv)  # env after setpriv: libfaketime must start as the postgres user

    def installed_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run([self.binary("postgres"), "--version"], timeout=30, check=False)
        if r.exit_code != 0:
            raise BadInput(f"postgres is not installed on {node} ({self.bindir}): {(r.stderr or r.stdout).strip()}")
        return r.stdout.strip()

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        self.installed_version(test, node)
        remote = self._remote(test, node)
        if not remote.run(["id", "-u", USER], timeout=30, check=False).ok:
            raise ClusterError(f"no {USER!r} OS user on {node}: install postgresql-15 there (it creates the user)")
        self.check_conf(test, node)
        work, data = self.workdir(test, node), self.data_dir(test, node)
        self._stop(test, node, release=False)
        remote.run(["rm", "-rf", data], timeout=60)
        remote.run(["mkdir", "-p", work], timeout=30)
        # the postgres user must reach its directories; on local namespaces the workdir's parents are root's
        remote.run(["chown", f"{USER}:{USER}", work], timeout=30)
        remote.run(["chmod", "755", work], timeout=30)
        write_private(remote, self.pgpass(test, node), f"*:*:*:{USER}:{self.password}\n", user=USER)
        if node == self.primary:
            self._initdb(test, node)
        else:
            self._clone(test, node)
        if lazyfs.wanted(test):
            lazyfs.mount_data(test, node, data)
        self.start(test, node)

    def check_conf(self, test: Test, node: str) -> None:
        """BadInput for a conf.KEY this server has no setting for (postgres itself would only fail to start)."""
        if not self.conf:
            return
        r = self._remote(test, node).run(self.as_postgres([self.binary("postgres"), "--describe-config"]),
                                         timeout=30, check=False)
        known = {line.split("\t", 1)[0].lower() for line in r.stdout.splitlines()}
        unknown = sorted(k for k in self.conf if k.lower() not in known)
        if unknown:
            raise BadInput(f"postgres on {node} has no setting {unknown[0]!r} (from conf.{unknown[0]})")

    def _initdb(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        data = self.data_dir(test, node)
        # --no-sync: initdb's own fsyncs (about 3 s) guard the fresh cluster against a crash of the machine,
        # which no fault of the harness is; a killed postgres loses nothing that sits in the page cache.
        pwfile = os.path.join(self.workdir(test, node), "initdb.pw")
        write_private(remote, pwfile, self.password + "\n", user=USER)
        argv = [self.binary("initdb"), "-D", data, "-U", USER, f"--pwfile={pwfile}", "--auth=scram-sha-256",
                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        try:
            r = remote.run(self.as_postgres(argv), timeout=120, check=False)
        finally:
            remote.run(["rm", "-f", pwfile], timeout=30, check=False)
        if r.exit_code != 0:
            raise ClusterError(f"initdb failed on {node}: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        allowed = allowed_addresses(test, test.nodes, self.allow)
        write_private(remote, os.path.join(data, "pg_hba.conf"), hba(allowed), user=USER)

    def _clone(self, test: Test, node: str, timeout: float = 90.0) -> None:
        """A standby: a base backup of the primary (retried until the primary serves), then standby.signal."""
        remote = self._remote(test, node)
        data = self.data_dir(test, node)
        argv = self.as_postgres([
            self.binary("pg_basebackup"), "-d", self.conninfo(test, node), "-D", data, "-X", "stream", "-c", "fast",
            "--no-password",
        ])

        def attempt() -> None:
            r = remote.run(argv, timeout=120, check=False)
            if r.exit_code != 0:
                remote.run(["rm", "-rf", data], timeout=60, check=False)
                raise NotYet(f"pg_basebackup failed: {(r.stderr or r.stdout).strip()[-300:]}")

        retry_until(timeout, attempt, every=0.5, what=f"a base backup of the primary on {node}")
        remote.run(self.as_postgres(["touch", os.path.join(data, "standby.signal")]), timeout=30)

    def teardown(self, test: Test, node: str) -> None:
        self._stop(test, node, release=True)
        if lazyfs.wanted(test):
            lazyfs.unmount_data(test, node, self.data_dir(test, node))
        self.faketime.pop(node, None)
        self._remote(test, node).run(["rm", "-rf", self.data_dir(test, node), self.pgpass(test, node)], timeout=60,
                                     check=False)

    def _stop(self, test: Test, node: str, *, release: bool) -> None:
        self.signal_tree(test, node, "KILL")
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1,
                    ledger=test.ledger, release=release)

    def signal_tree(self, test: Test, node: str, sig: str) -> list[int]:
        """Send sig to the postmaster of node and to its children; the children's pids (empty if not running)."""
        return signal_tree(self._remote(test, node), self.pidfile(test, node), sig)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        """SIGKILL the postmaster and every backend: a crash; the next start runs crash recovery."""
        self.signal_tree(test, node, "KILL")
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1, release=False)
        if lazyfs.wanted(test):
            lazyfs.lose_unfsynced(test, node, self.data_dir(test, node))

    def start(self, test: Test, node: str, timeout: float = 30.0) -> None:
        """Start postgres on node (no-op if running). Right after a kill, orphaned backends may still hold the
        old shared memory for a moment; the start is retried until `timeout`."""
        remote = self._remote(test, node)
        if daemon_pids(remote, self.pidfile(test, node)):
            return

        def attempt() -> None:
            try:
                start_daemon(remote, self.argv(test, node), pidfile=self.pidfile(test, node),
                             logfile=self.logfile(test, node), cwd=self.workdir(test, node), ledger=test.ledger,
                             settle=0.3)
            except ClusterError as e:
                raise NotYet(str(e)) from None

        retry_until(timeout, attempt, every=0.5, what=f"starting postgres on {node}")

    # ClockSkewable -------------------------------------------------------------------------------
    def restart_under_faketime(self, test: Test, node: str, env: Mapping[str, str] | None,
                               timeout: float = 60.0) -> None:
        """Restart postgres on node with `env` (libfaketime's variables) in its environment, or without it when
        env is None: a fast shutdown (SIGINT: the postmaster ends every session and writes a shutdown
        checkpoint), then a start; returns once the node answers a query."""
        remote = self._remote(test, node)
        self.signal_tree(test, node, "CONT")  # a paused postmaster cannot shut down
        stop_daemon(remote, self.pidfile(test, node), sig="INT", wait=20, release=False)
        if env:
            self.faketime[node] = dict(env)
        else:
            self.faketime.pop(node, None)
        self.start(test, node)

        def attempt() -> None:
            try:
                self.query(test, node, "SELECT 1")
            except psycopg.Error as e:
                if not daemon_pids(remote, self.pidfile(test, node)):
                    raise ClusterError(f"postgres on {node} exited after a restart under faketime: "
                                       f"{log_tail(remote, self.logfile(test, node))}") from e
                raise NotYet(str(e).strip()[:200]) from None

        retry_until(timeout, attempt, every=0.1, what=f"postgres on {node} answering after a restart")

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        self.signal_tree(test, node, "STOP")

    def resume(self, test: Test, node: str) -> None:
        self.signal_tree(test, node, "CONT")

    # HasLogs -------------------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        return [self.logfile(test, node)]

    # HasPrimaries --------------------------------------------------------------------------------
    def connect(self, test: Test, node: str, timeout: float = 2.0, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
        """A connection to node's postgres database as the superuser, with the run's password."""
        return psycopg.connect(host=test.node_host(node), port=self.port, user=USER, password=self.password,
                               dbname="postgres", connect_timeout=max(1, int(timeout)),
                               autocommit=autocommit)

    def query(self, test: Test, node: str, sql: str, timeout: float = 2.0) -> list[TupleRow]:
        with self.connect(test, node, timeout, autocommit=True) as conn:
            return list(conn.execute(sql).fetchall())

    def primaries(self, test: Test) -> Sequence[str]:
        """Every node that answers and is not in recovery (normally the first node; two would be a split
        brain). A configured primary that does not answer but whose postmaster exists (paused, or busy with
        crash recovery) still counts: nothing here promotes a standby, so no other node can have taken over.
        A killed primary does not count."""

        def is_primary(node: str) -> bool:
            try:
                return self.query(test, node, "SELECT pg_is_in_recovery()")[0][0] is False
            except psycopg.Error:
                return node == self.primary and bool(daemon_pids(self._remote(test, node), self.pidfile(test, node)))

        found = on_all(test.nodes, is_primary)
        return [n for n in test.nodes if found[n]]

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """The primary accepts queries and every standby streams from it (and one is synchronous with sync)."""
        standbys = set(self.standbys(test))

        def attempt() -> None:
            try:
                rows = self.query(test, self.primary,
                                   "SELECT application_name, state, sync_state FROM pg_stat_replication")
                streaming = {r[0] for r in rows if r[1] == "streaming"}
                synced = any(r[2] in ("sync", "quorum") for r in rows)
                if standbys <= streaming and (self.replication != "sync" or synced):
                    return
                last = f"standbys streaming: {sorted(streaming)} of {sorted(standbys)}"
            except psycopg.Error as e:
                last = f"{self.primary}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}"
            pids = on_all([self.primary, *sorted(standbys)],
                          lambda n: daemon_pids(self._remote(test, n), self.pidfile(test, n)))
            gone = [n for n, p in pids.items() if not p]
            if gone:
                tail = log_tail(self._remote(test, gone[0]), self.logfile(test, gone[0]))
                raise ClusterError(f"postgres on {gone[0]} exited: {tail}")
            raise NotYet(last)

        retry_until(timeout, attempt, every=0.1, what="postgres ready")
