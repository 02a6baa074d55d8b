"""Control of nodes: the `Remote` interface through which every command reaches a node.

Owns the `Remote` protocol, `CommandResult` and `on_nodes` (one function on several nodes at once). Implementations live in `clusters/` (local network namespace,
docker exec, SSH); systems and nemeses are written once against this interface. Does not own provisioning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from harness.errors import CommandFailed

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
