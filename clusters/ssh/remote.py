"""The Remote of an ssh host: paramiko, with key or agent auth, a known-hosts policy, sudo when not root,
reconnect-and-retry when a channel cannot be opened, and a limit on concurrent channels per host.

Owns `SSHRemote`, `SSHParams` and `remote_from_locator` (used by ledger undo functions to reach a host again
after a crash of the harness). Commands run under `timeout -s KILL` on the host, so a timed-out command leaves no
process behind. A command is retried only when its channel could not be opened (nothing ran); a connection lost
while a command runs is a ClusterError, never a silent retry. Does not read node lists (see `clusters.ssh`).
"""

from __future__ import annotations

import os
import select
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import paramiko

from harness.control import CommandResult
from harness.errors import ClusterError, Unreachable

TIMEOUT_EXIT = 137
KNOWN_HOSTS_POLICIES = ("strict", "accept-new", "ignore")


@dataclass(frozen=True, kw_only=True)
class SSHParams:
    """How to reach one host. `key_file` empty = agent and default keys; `sudo` = prefix commands with `sudo -n`."""

    host: str
    port: int = 22
    user: str = "root"
    key_file: str = ""
    known_hosts: str = "accept-new"  # strict | accept-new | ignore
    known_hosts_file: str = "~/.ssh/known_hosts"
    sudo: bool = False
    max_channels: int = 8
    retries: int = 3
    connect_timeout: float = 10.0


