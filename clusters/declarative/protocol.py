"""What a protocol module of a file-made client gives back: an `Answer`, or `NotSent` / `Lost`.

Owns the small contract between `clusters.declarative.client` (which turns answers into ok/fail/info) and the
protocol modules (`http`, `redis`), one per wire protocol. Does not decide outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clusters.declarative.spec import OpSpec, Reply


class NotSent(Exception):
    """The request never reached the system (no connection): the op definitely did not happen."""


class Lost(Exception):
    """The request may have reached the system but no answer came (timeout, reset): the outcome is unknown."""


@dataclass(frozen=True, kw_only=True)
class Answer:
    """The system's answer: `code` is what the file's ok/refused/fail/absent lists match (an HTTP status, a
    Redis reply), `error` a Redis error reply's text, `value` what a read returned (its raw form)."""

    code: Reply
    error: str | None = None
    value: object = None


class Connection(Protocol):
    """One worker's connection to one node in one protocol."""

    def call(self, op: OpSpec, values: dict[str, str]) -> Answer: ...

    def close(self) -> None: ...
