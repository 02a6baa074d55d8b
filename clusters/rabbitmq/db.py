"""RabbitMQ on the nodes: configure, start a cluster, await, kill, restart, pause, resume, find the queue's leader,
wipe.

Owns `RabbitMQDB` (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady, HasDataDir, nemeses.disk.
HasDataFiles, and `pidfile` for the fault evidence of `nemeses.probe.HasPidfile`). Installs nothing: the broker
comes from the node (Debian's rabbitmq-server 3.10 and its Erlang; see the Dockerfile).

Two daemons per node, each through `clusters.daemon` (ledger-recorded, so `harness cleanup` ends them):

    epmd      `epmd.pid`, `epmd.log`: Erlang's port mapper, on the node's cluster address (and loopback, which
              epmd always adds). Started by us, not by the VM, so that it is ours to stop: the VM would start a
              detached one that nothing records. Each network namespace has its own.
    rabbitmq  `rabbitmq.pid`, `rabbitmq.log` (the broker logs to its console): the Erlang VM itself (the
              packaged start script execs `erl` when it believes systemd runs it, see `_env`).

Files in the node's workdir: `home/.erlang.cookie` (the run's cookie, mode 0400, `test.secrets.password(
"rabbitmq-cookie")`), `conf/rabbitmq.conf` (mode 0600: it holds the client account's password), `data/` (the
Mnesia and message store directory). The Erlang node is `rabbit@<cluster address>` (long names on addresses:
namespaces share the host's name, addresses are unique). AMQP, the distribution port and epmd listen on the
cluster address only; the guest account is loopback-only, as RabbitMQ ships it.

Cluster formation: the first node boots alone; once it serves, the others boot with it as their classic-config
peer and join it (a fresh node joins the first listed node it reaches; booting them all at once could form
several clusters). A node killed later restarts with its Mnesia directory and rejoins by itself.

`rabbitmqctl` (cluster status, the mirroring policy, the queue's leader) runs on the node, with the node's HOME
for the cookie; the policy for `queue=classic-mirrored` (ha-mode=all, automatic sync) is set once the cluster
is whole, before any client declares the queue.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from clusters.daemon import daemon_pids, log_tail, record_daemon, signal_daemon, start_daemon, stop_daemon
from clusters.rabbitmq.client import QUEUE, USER
from harness.control import NotYet, Remote, on_nodes, retry_until, write_private
from harness.errors import BadInput, ClusterError, TimedOut

if TYPE_CHECKING:
    from clusters.rabbitmq import RabbitMQOptions
    from harness.test import Test

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
SCHEMA_GLOB = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbit-*/priv/schema/rabbit.schema"
EPMD = "epmd"
VM = "beam.smp"  # what the broker's process is once its start script has exec'd erl
AMQP_PORT, DIST_PORT = 5672, 25672
POLICY = "harness-mirror"
JOIN_TIMEOUT = 90.0  # the first node serving before the others boot; Erlang boots slowly on a loaded machine

_NODE_RE = re.compile(r"rabbit@(\d+\.\d+\.\d+\.\d+)")  # an Erlang node (or a pid printed with it) on an address
# The queue's leader as the node it runs on sees it. Erlang, evaluated by `rabbitmqctl eval` (a quorum queue's
# record holds {RaName, Node}; its local Raft member is asked for the current leader).
_LEADER_ERL = """
case rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>, queue, <<"%s">>)) of
  {ok, Q} -> case amqqueue:get_pid(Q) of
               {RaName, _} -> case ra:members({RaName, node()}, 2000) of {ok, _, {_, L}} -> L; E -> E end;
               P when is_pid(P) -> node(P)
             end;
  E -> E
end.
""" % QUEUE
# Relative to the data directory (RABBITMQ_MNESIA_BASE), whose one child is the node's Mnesia directory.
_DATA_GLOBS = ("*/msg_stores/vhosts/*/*/*.rdq", "*/msg_stores/vhosts/*/queues/*/*", "*/quorum/*/*.wal",
               "*/quorum/*/*/*.segment", "*/*.DCD", "*/*.DCL")
_EXISTING = 'cd "$1" && shift && for g in "$@"; do for f in $g; do [ -f "$f" ] && echo "$PWD/$f"; done; done; true'


def node_name(host: str) -> str:
    return f"rabbit@{host}"


def rabbitmq_conf(*, host: str, password: str, peer: str, partition_handling: str,
                  user_conf: Mapping[str, str]) -> str:
    """rabbitmq.conf of one node: listeners on `host` only, the harness account, `peer` (the first node) as the
    classic-config peer, the partition handling mode, and the user's conf.KEY=VALUE last (they win)."""
    settings = {
        "listeners.tcp.1": f"{host}:{AMQP_PORT}",
        "distribution.listener.interface": host,
        "distribution.listener.port_range.min": str(DIST_PORT),
        "distribution.listener.port_range.max": str(DIST_PORT),
        "default_user": USER,
        "default_pass": password,
        "loopback_users.guest": "true",
        "cluster_formation.peer_discovery_backend": "classic_config",
        "cluster_formation.classic_config.nodes.1": node_name(peer),
        "cluster_partition_handling": partition_handling,
        "log.console": "true",
        "log.console.level": "info",
        "log.file": "false",
    }
    settings.update(user_conf)
    return "".join(f"{k} = {v}\n" for k, v in settings.items())