class _AcceptSilently(paramiko.MissingHostKeyPolicy):
    """known_hosts=ignore: accept any host key, remember nothing (for throwaway test hosts only)."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        return None


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """known_hosts=accept-new: accept and save a host never seen; a changed key is still rejected by paramiko."""

    def __init__(self, path: str) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        if self.path:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class SSHRemote:
    """Runs commands on one ssh host. Thread-safe: one transport, at most `max_channels` channels at once."""

    def __init__(self, node: str, params: SSHParams) -> None:
        self.node = node
        self.params = params
        self.locator: dict[str, object] = {"via": "ssh", "node": node, **asdict(params)}
        self._client: paramiko.SSHClient | None = None
        self._lock = threading.Lock()
        self._channels = threading.BoundedSemaphore(max(1, params.max_channels))

    # connection ------------------------------------------------------------------------------------
    def connect(self) -> paramiko.Transport:
        """The live transport, connecting if needed; Unreachable (one line) if the host cannot be reached."""
        with self._lock:
            c = self._client
            t = c.get_transport() if c is not None else None
            if t is not None and t.is_active():
                return t
            if c is not None:
                c.close()
            p = self.params
            c = paramiko.SSHClient()
            known = os.path.expanduser(p.known_hosts_file) if p.known_hosts_file else ""
            if p.known_hosts != "ignore":
                c.load_system_host_keys()
                if known and os.path.exists(known):
                    c.load_host_keys(known)
            c.set_missing_host_key_policy(
                paramiko.RejectPolicy() if p.known_hosts == "strict"
                else _AcceptNew(known) if p.known_hosts == "accept-new" else _AcceptSilently()
            )
            try:
                c.connect(
                    p.host, port=p.port, username=p.user,
                    key_filename=os.path.expanduser(p.key_file) if p.key_file else None,
                    allow_agent=True, look_for_keys=not p.key_file, timeout=p.connect_timeout,
                    banner_timeout=p.connect_timeout, auth_timeout=p.connect_timeout,
                )
            except (paramiko.SSHException, OSError, EOFError) as e:
                c.close()
                why = str(e).strip() or type(e).__name__
                if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
                    why = "connection refused (is sshd running there?)"
                elif isinstance(e, paramiko.AuthenticationException):
                    why = f"authentication failed ({why}); check key= or the ssh agent"
                elif isinstance(e, TimeoutError | socket.timeout):
                    why = f"no answer within {p.connect_timeout:g} s"
                raise Unreachable(f"cannot reach ssh host {p.user}@{p.host}:{p.port} ({self.node}): {why}") from None
            self._client = c
            t = c.get_transport()
            assert t is not None
            t.set_keepalive(15)
            return t

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _open_channel(self) -> paramiko.Channel:
        last: Exception | None = None
        for attempt in range(self.params.retries + 1):
            try:
                return self.connect().open_session(timeout=self.params.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as e:
                last = e
                self.close()  # reconnect on the next attempt
                time.sleep(min(2.0, 0.2 * 2**attempt))
        raise Unreachable(f"ssh host {self.params.host} ({self.node}): cannot open a channel: {last}")

    # Remote --------------------------------------------------------------------------------------
    def command_line(self, argv: Sequence[str], timeout: float | None, env: Mapping[str, str] | None) -> str:
        cmd: list[str] = []
        if self.params.sudo:
            cmd += ["sudo", "-n"]
        if env:
            cmd += ["env", *(f"{k}={v}" for k, v in env.items())]
        if timeout is not None:
            cmd += ["timeout", "-s", "KILL", f"{max(timeout, 0.1):.3f}"]
        return shlex.join(cmd + list(argv))

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = 60.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        line = self.command_line(argv, timeout, env)
        with self._channels:
            chan = self._open_channel()
            try:
                code, out, err = self._exec(chan, line, stdin, timeout)
            except (paramiko.SSHException, OSError, EOFError) as e:
                self.close()
                raise ClusterError(f"on {self.node}: connection lost while running {' '.join(argv)}: {e}") from None
            finally:
                chan.close()
        r = CommandResult(node=self.node, argv=tuple(argv), exit_code=code, stdout=out, stderr=err)
        return r.check() if check else r

    @staticmethod
    def _exec(
        chan: paramiko.Channel, line: str, stdin: bytes | None, timeout: float | None
    ) -> tuple[int | None, str, str]:
        chan.exec_command(line)
        if stdin:
            chan.sendall(stdin)
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        deadline = None if timeout is None else time.monotonic() + timeout + 10
        while True:
            if chan.recv_ready():
                out += chan.recv(65536)
                continue
            if chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
                continue
            if chan.exit_status_ready() and (chan.eof_received or chan.closed):
                break
            if deadline is not None and time.monotonic() > deadline:
                return None, out.decode(errors="replace"), err.decode(errors="replace")
            select.select([chan], [], [], 0.05)
        code: int | None = chan.recv_exit_status()
        if timeout is not None and code in (TIMEOUT_EXIT, -1):
            code = None  # killed by the `timeout -s KILL` wrapper (-1: paramiko's "ended by a signal")
        return code, out.decode(errors="replace"), err.decode(errors="replace")

    def _sftp(self) -> paramiko.SFTPClient:
        t = self.connect()
        sftp = paramiko.SFTPClient.from_transport(t)
        if sftp is None:
            raise ClusterError(f"on {self.node}: cannot open an sftp session")
        return sftp

    def upload(self, local: str | os.PathLike[str], remote: str) -> None:
        self.run(["mkdir", "-p", os.path.dirname(remote) or "/"])
        target = f"/tmp/harness-upload-{uuid.uuid4().hex}" if self.params.sudo else remote
        with self._channels:
            sftp = self._sftp()
            try:
                sftp.put(os.fspath(local), target)
            finally:
                sftp.close()
        if target != remote:
            self.run(["mv", target, remote])

    def download(self, remote: str, local: str | os.PathLike[str]) -> None:
        source = remote
        if self.params.sudo:
            source = f"/tmp/harness-download-{uuid.uuid4().hex}"
            self.run(["sh", "-c", 'cp "$1" "$2" && chmod a+r "$2"', "cp", remote, source])
        os.makedirs(os.path.dirname(os.fspath(local)) or ".", exist_ok=True)
        try:
            with self._channels:
                sftp = self._sftp()
                try:
                    sftp.get(source, os.fspath(local))
                except FileNotFoundError:
                    raise FileNotFoundError(f"{self.node}:{remote}") from None
                finally:
                    sftp.close()
        finally:
            if source != remote:
                self.run(["rm", "-f", source], check=False)

    def __repr__(self) -> str:
        return f"SSHRemote({self.node!r}, {self.params.user}@{self.params.host}:{self.params.port})"


def remote_from_locator(data: Mapping[str, Any]) -> SSHRemote:
    """An SSHRemote from the locator stored in a ledger entry."""
    fields = {k: data[k] for k in SSHParams.__dataclass_fields__ if k in data}
    return SSHRemote(str(data.get("node", data.get("host", "?"))), SSHParams(**fields))
