"""A file-made system on the nodes: install, start, await, kill, restart, pause, resume, wipe, find primaries.

Owns `DeclarativeDB` (DB, Killable, Pausable, HasLogs, HasDataDir, AwaitsReady) and its two optional abilities,
chosen by what the file declares (`db_for`): `HasDataFiles` (`nodes.data_files` globs) and `HasPrimaries`
(`nodes.primary`, a command that exits 0 on a node that leads). The process is a daemon of `clusters.daemon`
with its files in the node's workdir (`<name>.pid`, `<name>.log`), so kill, pause, power loss and
`harness cleanup` work as for any built-in system. Does not know the client side (`clusters.declarative.client`).

`start` is one command: a list is the argv, a string is split like a shell splits words (no pipes, no `&&`: the
pid file must name the system's own process, which a wrapping shell would hide). `install`, `ready.command` and
`primary.command` strings run with `sh -c` in the node's workdir.
"""

from __future__ import annotations

import functools
import os
import shlex
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from clusters.daemon import daemon_pids, log_tail, signal_daemon, signal_tree, start_daemon, stop_daemon
from clusters.declarative import template
from clusters.declarative.spec import Command, SystemSpec
from harness.control import NotYet, Remote, on_nodes, retry_until
from harness.errors import BadInput, ClusterError, FaultError

if TYPE_CHECKING:
    from harness.test import Test


START_RETRY = 8.0
"""Seconds a start that exits at once is retried (see DeclarativeDB.start)."""


