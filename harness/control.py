"""Control of nodes: the `Remote` interface through which every command reaches a node.

Owns the `Remote` protocol, `CommandResult`, `write_private` (a secret file onto a node), `on_nodes` (one function on several nodes at once; `on_all` where
every node must succeed; `failures_text` says what failed where) and `retry_until` (one attempt again and again
until it succeeds or a deadline passes).
Implementations live in `clusters/` (local network namespace, docker exec, SSH); systems and nemeses are written
once against this interface. Does not own provisioning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from harness.errors import CommandFailed, TimedOut

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """What a command did. `exit_code` is None when it timed out."""

    node: str
    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def check(self) -> CommandResult:
        """Self if the command succeeded; else raise CommandFailed naming node, command and stderr."""
        if self.exit_code != 0:
            raise CommandFailed(self.node, list(self.argv), self.exit_code, self.stderr)
        return self


@runtime_checkable
class Remote(Protocol):
    """Runs commands on one node and moves files to and from it.

    `run` executes argv (no shell unless argv asks for one) as root on the node (implementations use sudo where
    needed), feeds `stdin`, waits at most `timeout` seconds, and raises `CommandFailed` when `check` is true and
    the exit code is not 0. It must not leave a process behind after a timeout. `upload` and `download` copy one
    file. A Remote is safe to use from several threads.
    """

    node: str

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = 60.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...

    def upload(self, local: str | os.PathLike[str], remote: str) -> None: ...

    def download(self, remote: str, local: str | os.PathLike[str]) -> None: ...

    def close(self) -> None: ...


def write_private(remote: Remote, path: str, content: str, *, user: str | None = None) -> None:
    """Write `content` to `path` on the node with mode 0600 (its folder made if missing), as root or, given
    `user`, as that OS user. The content travels on stdin, never on a command line."""
    argv = ["sh", "-c", 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1"', "write-private", path]
    if user is not None:
        argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]
    remote.run(argv, stdin=content.encode(), timeout=30)


def on_nodes(nodes: Sequence[str], fn: Callable[[str], T]) -> tuple[dict[str, T], dict[str, Exception]]:
    """`fn(node)` on every node at once; (results, failures) by node. Never raises for a node's failure: the
    caller decides what a failure on some nodes means."""
    done: dict[str, T] = {}
    failed: dict[str, Exception] = {}
    if not nodes:
        return done, failed
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = {n: pool.submit(fn, n) for n in nodes}
        for n, fut in futures.items():
            try:
                done[n] = fut.result()
            except Exception as e:  # noqa: BLE001 - every node's failure goes back to the caller
                failed[n] = e
    return done, failed


def on_all(nodes: Iterable[str], fn: Callable[[str], T]) -> dict[str, T]:
    """`fn(node)` on every node (each once) at once, where every node must succeed: the results by node, or the
    failure of the first node (in the order given) that failed, raised once all are done."""
    order = list(dict.fromkeys(nodes))
    done, failed = on_nodes(order, fn)
    for n in order:
        if n in failed:
            raise failed[n]
    return done


def failures_text(failures: Mapping[str, Exception]) -> str:
    """`on_nodes` failures in words, node by node: "n1: ...; n3: ..."."""
    return "; ".join(f"{n}: {e}" for n, e in sorted(failures.items()))


class NotYet(Exception):
    """Raised by an attempt of `retry_until` to say "not yet, try again"; its message says what is awaited."""


def retry_until(timeout: float, attempt: Callable[[], T], *, every: float = 0.2, what: str = "") -> T:
    """`attempt()` until it returns without raising NotYet, at most `timeout` seconds, `every` seconds apart;
    then TimedOut naming `what` and the last NotYet's message. Any other exception goes through at once (a
    failure that waiting will not mend, such as a daemon that exited)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except NotYet as e:
            if time.monotonic() + every > deadline:
                raise TimedOut(f"{what or 'waiting'}: not done after {timeout:g} s ({e})") from None
        time.sleep(every)
