"""The `Client` protocol: how a worker talks to the system under test.

Owns the interface, the definite/indefinite error rule, and the mark of a refusal (`refused`, `is_refusal`):
a `fail` the system answered. Clients live with their systems in `clusters/`.

Two kinds of `fail` look alike in a history and mean opposite things for availability: "the system answered
no" (a compare-and-set whose expected value did not match, a serialization failure or deadlock the database
rolled back, a transfer refused for lack of funds: the workload expects these, the system was up and decided)
and "the system did not answer" (no connection, a timeout, a node that says it is unavailable). A client marks
the first kind with `refused(reason)` as the op's error; everything else that is not `ok` counts as no answer.
Availability is the share of ops the system answered (ok or refused).

Also owns `close_quietly` (close a client's connection, swallowing the failure of a close that has nothing to undo).

Also owns telling a bug of the harness from a fault of the system (`HarnessBug.of`): an exception a client raises
is the system's unknown outcome (`info`), unless it is a programming error (TypeError, AttributeError, NameError,
KeyError, AssertionError) raised in the harness's own code, which stops the run with verdict unknown.
"""

from __future__ import annotations

import importlib.util
import os
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.op import FAIL, Op

if TYPE_CHECKING:
    from harness.test import Test


@runtime_checkable
class Client(Protocol):
    """One worker's connection to one node.

    `open(test, node)` returns a new, connected client for `node` and must not change the logical state of the
    system. `setup(test)` runs once per test on one opened client (create tables, ...), `teardown(test)` once at
    the end. `invoke(test, op)` performs `op` (type invoke) and returns its completion: the same op with type
    `ok` (it happened, value filled in), `fail` (it definitely did not happen) or `info` (unknown). An exception
    from `invoke` is recorded as `info` and the process is retired. A timeout is `info`. `close(test)` releases
    the connection and must not raise.
    """

    def open(self, test: Test, node: str) -> Client: ...

    def setup(self, test: Test) -> None: ...

    def invoke(self, test: Test, op: Op) -> Op: ...

    def teardown(self, test: Test) -> None: ...

    def close(self, test: Test) -> None: ...


class Closable(Protocol):
    """A driver's connection: anything with a `close()`."""

    def close(self) -> object: ...


def close_quietly(conn: Closable | None) -> None:
    """Close `conn` if there is one; a failing close is swallowed (`Client.close` must not raise, and a close
    that fails has nothing left to undo)."""
    if conn is None:
        return
    try:
        conn.close()
    except Exception:  # noqa: BLE001, S110 - close must not raise; a failing close has nothing to undo
        pass


REFUSAL_PREFIX = "refused: "


def refused(reason: str) -> str:
    """The `error` of a `fail` op that the system answered with a definite no: "refused: <reason>"."""
    return REFUSAL_PREFIX + reason


def is_refusal(op: Op | None) -> bool:
    """Whether `op` is a `fail` the system answered (marked by `refused`), as opposed to a fail for want of an
    answer (connection refused, timeout, unavailable)."""
    return op is not None and op.type == FAIL and isinstance(op.error, str) and op.error.startswith(REFUSAL_PREFIX)


PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (TypeError, AttributeError, NameError, KeyError, AssertionError)
OUR_PACKAGES = ("harness", "clusters", "workloads", "nemeses", "checkers")


def _package_dirs() -> tuple[str, ...]:
    dirs: list[str] = []
    for name in OUR_PACKAGES:
        spec = importlib.util.find_spec(name)
        for d in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(os.path.realpath(d) + os.sep)
    return tuple(dirs)


@dataclass(frozen=True, kw_only=True)
class HarnessBug:
    """A programming error of the harness's own code met while performing an op: what it was and where."""

    error: str  # "TypeError: cannot unpack non-iterable NoneType object"
    where: str  # "clusters/memory.py:91 in invoke"
    traceback: str

    def describe(self) -> str:
        return f"harness bug: {self.error} at {self.where}"

    @classmethod
    def of(cls, e: BaseException) -> HarnessBug | None:
        """A HarnessBug when `e` is a programming error whose innermost frame of ours is the last frame outside
        the standard library (a driver's own TypeError stays the system's unknown outcome); else None."""
        if not isinstance(e, PROGRAMMING_ERRORS):
            return None
        ours = _package_dirs()
        for frame in reversed(traceback.extract_tb(e.__traceback__)):
            path = os.path.realpath(frame.filename)
            if path.startswith(ours):
                where = f"{os.path.basename(os.path.dirname(path))}/{os.path.basename(path)}:{frame.lineno} in {frame.name}"
                text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
                return cls(error=f"{type(e).__name__}: {e}", where=where, traceback=text)
            if not _in_stdlib(path):
                return None  # raised inside a library (a database driver): not ours to call a bug
        return None


def _in_stdlib(path: str) -> bool:
    import sysconfig

    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
    return path.startswith(stdlib) and "site-packages" not in path and "dist-packages" not in path
