"""The Remote of a local-namespace node: `ip netns exec <ns> argv` on this host.

Owns `NamespaceRemote` and `run_process` (a subprocess run that kills its whole process group on timeout, so a
timed-out command leaves nothing behind; daemons escape on purpose via `setsid`, see `clusters.daemon`). Files
are copied directly: namespaces share the host's filesystem. Does not create namespaces (see `network`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence

from harness.control import CommandResult

BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
}


def run_process(
    node: str,
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout: float | None,
    env: Mapping[str, str] | None,
    shown_argv: Sequence[str] | None = None,
) -> CommandResult:
    """Run argv in its own process group; on timeout SIGKILL the group and return exit_code None."""
    full_env = dict(BASE_ENV)
    full_env.update(env or {})
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=stdin, timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        code = None
    return CommandResult(
        node=node,
        argv=tuple(shown_argv if shown_argv is not None else argv),
        exit_code=code,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
    )


class NamespaceRemote:
    """Runs commands as root inside the node's network namespace. Thread-safe (no shared state)."""

    def __init__(self, node: str, netns: str) -> None:
        self.node = node
        self.netns = netns
        self.locator: dict[str, str | int] = {"via": "netns", "netns": netns}

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = 60.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        r = run_process(
            self.node, ["ip", "netns", "exec", self.netns, *argv], stdin=stdin, timeout=timeout, env=env,
            shown_argv=argv,
        )
        return r.check() if check else r

    def upload(self, local: str | os.PathLike[str], remote: str) -> None:
        os.makedirs(os.path.dirname(remote) or "/", exist_ok=True)
        shutil.copyfile(local, remote)

    def download(self, remote: str, local: str | os.PathLike[str]) -> None:
        os.makedirs(os.path.dirname(os.fspath(local)) or ".", exist_ok=True)
        shutil.copyfile(remote, local)

    def close(self) -> None:
        pass

    def mounts(self) -> HostRemote:
        """The Remote whose mounts the node's processes see. `ip netns exec` gives each command a private mount
        namespace (a slave of this machine's), so a filesystem mounted through `run` would be seen by that
        command alone; one mounted on this machine propagates into every command of the node."""
        return HostRemote(self.node, self.locator)

    def __repr__(self) -> str:
        return f"NamespaceRemote({self.node!r}, {self.netns!r})"


class HostRemote(NamespaceRemote):
    """Runs commands as root on this machine, outside any namespace, for a local node (see `mounts`)."""

    def __init__(self, node: str, locator: dict[str, str | int]) -> None:
        self.node = node
        self.netns = ""
        self.locator = locator

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = 60.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        r = run_process(self.node, list(argv), stdin=stdin, timeout=timeout, env=env)
        return r.check() if check else r

    def __repr__(self) -> str:
        return f"HostRemote({self.node!r})"
