"""The Remote of a docker node: `docker exec` through the docker SDK, files through the archive API.

Owns `DockerRemote`. Timeouts are enforced twice: inside the container (`timeout -s KILL`, so a timed-out
command leaves no process behind) and on the socket (so a hung engine cannot hang the harness). Does not create
containers (see `clusters.docker.cluster`).
"""

from __future__ import annotations

import io
import os
import socket
import tarfile
from collections.abc import Mapping, Sequence

import docker
import docker.errors
from docker.utils.socket import consume_socket_output, demux_adaptor, frames_iter

from harness.control import CommandResult
from harness.errors import ClusterError

TIMEOUT_EXIT = 137  # `timeout -s KILL` reports a killed command as 128 + 9


class DockerRemote:
    """Runs commands as root in one container. Thread-safe: every call opens its own exec and socket."""

    def __init__(self, node: str, client: docker.DockerClient, container: str) -> None:
        self.node = node
        self.client = client
        self.container = container
        self.locator = None  # daemons die with the container: no ledger entry needed

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = 60.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        cmd = list(argv)
        if timeout is not None:
            cmd = ["timeout", "-s", "KILL", f"{max(timeout, 0.1):.3f}", *cmd]
        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.container, cmd, stdin=stdin is not None, stdout=True, stderr=True,
                environment=dict(env) if env else None,
            )["Id"]
            sock = api.exec_start(exec_id, socket=True)
            raw = getattr(sock, "_sock", sock)
            raw.settimeout(None if timeout is None else timeout + 30)
            if stdin is not None:
                raw.sendall(stdin)
            try:
                raw.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            try:
                frames = (demux_adaptor(stream, data) for stream, data in frames_iter(sock, tty=False))
                out, err = consume_socket_output(frames, demux=True)
            finally:
                sock.close()
            code = api.exec_inspect(exec_id).get("ExitCode")
        except (docker.errors.APIError, OSError) as e:
            raise ClusterError(f"on {self.node}: docker exec {' '.join(argv)}: {e}") from None
        exit_code: int | None = code
        if timeout is not None and code == TIMEOUT_EXIT:
            exit_code = None  # killed by the timeout wrapper (or by SIGKILL; both mean no answer in time)
        r = CommandResult(
            node=self.node, argv=tuple(argv), exit_code=exit_code,
            stdout=(out or b"").decode(errors="replace"), stderr=(err or b"").decode(errors="replace"),
        )
        return r.check() if check else r

    def upload(self, local: str | os.PathLike[str], remote: str) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.add(os.fspath(local), arcname=os.path.basename(remote))
        self.run(["mkdir", "-p", os.path.dirname(remote) or "/"])
        if not self.client.api.put_archive(self.container, os.path.dirname(remote) or "/", buf.getvalue()):
            raise ClusterError(f"on {self.node}: upload of {local} to {remote} failed")

    def download(self, remote: str, local: str | os.PathLike[str]) -> None:
        try:
            stream, _ = self.client.api.get_archive(self.container, remote)
        except docker.errors.NotFound:
            raise FileNotFoundError(f"{self.node}:{remote}") from None
        buf = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=buf) as tar:
            member = tar.next()
            if member is None or not member.isfile():
                raise ClusterError(f"on {self.node}: {remote} is not a regular file")
            src = tar.extractfile(member)
            assert src is not None
            os.makedirs(os.path.dirname(os.fspath(local)) or ".", exist_ok=True)
            with open(local, "wb") as fh:
                fh.write(src.read())

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"DockerRemote({self.node!r}, {self.container!r})"