def schema_keys(schema_text: str) -> list[re.Pattern[str]]:
    """The configuration keys a cuttlefish schema maps, as patterns ("$name" segments match any one segment)."""
    out = []
    for key in re.findall(r'\{mapping,\s*"([^"]+)"', schema_text):
        parts = [("[^.]+" if p.startswith("$") else re.escape(p)) for p in key.split(".")]
        out.append(re.compile(r"\.".join(parts) + r"\Z"))
    return out


class RabbitMQDB:
    """rabbitmq-server (and its epmd) on every node of the test, clustered."""

    def __init__(self, opts: RabbitMQOptions, nodes: Sequence[str], *, password: str, cookie: str) -> None:
        self.opts = opts
        self.nodes = tuple(nodes)
        self._password = password
        self._cookie = cookie
        self._first_done = threading.Event()  # the first node's setup ended (the others join it then)
        self._first_failed = False

    # paths ---------------------------------------------------------------------------------------
    @staticmethod
    def workdir(test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def data_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "data")

    def home(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "home")

    def conf_dir(self, test: Test, node: str) -> str:
        return os.path.join(self.workdir(test, node), "conf")

    def ports(self, test: Test, node: str) -> Sequence[int]:
        """The Erlang distribution port (the nodes' own links), then AMQP's (nemeses.probe.HasPorts)."""
        return (DIST_PORT, AMQP_PORT)

    def pidfile(self, test: Test, node: str, daemon: str = "rabbitmq") -> str:
        """The pid file of `daemon`; by default the broker's VM (`nemeses.probe.HasPidfile`)."""
        return os.path.join(self.workdir(test, node), f"{daemon}.pid")

    def logfile(self, test: Test, node: str, daemon: str = "rabbitmq") -> str:
        return os.path.join(self.workdir(test, node), f"{daemon}.log")

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    def _env(self, test: Test, node: str) -> dict[str, str]:
        """The environment of the broker and of rabbitmqctl on `node`. RUNNING_UNDER_SYSTEMD is a hack: it makes
        the packaged start script exec `erl` instead of running it as a child behind a signal-forwarding shell,
        so the daemon's pid is the VM's and kill -9 / SIGSTOP reach the broker itself."""
        host, work, conf = test.node_host(node), self.workdir(test, node), self.conf_dir(test, node)
        return {
            "HOME": self.home(test, node),
            "RUNNING_UNDER_SYSTEMD": "true",
            "RABBITMQ_USE_LONGNAME": "true",
            "RABBITMQ_NODENAME": node_name(host),
            "RABBITMQ_NODE_IP_ADDRESS": host,
            "RABBITMQ_NODE_PORT": str(AMQP_PORT),
            "RABBITMQ_DIST_PORT": str(DIST_PORT),
            "RABBITMQ_CONFIG_FILE": os.path.join(conf, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(conf, "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": os.path.join(conf, "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(conf, "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": self.data_dir(test, node),
            "RABBITMQ_LOG_BASE": os.path.join(work, "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_PID_FILE": os.path.join(work, "beam.pid"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": f"-kernel net_ticktime {self.opts.net_ticktime}",
            "ERL_EPMD_ADDRESS": host,
            # Names from /etc/hosts only, and a resolver that gives up at once: a node in a network namespace
            # reaches no name server, and each lookup the VM and the CLI make at boot waited out glibc's
            # timeouts (8 s gaps, 40 s to boot one node).
            "ERL_INETRC": os.path.join(conf, "erl_inetrc"),
            "RES_OPTIONS": "timeout:1 attempts:1",
        }

    def installed_version(self, test: Test, node: str) -> str:
        r = self._remote(test, node).run(["dpkg-query", "-W", "-f", "${Version}", "rabbitmq-server"], timeout=30,
                                         check=False)
        return r.stdout.strip() if r.ok and r.stdout.strip() else "unknown"

    def _check_node(self, test: Test, node: str) -> None:
        """BadInput when the node cannot run this setup: no rabbitmq-server, or a conf.KEY that the broker's
        schema does not know (the broker would only refuse to boot)."""
        remote = self._remote(test, node)
        if not remote.run(["test", "-x", SERVER], timeout=30, check=False).ok:
            raise BadInput(f"rabbitmq-server is not installed on {node} ({SERVER}): apt-get install rabbitmq-server")
        if not self.opts.conf:
            return
        r = remote.run(["sh", "-c", f"cat {SCHEMA_GLOB}"], timeout=30, check=False)
        known = schema_keys(r.stdout)
        if not known:
            raise ClusterError(f"cannot read the rabbitmq configuration schema on {node} ({SCHEMA_GLOB})")
        unknown = sorted(k for k in self.opts.conf if not any(p.match(k) for p in known))
        if unknown:
            raise BadInput(f"rabbitmq on {node} has no configuration key {unknown[0]!r} (from conf.{unknown[0]})")

    # DB -------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        self._check_node(test, node)
        remote = self._remote(test, node)
        self._stop(test, node, release=False)
        remote.run(["rm", "-rf", self.data_dir(test, node), self.conf_dir(test, node), self.home(test, node)],
                   timeout=60)
        remote.run(["mkdir", "-p", self.data_dir(test, node)], timeout=30)
        write_private(remote, os.path.join(self.home(test, node), ".erlang.cookie"), self._cookie)
        remote.run(["chmod", "0400", os.path.join(self.home(test, node), ".erlang.cookie")], timeout=30)
        write_private(remote, os.path.join(self.conf_dir(test, node), "rabbitmq.conf"), rabbitmq_conf(
            host=test.node_host(node), password=self._password, peer=test.node_host(self.nodes[0]),
            partition_handling=self.opts.partition_handling, user_conf=self.opts.conf))
        write_private(remote, os.path.join(self.conf_dir(test, node), "enabled_plugins"), "[].\n")
        write_private(remote, os.path.join(self.conf_dir(test, node), "erl_inetrc"), "{lookup, [file]}.\n")
        if node != self.nodes[0]:
            if not self._first_done.wait(JOIN_TIMEOUT) or self._first_failed:
                raise ClusterError(f"{node} cannot join: the first node, {self.nodes[0]}, did not come up")
            self._start(test, node)
            self._await(test, node, JOIN_TIMEOUT, what=f"rabbitmq on {node} ready")
            return
        try:
            self._start(test, node)
            self._await(test, node, JOIN_TIMEOUT, what=f"rabbitmq on {node} ready")
        except Exception:
            self._first_failed = True
            raise
        finally:
            self._first_done.set()

    def teardown(self, test: Test, node: str) -> None:
        self._stop(test, node, release=True)
        self._remote(test, node).run(["rm", "-rf", self.data_dir(test, node), self.conf_dir(test, node),
                                      self.home(test, node), os.path.join(self.workdir(test, node), "log")],
                                     timeout=60, check=False)

    def _stop(self, test: Test, node: str, *, release: bool) -> None:
        remote = self._remote(test, node)
        for daemon in ("rabbitmq", "epmd"):
            stop_daemon(remote, self.pidfile(test, node, daemon), sig="KILL", wait=1, ledger=test.ledger,
                        release=release)

    def _start(self, test: Test, node: str) -> None:
        remote, host, work = self._remote(test, node), test.node_host(node), self.workdir(test, node)
        if not daemon_pids(remote, self.pidfile(test, node, "epmd")):
            start_daemon(remote, [EPMD, "-address", host], pidfile=self.pidfile(test, node, "epmd"),
                         logfile=self.logfile(test, node, "epmd"), cwd=work, ledger=test.ledger, settle=0.2)
        if not daemon_pids(remote, self.pidfile(test, node)):
            start_daemon(remote, [SERVER], pidfile=self.pidfile(test, node), logfile=self.logfile(test, node),
                         env=self._env(test, node), cwd=work, ledger=test.ledger, settle=0.3)
            # The start script has exec'd the VM by now: name it in the ledger by the program `harness cleanup`
            # will find in the pid's command line (it kills a pid only if the name matches).
            record_daemon(remote, self.pidfile(test, node), VM, test.ledger)

    # Killable ------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        """SIGKILL the broker's VM (epmd, like the machine's init, survives): a crash."""
        stop_daemon(self._remote(test, node), self.pidfile(test, node), sig="KILL", wait=1, release=False)

    def start(self, test: Test, node: str) -> None:
        """Start the broker on node (no-op if it runs); ClusterError if its VM exits at once. It does not wait for
        the broker to serve: a node restarted while a partition cuts it off from its peers waits for them (for
        Mnesia's tables) and boots only after the heal, which is RabbitMQ's design, not a failed restart. Its
        clients are refused until then."""
        self._start(test, node)

    # Pausable ------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "STOP")

    def resume(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "CONT")

    # HasLogs / HasDataFiles ------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        return [self.logfile(test, node), self.logfile(test, node, "epmd")]

    def data_files(self, test: Test, node: str) -> Sequence[str]:
        """The files that hold messages: the classic queues' message store segments (*.rdq) and queue indexes, the
        quorum queues' Raft write-ahead log and segments, and Mnesia's tables (absolute paths of those that
        exist)."""
        r = self._remote(test, node).run(["sh", "-c", _EXISTING, "data-files", self.data_dir(test, node),
                                          *_DATA_GLOBS], timeout=30, check=False)
        return sorted(line for line in r.stdout.splitlines() if line.strip())

    # rabbitmqctl ---------------------------------------------------------------------------------
    def ctl(self, test: Test, node: str, *args: str, timeout: float = 20.0) -> str:
        """rabbitmqctl against the broker of `node`, run on the node; ClusterError with its output on failure."""
        host = test.node_host(node)
        r = self._remote(test, node).run([CTL, "--longnames", "-n", node_name(host), "-q", *args],
                                         env=self._env(test, node), timeout=timeout + 10, check=False)
        if not r.ok:
            raise ClusterError(f"rabbitmqctl {args[0]} on {node}: {(r.stderr or r.stdout).strip()[-300:]}")
        return r.stdout

    def running_nodes(self, test: Test, node: str) -> set[str]:
        """The Erlang nodes `node` sees running in its cluster."""
        out = self.ctl(test, node, "eval", "rabbit_nodes:all_running().")
        return {node_name(ip) for ip in _NODE_RE.findall(out)}

    # HasPrimaries --------------------------------------------------------------------------------
    def primaries(self, test: Test) -> Sequence[str]:
        """The nodes that lead the test's queue as some node sees it: the quorum queue's Raft leader, or the
        classic queue's master (mirrored: where its master process runs). Two are a split brain."""
        by_name = {node_name(test.node_host(n)): n for n in self.nodes}
        seen, _ = on_nodes(self.nodes, lambda n: self._leader_seen_by(test, n))
        return sorted({by_name[x] for x in seen.values() if x in by_name})

    def _leader_seen_by(self, test: Test, node: str) -> str:
        """The Erlang node `node` names as the queue's leader (quorum: its Raft member's answer; classic: the
        node of the master process in its own copy of the queue record)."""
        out = self.ctl(test, node, "eval", _LEADER_ERL, timeout=5)
        m = _NODE_RE.search(out)
        if m is None:
            raise ClusterError(f"{node} names no leader of {QUEUE}: {out.strip()[:200]}")
        return node_name(m.group(1))

    # AwaitsReady ---------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """Every node runs the broker and sees all N nodes running; then the mirroring policy, if any, is set."""
        want = {node_name(test.node_host(n)) for n in self.nodes}

        def attempt() -> None:
            for node in self.nodes:
                try:
                    seen = self.running_nodes(test, node)
                except ClusterError as e:
                    raise NotYet(str(e)) from None
                if seen != want:
                    raise NotYet(f"{node} sees {len(seen & want)} of {len(want)} nodes running")

        try:
            retry_until(timeout, attempt, every=0.5, what="rabbitmq cluster ready")
        except TimedOut as e:
            raise ClusterError(f"{e}{self._exited(test)}") from None
        if self.opts.queue == "classic-mirrored":
            self.ctl(test, self.nodes[0], "set_policy", "--apply-to", "queues", POLICY, f"^{re.escape(QUEUE)}$",
                     '{"ha-mode":"all","ha-sync-mode":"automatic"}')

    def _await(self, test: Test, node: str, timeout: float, *, what: str) -> None:
        """Until the broker of `node` runs (its rabbit application is up); ClusterError with the log's tail if its
        VM exits, or naming what it waited for after `timeout`."""
        remote = self._remote(test, node)

        def attempt() -> None:
            if not daemon_pids(remote, self.pidfile(test, node)):
                raise ClusterError(f"rabbitmq on {node} exited: {log_tail(remote, self.logfile(test, node))}")
            try:
                self.ctl(test, node, "await_startup", "--timeout", "5", timeout=8)
            except ClusterError as e:
                raise NotYet(str(e)) from None

        try:
            retry_until(timeout, attempt, every=0.5, what=what)
        except TimedOut as e:
            raise ClusterError(str(e)) from None

    def _exited(self, test: Test) -> str:
        out = []
        for node in self.nodes:
            remote = self._remote(test, node)
            if not daemon_pids(remote, self.pidfile(test, node)):
                out.append(f"; rabbitmq on {node} exited: {log_tail(remote, self.logfile(test, node))}")
        return "".join(out)