class DeclarativeDB:
    """The system of `spec` on every node; `conf` is the file's settings with --system-opt conf.KEY applied."""

    def __init__(self, spec: SystemSpec, conf: Mapping[str, str], secret: str = "") -> None:
        self.spec = spec
        self.conf = dict(conf)
        self._secret = secret  # the run's password: only into nodes.files contents, through stdin
        self.left: set[str] = set()  # nodes out of the cluster (membership nemesis), left out of {peers} etc.

    # places and placeholders --------------------------------------------------------------------------------
    def _workdir(self, test: Test, node: str) -> str:
        return str(test.node_info(node).workdir)

    def pidfile(self, test: Test, node: str) -> str:
        return os.path.join(self._workdir(test, node), f"{self.spec.name}.pid")

    def logfile(self, test: Test, node: str) -> str:
        return os.path.join(self._workdir(test, node), f"{self.spec.name}.log")

    def values(self, test: Test, node: str) -> dict[str, str]:
        """Every node placeholder's value on `node` (template.NODE_NAMES and conf.KEY)."""
        n = self.spec.nodes
        port, peer = str(n.port or ""), str(n.peer_port or "")
        members = [m for m in test.nodes if m not in self.left]
        v = {
            "node": node, "ip": test.node_host(node), "port": port, "peer_port": peer,
            "nodes": ",".join(members), "workdir": self._workdir(test, node),
            "peers": ",".join(f"{test.node_host(m)}:{peer}" for m in members),
            "initial_cluster": ",".join(f"{m}=http://{test.node_host(m)}:{peer}" for m in members),
        }
        v.update({f"conf.{k}": val for k, val in self.conf.items()})
        v["data_dir"] = template.fill(n.data_dir, v)
        return v

    def _shell(self, cmd: Command, values: Mapping[str, str]) -> list[str]:
        if isinstance(cmd, str):
            return ["sh", "-c", f"cd {shlex.quote(values['workdir'])} && {template.fill(cmd, values)}"]
        return [template.fill(w, values) for w in cmd]

    def start_argv(self, test: Test, node: str, command: Command | None = None) -> list[str]:
        start = command or self.spec.nodes.start
        words = shlex.split(start) if isinstance(start, str) else start
        values = self.values(test, node)
        return [template.fill(w, values) for w in words]

    @staticmethod
    def _remote(test: Test, node: str) -> Remote:
        return test.cluster.remote(node)

    # DB ------------------------------------------------------------------------------------------------------
    def setup(self, test: Test, node: str) -> None:
        remote, values = self._remote(test, node), self.values(test, node)
        wipe = 'mkdir -p "$1" && rm -rf "$2" && mkdir -p "$2"'
        remote.run(["sh", "-c", wipe, "wipe", values["workdir"], values["data_dir"]], timeout=60)
        for path_t, content_t in self.spec.nodes.files:
            content = template.fill(content_t, {**values, template.SECRET: self._secret})
            put = 'mkdir -p "$(dirname "$1")" && umask 077 && cat > "$1"'
            remote.run(["sh", "-c", put, "write-file", template.fill(path_t, values)], stdin=content.encode(),
                       timeout=60)
        for i, line in enumerate(self.spec.nodes.install):
            r = remote.run(self._shell(line, values), timeout=600, check=False)
            if r.exit_code != 0:
                why = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [f"exit {r.exit_code}"]
                raise BadInput(f"{self.spec.path}: nodes.install[{i}] failed on {node}: {why[0]}")
        self.start(test, node)

    def teardown(self, test: Test, node: str) -> None:
        remote = self._remote(test, node)
        stop_daemon(remote, self.pidfile(test, node), sig=self.spec.nodes.stop_signal, wait=5, ledger=test.ledger)
        remote.run(["rm", "-rf", self.data_dir(test, node)], timeout=60, check=False)

    # Killable ------------------------------------------------------------------------------------------------
    def kill(self, test: Test, node: str) -> None:
        """SIGKILL the process and its children, as a crash of the machine would: a child left alive (a
        Postgres backend holding the old shared memory) would keep the next start from working."""
        remote = self._remote(test, node)
        signal_tree(remote, self.pidfile(test, node), "KILL")
        stop_daemon(remote, self.pidfile(test, node), sig="KILL", wait=1, release=False)

    def start(self, test: Test, node: str, command: Command | None = None) -> None:
        """Start the daemon (no-op if it runs), by `command` (default nodes.start). Retried for a few seconds if it
        exits at once: right after a kill the old process may not be reaped yet (Postgres then finds its pid
        alive and refuses to start)."""
        remote = self._remote(test, node)
        if daemon_pids(remote, self.pidfile(test, node)):
            return

        def attempt() -> None:
            try:
                start_daemon(remote, self.start_argv(test, node, command), pidfile=self.pidfile(test, node),
                             logfile=self.logfile(test, node), cwd=self._workdir(test, node), ledger=test.ledger,
                             settle=0.2)
            except ClusterError as e:
                raise NotYet(str(e)) from None

        retry_until(START_RETRY, attempt, every=0.5, what=f"starting {self.spec.name} on {node}")

    # Pausable ------------------------------------------------------------------------------------------------
    def pause(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "STOP")

    def resume(self, test: Test, node: str) -> None:
        signal_daemon(self._remote(test, node), self.pidfile(test, node), "CONT")

    # HasLogs, HasDataDir -------------------------------------------------------------------------------------
    def log_files(self, test: Test, node: str) -> Sequence[str]:
        values = self.values(test, node)
        return [self.logfile(test, node), *(template.fill(p, values) for p in self.spec.nodes.logs)]

    def data_dir(self, test: Test, node: str) -> str:
        return self.values(test, node)["data_dir"]

    # AwaitsReady ---------------------------------------------------------------------------------------------
    def await_ready(self, test: Test, timeout: float) -> None:
        """Every node passes the file's ready probe (TCP on nodes.port when it declares none and has a port),
        within ready.timeout; a daemon that exited fails at once with its log's tail."""
        ready = self.spec.nodes.ready
        limit = ready.timeout if ready is not None else timeout
        for node in test.nodes:
            retry_until(limit, functools.partial(self._probe, test, node), every=0.1,
                        what=f"{self.spec.name} on {node} ready")

    def _probe(self, test: Test, node: str) -> None:
        remote, ready, values = self._remote(test, node), self.spec.nodes.ready, self.values(test, node)
        if not daemon_pids(remote, self.pidfile(test, node)):
            raise ClusterError(f"{self.spec.name} on {node} exited: {log_tail(remote, self.logfile(test, node))}")
        if ready is not None and ready.command is not None:
            r = remote.run(self._shell(ready.command, values), timeout=10, check=False)
            if r.exit_code != 0:
                raise NotYet(f"ready command exit {r.exit_code}: {(r.stderr or r.stdout).strip()[-200:]}")
        elif ready is not None and ready.http is not None:
            url = template.fill(ready.http, values)
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - the file's own URL
                    resp.read()
            except (urllib.error.URLError, OSError) as e:
                raise NotYet(f"GET {url}: {e}") from None
        elif self.spec.nodes.port is not None:
            try:
                socket.create_connection((values["ip"], self.spec.nodes.port), timeout=1).close()
            except OSError as e:
                raise NotYet(f"TCP {values['ip']}:{self.spec.nodes.port}: {e}") from None


