"""MariaDB on the nodes, alone or as a Galera cluster: install the data directory, configure, start, await,
kill, restart and rejoin, pause, resume, find the primary component, wipe.

Owns `MariaDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady, nemeses.disk.HasDataFiles, and `pidfile` for the fault
evidence of `nemeses.probe.HasPidfile`) and the mariadbd command line. Installs nothing: the binaries come from
the node (Debian's mariadb-server 10.11 and galera-4; see the Dockerfile).

    galera off   one node: plain MariaDB.
    galera on    every node runs mariadbd with the Galera provider. The first node bootstraps the cluster
                 (--wsrep-new-cluster); the others join one after another, each once the one before it is
                 Synced, by a state snapshot transfer (rsync) from a member; setup returns on each node once it
                 reports Synced, and `await_ready` waits until every node sees wsrep_cluster_size = N.

Access: mariadbd listens on the node's cluster address only (client port, and with Galera the group, IST and
SST ports), with no name resolution. The one account the harness uses, `harness`, is created with the run's
password (`test.secrets.password("mariadb")`) for the cluster's own addresses only (`clusters.postgres.auth.
allowed_addresses`: the nodes and this machine on their network), by SQL fed on stdin to `mariadbd --bootstrap`
right after `mariadb-install-db`: the password is never on a command line, in a file or in the run directory.
Joining Galera nodes receive the account with the snapshot. root is reachable only through the node's abstract Unix
socket by the OS root (unix_socket authentication), which the harness does not use.

mariadbd is started as root with --user=mysql: it drops privileges itself without exec'ing, so the daemon's pid
file (`clusters.daemon`) names mariadbd, and `harness cleanup` finds it by name after a crash of the harness.
Its process group (setsid) holds the state-transfer helpers it forks (wsrep_sst_rsync, rsync): kill, pause and
resume signal the whole group.

A killed Galera node restarts with the same cluster address and no bootstrap flag: it finds the primary component
and catches up by IST or SST; `start` returns once it is Synced again and raises ClusterError naming its state if
it is not within `REJOIN_TIMEOUT` (the kill nemesis records that on its op, and the run's verdict cannot be valid
for a window in which a node never came back). If every node was killed, the nodes re-form the primary component
from their saved view (pc.recovery, on by default) once all of them run again.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pymysql

from clusters.daemon import daemon_pids, log_tail, start_daemon, stop_daemon
from clusters.postgres.auth import allowed_addresses
from harness.control import NotYet, Remote, retry_until
from harness.errors import BadInput, ClusterError, TimedOut

if TYPE_CHECKING:
    from clusters.mariadb import MariaDBOptions
    from harness.test import Test

PORT = 3306
OS_USER = "mysql"
MARIADBD = "/usr/sbin/mariadbd"
GALERA = "/usr/lib/galera/libgalera_smm.so"
GROUP_PORT, IST_PORT, SST_PORT = 4567, 4568, 4444
READY_TIMEOUT = 120.0  # setup: bootstrap, or a join with its state transfer, on a loaded machine
REJOIN_TIMEOUT = 45.0  # a restarted node back to Synced

# Signal the process group of $1 (a pid file) with $2: mariadbd and the state-transfer helpers it forked.
_SIGNAL_GROUP = r"""
pidfile=$1 sig=$2
[ -s "$pidfile" ] || exit 0
kill -s "$sig" -- "-$(cat "$pidfile")" 2>/dev/null || true
"""

_EXISTING = 'for p in "$@"; do for f in $p; do [ -f "$f" ] && echo "$f"; done; done; true'


def _sql_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def account_hosts(test: Test) -> list[str]:
    """The host parts of the `harness` account: every address allowed to connect, as MariaDB spells them."""
    out = []
    for net in allowed_addresses(test, test.nodes):
        if net.prefixlen == net.max_prefixlen:
            out.append(str(net.network_address))
        elif isinstance(net, ipaddress.IPv4Network):
            out.append(f"{net.network_address}/{net.netmask}")
    return out


def account_sql(hosts: Sequence[str], password: str) -> str:
    """The bootstrap SQL: the test database and the `harness` account on each host, with every privilege."""
    lines = ["FLUSH PRIVILEGES;", "CREATE DATABASE IF NOT EXISTS harness;"]
    for host in hosts:
        who = f"'harness'@{_sql_string(host)}"
        lines += [f"CREATE USER {who} IDENTIFIED BY {_sql_string(password)};", f"GRANT ALL ON *.* TO {who};"]
    return "\n".join(lines) + "\n"


class MariaDB:
    """MariaDB 10.11 on the test's nodes, a Galera cluster when `opts.galera`; `password` is the account's."""

    def __init__(self, opts: MariaDBOptions, nodes: Sequence[str], *, password: str) -> None:
        self.opts = opts
        self.nodes = tuple(nodes)
        self.password = password
        self._failed: set[str] = set()  # nodes whose setup failed: the nodes joining after them stop waiting

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def data_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "data")

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """Galera's group port when clustered, then the SQL port (nemeses.probe.HasPorts)."""
        return (GROUP_PORT, PORT) if self.opts.galera else (PORT,)

    def pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "mariadb.pid")

    def logfile(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "mariadb.log")

    def tmpdir(self, test: Test, node: str) -> str:
        """mariadbd's own temporary directory: /tmp is shared by local-namespace nodes, and two install-db runs
        at once collided there on a temporary table's file."""
        return os.path.join(self.workdir(test, node), "tmp")

    def socket(self, test: Test, node: str) -> str:
        """mariadbd always makes a Unix socket: an abstract one (a name in the node's network namespace, no file),
        named by the workdir, so that no socket file outlives a killed server or a crashed harness (a path in the
        workdir could pass the 107 bytes a socket address holds; one under /tmp stayed after `harness cleanup`)."""
        return "@harness-mariadb-" + hashlib.sha1(self.workdir(test, node).encode()).hexdigest()[:16]

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    # command line ---------------------------------------------------------------------------------
    def settings(self, test: Test, node: str) -> dict[str, str]:
        """mariadbd's options (--KEY=VALUE), the user's conf.KEY=VALUE last."""
        host, o = test.node_host(node), self.opts
        s = {
            "user": OS_USER, "datadir": self.data_dir(test, node), "socket": self.socket(test, node),
            "tmpdir": self.tmpdir(test, node),
            "pid-file": os.path.join(self.workdir(test, node), "mariadbd.pid"),
            "bind-address": host, "port": str(o.port), "skip-name-resolve": "ON",
            "innodb-buffer-pool-size": "64M", "max-connections": "300",
            "transaction-isolation": o.isolation.upper(),
            "innodb-flush-log-at-trx-commit": str(o.innodb_flush_log_at_trx_commit),
            "innodb-snapshot-isolation": "ON" if o.innodb_snapshot_isolation else "OFF",
        }
        if o.galera:
            s.update({
                "wsrep-on": "ON", "wsrep-provider": GALERA, "wsrep-cluster-name": "harness",
                "wsrep-cluster-address": "gcomm://" + ",".join(test.node_host(n) for n in self.nodes),
                "wsrep-node-address": host, "wsrep-node-name": node, "wsrep-sst-method": "rsync",
                "wsrep-sst-receive-address": f"{host}:{SST_PORT}", "wsrep-sync-wait": str(o.wsrep_sync_wait),
                "wsrep-provider-options": f"gmcast.listen_addr=tcp://{host}:{GROUP_PORT};ist.recv_addr={host}:{IST_PORT}",
                "binlog-format": "ROW", "innodb-autoinc-lock-mode": "2",
            })
        s.update(o.conf)  # the user's settings win: they are what the run is testing
        return s

    def argv(self, test: Test, node: str, *, bootstrap: bool = False) -> list[str]:
        argv = [MARIADBD, "--no-defaults", *(f"--{k}={v}" for k, v in self.settings(test, node).items())]
        return argv + (["--wsrep-new-cluster"] if bootstrap else [])

    def installed_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run([MARIADBD, "--version"], timeout=30, check=False)
        if r.exit_code != 0:
            raise BadInput(f"mariadb is not installed on {node} ({MARIADBD}): {(r.stderr or r.stdout).strip()}")
        return r.stdout.strip()

    def _check_node(self, test: Test, node: str) -> None:
        """BadInput when the node cannot run this setup: no mariadbd, no mysql user, no Galera provider, or a
        conf.KEY mariadbd has no option for (it would only fail to start)."""
        remote = self._remote(test, node)
        self.installed_version(test, node)
        if not remote.run(["id", "-u", OS_USER], timeout=30, check=False).ok:
            raise BadInput(f"no {OS_USER!r} OS user on {node}: install mariadb-server there (it creates the user)")
        if self.opts.galera and not remote.run(["test", "-f", GALERA], timeout=30, check=False).ok:
            raise BadInput(f"galera=on needs the Galera provider {GALERA} on {node} (apt-get install galera-4)")
        if not self.opts.conf:
            return
        r = remote.run([MARIADBD, "--no-defaults", f"--user={OS_USER}", "--verbose", "--help"], timeout=60,
                       check=False)
        known = {name.replace("_", "-") for name in _option_names(r.stdout)}
        unknown = sorted(k for k in self.opts.conf if k.replace("_", "-").lower() not in known)
        if unknown:
            raise BadInput(f"mariadb on {node} has no option {unknown[0]!r} (from conf.{unknown[0]})")

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        self._check_node(test, node)
        remote = self._remote(test, node)
        work, data = self.workdir(test, node), self.data_dir(test, node)
        self._stop(test, node, release=False)
        tmp = self.tmpdir(test, node)
        remote.run(["rm", "-rf", data, tmp], timeout=60)
        remote.run(["mkdir", "-p", work, tmp], timeout=30)
        remote.run(["chown", f"{OS_USER}:{OS_USER}", work, tmp], timeout=30)
        remote.run(["chmod", "755", work], timeout=30)
        as_mysql = ["setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups", "--"]
        if not remote.run([*as_mysql, "test", "-w", tmp], timeout=30, check=False).ok:
            raise ClusterError(f"the {OS_USER} OS user cannot write in {work} on {node}: a parent directory is not "
                               "searchable by others (mariadbd drops to that user)")
        try:
            self._install(test, node)
            index = self.nodes.index(node)
            if self.opts.galera and index > 0:  # join one at a time: a donor serves one snapshot transfer at once
                self._await_previous(test, self.nodes[index - 1], node)
            self._start(test, node, bootstrap=self.opts.galera and index == 0)
            self._await(test, node, READY_TIMEOUT, what=f"mariadb on {node} ready")
        except Exception:
            self._failed.add(node)
            raise

    def _await_previous(self, test: Test, before: str, node: str) -> None:
        """Until `before` is Synced; at once a ClusterError if its setup failed (it never will be)."""

        def attempt() -> None:
            if before in self._failed:
                raise ClusterError(f"{node} cannot join: the setup of {before} failed")
            problem = self._serving(test, before)
            if problem is not None:
                raise NotYet(problem)

        try:
            retry_until(READY_TIMEOUT, attempt, every=0.3, what=f"{before} Synced before {node} joins")
        except TimedOut as e:
            raise ClusterError(str(e)) from None

    def _install(self, test: Test, node: str) -> None:
        """A fresh data directory (mariadb-install-db), then the account of the harness through --bootstrap."""
        remote, data = self._remote(test, node), self.data_dir(test, node)
        tmp = f"--tmpdir={self.tmpdir(test, node)}"
        r = remote.run(["mariadb-install-db", "--no-defaults", f"--user={OS_USER}", f"--datadir={data}", tmp,
                        "--auth-root-authentication-method=socket", "--skip-test-db"], timeout=120, check=False)
        if r.exit_code != 0:
            raise ClusterError(f"mariadb-install-db failed on {node}: {(r.stderr or r.stdout).strip()[-300:]}")
        sql = account_sql(account_hosts(test), self.password)
        r = remote.run([MARIADBD, "--no-defaults", f"--user={OS_USER}", f"--datadir={data}", tmp, "--bootstrap",
                        "--skip-networking", f"--socket={self.socket(test, node)}"],
                       stdin=sql.encode(), timeout=120, check=False)
        if r.exit_code != 0:
            raise ClusterError(f"creating the harness account failed on {node}: {(r.stderr or r.stdout).strip()[-300:]}")

    def teardown(self, test: Test, node: str) -> None:
        self._stop(test, node, release=True)
        self._remote(test, node).run(["rm", "-rf", self.data_dir(test, node), self.tmpdir(test, node)], timeout=60,
                                     check=False)

    def _stop(self, test: Test, node: str, *, release: bool) -> None:
        self._signal(test, node, "KILL")
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1, ledger=test.ledger,
                    release=release)

    def _signal(self, test: Test, node: str, sig: str) -> None:
        self._remote(test, node).run(["sh", "-c", _SIGNAL_GROUP, "signal-group", self.pidfile(test, node), sig],
                                     timeout=30, check=False)

    def _start(self, test: Test, node: str, *, bootstrap: bool) -> None:
        # RES_OPTIONS: the rsync daemon of a joining node looks up the name of the donor's address for every one
        # of its six connections; where no name server answers (a local-namespace node) each lookup waits out
        # glibc's 2 x 5 s, which made one snapshot transfer of an empty database take a minute.
        start_daemon(self._remote(test, node), self.argv(test, node, bootstrap=bootstrap),
                     pidfile=self.pidfile(test, node), logfile=self.logfile(test, node), cwd=self.workdir(test, node),
                     env={"RES_OPTIONS": "timeout:1 attempts:1"}, ledger=test.ledger, settle=0.3)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        """SIGKILL mariadbd and its helpers: a crash; the next start runs crash recovery (and, on Galera, a
        state transfer from the cluster)."""
        self._signal(test, node, "KILL")
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1, release=False)

    def start(self, test: Test, node: str) -> None:
        """Start mariadbd on node (no-op if running) and wait until it serves again: Synced on Galera. A node
        that does not come back within REJOIN_TIMEOUT is a ClusterError naming its state."""
        if not daemon_pids(self._remote(test, node), self.pidfile(test, node)):
            self._start(test, node, bootstrap=False)
        self._await(test, node, REJOIN_TIMEOUT, what=f"mariadb on {node} back")

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        self._signal(test, node, "STOP")

    def resume(self, test: Test, node: str) -> None:
        self._signal(test, node, "CONT")

    # HasDataFiles --------------------------------------------------------------------------------
    def data_files(self, test: Test, node: str) -> Sequence[str]:
        """InnoDB's durable files: the redo log (ib_logfile0: what an acknowledged commit must be in), the system
        tablespace (ibdata1: undo and the doublewrite buffer) and the tablespaces of the test's tables
        (harness/*.ibd), absolute paths of those that exist."""
        data = self.data_dir(test, node)
        globs = [os.path.join(data, "ib_logfile0"), os.path.join(data, "ibdata1"), os.path.join(data, "harness", "*.ibd")]
        r = self._remote(test, node).run(["sh", "-c", _EXISTING, "data-files", *globs], timeout=30, check=False)
        return sorted(line for line in r.stdout.splitlines() if line.strip())

    # HasLogs -------------------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        return [self.logfile(test, node)]

    # queries ---------------------------------------------------------------------------------------
    def connect(self, test: Test, node: str, timeout: float = 2.0) -> pymysql.connections.Connection:
        return pymysql.connect(host=test.node_host(node), port=self.opts.port, user="harness", password=self.password,
                               connect_timeout=max(1, int(timeout)), read_timeout=timeout, write_timeout=timeout,
                               autocommit=True)

    def status(self, test: Test, node: str) -> dict[str, str]:
        """The node's wsrep status variables (empty without Galera); raises pymysql errors if it does not answer."""
        conn = self.connect(test, node)
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW GLOBAL STATUS LIKE 'wsrep%'")
                return {str(k): str(v) for k, v in cur.fetchall()}
        finally:
            conn.close()

    def _serving(self, test: Test, node: str) -> str | None:
        """None when node serves (it answers; on Galera it is also Synced in a primary component); else what it
        is doing instead."""
        try:
            st = self.status(test, node)
        except pymysql.MySQLError as e:
            return f"{node} does not answer ({e.args[0] if e.args else type(e).__name__})"
        if not self.opts.galera:
            return None
        state, cluster = st.get("wsrep_local_state_comment", "?"), st.get("wsrep_cluster_status", "?")
        if state == "Synced" and cluster == "Primary":
            return None
        return f"{node} is {state} in a {cluster} component of {st.get('wsrep_cluster_size', '?')}"

    def _await(self, test: Test, node: str, timeout: float, *, what: str, watch: bool = True) -> None:
        """Until node serves; ClusterError with the log's tail if its mariadbd exits (when `watch`), or naming
        its state after `timeout`."""
        remote = self._remote(test, node)

        def attempt() -> None:
            problem = self._serving(test, node)
            if problem is None:
                return
            if watch and not daemon_pids(remote, self.pidfile(test, node)):
                raise ClusterError(f"mariadb on {node} exited: {log_tail(remote, self.logfile(test, node))}")
            raise NotYet(problem)

        try:
            retry_until(timeout, attempt, every=0.3, what=what)
        except TimedOut as e:
            raise ClusterError(str(e)) from None

    # HasPrimaries ------------------------------------------------------------------------------
    def primaries(self, test: Test) -> Sequence[str]:
        """The nodes that take writes now: on Galera every Synced node of a primary component (multi-primary),
        else the one node if it answers."""
        return [n for n in self.nodes if self._serving(test, n) is None]

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """Every node serves, and on Galera each sees all N nodes in its component."""
        want = str(len(self.nodes))

        def attempt() -> None:
            for node in self.nodes:
                problem = self._serving(test, node)
                if problem is not None:
                    raise NotYet(problem)
                if not self.opts.galera:
                    continue
                try:
                    size = self.status(test, node).get("wsrep_cluster_size")
                except pymysql.MySQLError as e:
                    raise NotYet(f"{node} does not answer ({e.args[0] if e.args else type(e).__name__})") from None
                if size != want:
                    raise NotYet(f"{node} sees a cluster of {size}, not {want}")

        try:
            retry_until(timeout, attempt, every=0.3, what="mariadb ready")
        except TimedOut as e:
            raise ClusterError(str(e)) from None


def _option_names(help_text: str) -> list[str]:
    """Option names in `mariadbd --verbose --help`: the `--name` lines and the variables table."""
    names: list[str] = []
    in_table = False
    for line in help_text.splitlines():
        if line.startswith("  --"):
            names.append(line[4:].split("=")[0].split("[")[0].split()[0])
        elif line.startswith("-----"):
            in_table = True
        elif in_table and line.strip():
            names.append(line.split()[0])
        elif in_table:
            in_table = False
    return names
