"""Patroni on the nodes, with etcd as its DCS: configure, start, await, kill, restart, pause, resume, find the
leader, wipe.

Owns `PatroniDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady, HasDataDir) and Patroni's
configuration file. Reuses, never copies:
  - the DCS is the etcd system's `EtcdDB` (`clusters.etcd.db`), one member on every node, started in `setup`
    before Patroni and torn down after it; faults aimed at a node therefore reach its etcd member too, as on a
    real deployment where the DCS shares the database's machines;
  - Postgres's side is the postgres system's `PostgresDB` (`clusters.postgres.db`) for what does not depend on
    who starts Postgres: the binaries' version, the check of `conf.KEY` settings, the server settings, the
    connection as the superuser, the data directory's place; and its access rules (`clusters.postgres.auth`):
    pg_hba from the cluster's own addresses only, scram-sha-256 with the run's password.
Patroni itself does initdb (on whichever node wins the initialize key), clones the standbys with
pg_basebackup, promotes and demotes, and rewinds a former primary (use_pg_rewind, with wal_log_hints).

Files in the node's workdir: `patroni.yml` (mode 0600, owner postgres: it holds the superuser's password and
the REST API's, which never go on a command line or into the run directory), `patroni.pid`, `patroni.log`
(Patroni's log, and Postgres's: Postgres writes to the stderr Patroni gave it), `patroni.pgpass` (written by
Patroni, 0600), `pgdata/`. Patroni, its REST API and Postgres listen on the node's cluster address only; the
REST API's unsafe endpoints (switchover, restart, config) need the run's API password.

Processes: Patroni runs as the `postgres` OS user under `clusters.daemon`. It starts the postmaster through a
helper that leaves it in its own session, an orphan (so that Postgres outlives a restart of Patroni): the
postmaster is found by the first line of `pgdata/postmaster.pid` and named in the ledger on its own
(`record_daemon`), so `harness cleanup` also kills it after a crash of the harness. `kill` and `pause` signal
Patroni and the postmaster with their children (`clusters.daemon.signal_tree`): a node whose system crashed
or froze, while its etcd member (the DCS, not the system under test) keeps running; partitions cut both.

Does not install anything: Patroni (Debian's patroni 3.0), Postgres 15 and etcd come from the node.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import psycopg
import yaml

from clusters.daemon import (
    daemon_pids,
    log_tail,
    record_daemon,
    signal_tree,
    start_daemon,
    stop_daemon,
)
from clusters.etcd.db import CLIENT_PORT, EtcdDB
from clusters.etcd.options import EtcdOptions
from clusters.etcd.gateway import EtcdError, Gateway
from clusters.postgres.auth import allowed_addresses, hba
from clusters.postgres.db import USER, PostgresDB
from clusters.postgres.options import PostgresOptions
from harness.control import NotYet, Remote, retry_until, write_private
from harness.errors import BadInput, ClusterError, TimedOut

if TYPE_CHECKING:
    from clusters.patroni import PatroniOptions
    from harness.test import Test

API_PORT = 8008
SCOPE = "harness"
NAMESPACE = "/patroni/"
PATRONI = "patroni"
# Settings Patroni owns: it writes them itself from its own configuration (listen, connect_address) or from
# the synchronous mode (synchronous_standby_names), or puts them in the recovery configuration.
_PATRONI_OWNS = ("listen_addresses", "port", "primary_conninfo", "synchronous_standby_names", "synchronous_commit")


class PatroniDB:
    """Patroni + Postgres 15 + an etcd member on every node of the test."""

    def __init__(self, opts: PatroniOptions, nodes: Sequence[str], *, password: str, api_password: str) -> None:
        self.opts = opts
        # Pre-vote (etcd 3.5's default, off in 3.4): a member that was cut off does not depose the DCS's leader
        # when it rejoins with a higher term. Without it every heal costs an etcd election, which outlasts
        # retry_timeout and makes the new Patroni leader demote itself for no fault of its own.
        self.etcd = EtcdDB(EtcdOptions.of({"conf": {"pre-vote": "true"}}))
        # The postgres system's DB as a library of what does not depend on who starts Postgres (see the module
        # docstring); its own setup, start and topology are not used ("async" only satisfies its constructor).
        self.pg = PostgresDB(PostgresOptions.of({
            "bindir": opts.bindir, "port": opts.port, "fsync": opts.fsync, "conf": opts.conf,
            "replication": "async" if len(nodes) > 1 else "none"}), nodes, password=password)
        self._password = password
        self._api_password = api_password

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def config_file(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "patroni.yml")

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """Postgres (replication), the DCS's etcd member, Patroni's REST API (nemeses.probe.HasPorts)."""
        return (self.opts.port, *self.etcd.ports(test, node), self.opts.api_port)

    def pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "patroni.pid")

    def logfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "patroni.log")

    def data_dir(self, test: Test, node: str) -> str:
        return self.pg.data_dir(test, node)

    def postmaster_pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self.data_dir(test, node), "postmaster.pid")

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    # configuration ---------------------------------------------------------------------------------
    def parameters(self, test: Test, node: str) -> dict[str, str]:
        """Postgres's settings: the postgres system's, less those Patroni owns, plus what a failover needs
        (wal_log_hints for pg_rewind, short walsender and walreceiver timeouts), then the user's conf.KEY=VALUE."""
        s = {k: v for k, v in self.pg.settings(test, node).items() if k not in _PATRONI_OWNS or k in self.opts.conf}
        s["wal_log_hints"] = "on"
        s["max_replication_slots"] = "10"
        # A primary's shutdown waits for its walsenders to hand the last WAL to the standbys: cut off from them,
        # a demotion would wait out the default 60 s; and a standby should notice a dead primary as soon.
        s["wal_sender_timeout"] = "5s"
        s["wal_receiver_timeout"] = "5s"
        s.update(self.opts.conf)
        return s

    def config(self, test: Test, node: str) -> dict[str, object]:
        """Patroni's configuration of node (see Patroni's YAML configuration reference)."""
        host, o = test.node_host(node), self.opts
        su = {"username": USER, "password": self._password}
        params = self.parameters(test, node)
        pg_hba = hba(allowed_addresses(test, test.nodes)).splitlines()
        return {
            "scope": SCOPE, "namespace": NAMESPACE, "name": node,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"{host}:{o.api_port}", "connect_address": f"{host}:{o.api_port}",
                        "authentication": {"username": "harness", "password": self._api_password}},
            "etcd3": {"hosts": [f"{test.node_host(n)}:{CLIENT_PORT}" for n in test.nodes]},
            "bootstrap": {
                "dcs": {
                    "ttl": o.ttl, "loop_wait": o.loop_wait, "retry_timeout": o.retry_timeout,
                    "synchronous_mode": o.replication != "async",
                    "synchronous_mode_strict": o.replication == "sync-strict",
                    "postgresql": {"use_pg_rewind": True, "use_slots": True, "parameters": params},
                },
                # --no-sync: initdb's own fsyncs guard a fresh cluster against a crash of the machine, which no
                # fault here is (the power-loss nemesis mounts its filesystem after setup).
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "no-sync"],
            },
            "postgresql": {
                "listen": f"{host}:{o.port}", "connect_address": f"{host}:{o.port}",
                "data_dir": self.data_dir(test, node), "bin_dir": o.bindir,
                "pgpass": os.path.join(self.workdir(test, node), "patroni.pgpass"),
                "authentication": {"superuser": su, "replication": su, "rewind": su},
                "parameters": params, "pg_hba": pg_hba,
                "basebackup": [{"checkpoint": "fast"}],
                "remove_data_directory_on_rewind_failure": True,
                "remove_data_directory_on_diverged_timelines": True,
            },
            "watchdog": {"mode": "off"},
        }

    def patroni_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run([PATRONI, "--version"], timeout=30, check=False)
        if r.exit_code != 0:
            raise BadInput(f"patroni is not installed on {node}: {(r.stderr or r.stdout).strip()[:200]} "
                           "(apt-get install patroni)")
        return r.stdout.strip()

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        self.patroni_version(test, node)
        self.pg.installed_version(test, node)
        remote = self._remote(test, node)
        if not remote.run(["id", "-u", USER], timeout=30, check=False).ok:
            raise ClusterError(f"no {USER!r} OS user on {node}: install postgresql-15 there (it creates the user)")
        self.pg.check_conf(test, node)
        self._stop(test, node, release=False)
        self.etcd.setup(test, node)
        self._await_dcs(test, node)
        work = self.workdir(test, node)
        remote.run(["rm", "-rf", self.data_dir(test, node)], timeout=60)
        remote.run(["mkdir", "-p", work], timeout=30)
        # the postgres user must reach its directories; on local namespaces the workdir's parents are root's
        remote.run(["chown", f"{USER}:{USER}", work], timeout=30)
        remote.run(["chmod", "755", work], timeout=30)
        write_private(remote, self.config_file(test, node), yaml.safe_dump(self.config(test, node)), user=USER)
        self.start(test, node)

    def _await_dcs(self, test: Test, node: str, timeout: float = 30.0) -> None:
        """Until node's etcd member answers a linearizable read (its cluster has a quorum): a Patroni started
        before that waits out a whole retry cycle (about 10 s) before it first tries again."""
        def attempt() -> None:
            gw = Gateway(test.node_host(node), CLIENT_PORT, timeout=1.0)
            try:
                gw.range(f"{NAMESPACE}ready")
            except EtcdError as e:
                raise NotYet(f"etcd on {node}: {e}") from None
            finally:
                gw.close()

        try:
            retry_until(timeout, attempt, every=0.1, what=f"the DCS (etcd) on {node}")
        except TimedOut as e:
            raise ClusterError(str(e)) from None

    def teardown(self, test: Test, node: str) -> None:
        try:
            self._stop(test, node, release=True)
        finally:
            self.etcd.teardown(test, node)
            self._remote(test, node).run(["rm", "-rf", self.data_dir(test, node), self.config_file(test, node)],
                                         timeout=60, check=False)

    def _stop(self, test: Test, node: str, *, release: bool) -> None:
        self.kill(test, node)
        remote, ledger = self._remote(test, node), test.ledger
        stop_daemon(remote, self.pidfile(test, node), sig="KILL", wait=1, ledger=ledger, release=release)
        stop_daemon(remote, self.postmaster_pidfile(test, node), sig="KILL", wait=1, ledger=ledger, release=release)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        """SIGKILL Patroni (first, so it cannot restart Postgres), then the postmaster and every backend: the
        node's system crashed; the next start runs crash recovery and rejoins (rewinding if it must)."""
        remote = self._remote(test, node)
        signal_tree(remote, self.pidfile(test, node), "KILL")
        signal_tree(remote, self.postmaster_pidfile(test, node), "KILL")
        stop_daemon(remote, self.pidfile(test, node), sig="KILL", wait=1, release=False)

    def start(self, test: Test, node: str) -> None:
        """Start Patroni on node (no-op if running); Patroni starts Postgres."""
        remote = self._remote(test, node)
        if daemon_pids(remote, self.pidfile(test, node)):
            return
        record_daemon(remote, self.postmaster_pidfile(test, node), "postgres", test.ledger)
        start_daemon(remote, self.pg.as_postgres([PATRONI, self.config_file(test, node)]),
                     pidfile=self.pidfile(test, node), logfile=self.logfile(test, node),
                     cwd=self.workdir(test, node), ledger=test.ledger, settle=0.5)

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        """SIGSTOP Patroni, then Postgres: it renews no lease and serves no query until resumed."""
        remote = self._remote(test, node)
        signal_tree(remote, self.pidfile(test, node), "STOP")
        signal_tree(remote, self.postmaster_pidfile(test, node), "STOP")

    def resume(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        signal_tree(remote, self.postmaster_pidfile(test, node), "CONT")
        signal_tree(remote, self.pidfile(test, node), "CONT")

    # HasLogs -------------------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        return [self.logfile(test, node), *self.etcd.log_files(test, node)]

    # HasPrimaries --------------------------------------------------------------------------------
    def leader(self, test: Test) -> str | None:
        """The holder of Patroni's leader key, as the first etcd member that answers a linearizable read says
        (a member cut off from its quorum does not answer); None if no member answers or no one holds it."""
        key = f"{NAMESPACE}{SCOPE}/leader"
        for node in test.nodes:
            gw = Gateway(test.node_host(node), CLIENT_PORT, timeout=1.0)
            try:
                kvs = gw.range(key)
                return kvs[0].value if kvs else None
            except EtcdError:
                continue
            finally:
                gw.close()
        return None

    def primaries(self, test: Test) -> Sequence[str]:
        """The node holding the leader key (normally one; none between a lease's expiry and an election)."""
        leader = self.leader(test)
        return [leader] if leader in test.nodes else []

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """A leader holds the key, its Postgres takes writes, and every other node streams from it (one of them
        synchronously with replication=sync or sync-strict)."""
        try:
            retry_until(timeout, lambda: self._ready(test), every=0.3, what="patroni ready")
        except TimedOut as e:
            raise ClusterError(str(e)) from None

    def _ready(self, test: Test) -> None:
        for node in test.nodes:
            if not daemon_pids(self._remote(test, node), self.pidfile(test, node)):
                raise ClusterError(f"patroni on {node} exited: {log_tail(self._remote(test, node), self.logfile(test, node))}")
        leader = self.leader(test)
        if leader not in test.nodes:
            raise NotYet("no leader yet")
        try:
            rows = self.pg.query(test, leader, "SELECT application_name, state, sync_state FROM pg_stat_replication "
                                               "WHERE NOT pg_is_in_recovery()")
        except psycopg.Error as e:
            raise NotYet(f"leader {leader}: {str(e).strip()[:120]}") from None
        streaming = {r[0] for r in rows if r[1] == "streaming"}
        want = set(test.nodes) - {leader}
        if not want <= streaming:
            raise NotYet(f"leader {leader}; standbys streaming: {sorted(streaming)} of {sorted(want)}")
        if self.opts.replication != "async" and not any(r[2] in ("sync", "quorum") for r in rows):
            raise NotYet(f"leader {leader}: no synchronous standby yet")