class _DataFiles(DeclarativeDB):
    """`nodes.data_files`: the disk nemesis's HasDataFiles, the globs expanded on the node."""

    def data_files(self, test: Test, node: str) -> Sequence[str]:
        values = self.values(test, node)
        globs = [template.fill(p, values) for p in self.spec.nodes.data_files]
        script = 'for p in "$@"; do for f in $p; do [ -f "$f" ] && echo "$f"; done; done; true'
        r = self._remote(test, node).run(["sh", "-c", script, "data-files", *globs], timeout=30, check=False)
        return sorted(line for line in r.stdout.splitlines() if line.strip())


class _Primaries(DeclarativeDB):
    """`nodes.primary`: HasPrimaries, the nodes on which the file's command exits 0, asked in parallel."""

    def primaries(self, test: Test) -> Sequence[str]:
        assert self.spec.nodes.primary is not None
        cmd = self.spec.nodes.primary

        def leads(node: str) -> bool:
            values = self.values(test, node)
            argv = self._shell(cmd, values)
            return self._remote(test, node).run(argv, timeout=10, check=False).exit_code == 0

        results, _failures = on_nodes(list(test.nodes), leads)
        return sorted(n for n, yes in results.items() if yes)


class _Ports(DeclarativeDB):
    """`nodes.port` / `nodes.peer_port`: HasPorts (nemeses.probe), the peer port first, for link evidence."""

    def ports(self, test: Test, node: str) -> Sequence[int]:
        n = self.spec.nodes
        return tuple(dict.fromkeys(p for p in (n.peer_port, n.port) if p is not None))


class _Membership(DeclarativeDB):
    """`nodes.membership`: ChangesMembership for the membership nemesis. The file's commands run on a member
    that stays; a node that left is stopped and its data wiped (it joins again as a new member, started by
    `membership.start`), and is left out of `{nodes}`, `{peers}` and `{initial_cluster}` meanwhile."""

    def _via(self, test: Test, node: str | None) -> str:
        for m in test.nodes:
            if m != node and m not in self.left:
                return m
        raise FaultError("no member left to run a membership command on")

    def _on_member(self, test: Test, node: str | None, cmd: Command, what: str) -> str:
        via = self._via(test, node)
        values = {**self.values(test, node or via), "via": via, "via_ip": test.node_host(via)}
        r = self._remote(test, via).run(self._shell(cmd, values), timeout=30, check=False)
        if r.exit_code != 0:
            tail = (r.stderr.strip() or r.stdout.strip())[-200:] or f"exit {r.exit_code}"
            raise FaultError(f"membership.{what} of {node or 'the cluster'} on {via}: {tail}")
        return str(r.stdout)

    def leave(self, test: Test, node: str) -> None:
        m = self.spec.nodes.membership
        assert m is not None

        def attempt() -> None:  # a cluster may refuse a change right after another (etcd: "unhealthy cluster")
            try:
                self._on_member(test, node, m.leave, "leave")
            except FaultError as e:
                raise NotYet(str(e)) from None

        retry_until(20.0, attempt, every=1.0, what=f"{node} leaving")
        self.left.add(node)
        self.kill(test, node)
        data = self.data_dir(test, node)
        self._remote(test, node).run(["sh", "-c", 'rm -rf "$1" && mkdir -p "$1"', "wipe", data], timeout=60)

    def join(self, test: Test, node: str) -> None:
        m = self.spec.nodes.membership
        assert m is not None

        def attempt() -> None:  # retried: so `join` must be idempotent (a lost answer may have added the node)
            try:
                self._on_member(test, node, m.join, "join")
            except FaultError as e:
                raise NotYet(str(e)) from None

        retry_until(20.0, attempt, every=1.0, what=f"{node} joining")
        self.left.discard(node)
        self.start(test, node, m.start)

    def members(self, test: Test) -> Sequence[str]:
        m = self.spec.nodes.membership
        assert m is not None
        return [line.strip() for line in self._on_member(test, None, m.members, "members").splitlines() if line.strip()]


def db_for(spec: SystemSpec, conf: Mapping[str, str], secret: str = "") -> DeclarativeDB:
    """The DB of `spec`, with HasDataFiles, HasPrimaries, ChangesMembership and HasPorts only when the file declares them
    (abilities are checked with isinstance, so an undeclared one must be absent, not a method that finds
    nothing)."""
    mixins = [cls for cls, declared in ((_DataFiles, bool(spec.nodes.data_files)),
                                        (_Primaries, spec.nodes.primary is not None),
                                        (_Membership, spec.nodes.membership is not None),
                                        (_Ports, spec.nodes.port is not None or spec.nodes.peer_port is not None))
               if declared]
    cls = type("DeclarativeDB", (*mixins, DeclarativeDB), {}) if mixins else DeclarativeDB
    return cls(spec, conf, secret)
