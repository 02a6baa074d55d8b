"""The `Client` protocol: how a worker talks to the system under test.

Owns the interface, the definite/indefinite error rule, and the mark of a refusal (`refused`, `is_refusal`):
a `fail` the system answered. Clients live with their systems in `clusters/`.

Two kinds of `fail` look alike in a history and mean opposite things for availability: "the system answered
no" (a compare-and-set whose expected value did not match, a serialization failure or deadlock the database
rolled back, a transfer refused for lack of funds: the workload expects these, the system was up and decided)
and "the system did not answer" (no connection, a timeout, a node that says it is unavailable). A client marks
the first kind with `refused(reason)` as the op's error; everything else that is not `ok` counts as no answer.
Availability is the share of ops the system answered (ok or refused).
"""

from __future__ import annotations

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


REFUSAL_PREFIX = "refused: "


def refused(reason: str) -> str:
    """The `error` of a `fail` op that the system answered with a definite no: "refused: <reason>"."""
    return REFUSAL_PREFIX + reason


def is_refusal(op: Op | None) -> bool:
    """Whether `op` is a `fail` the system answered (marked by `refused`), as opposed to a fail for want of an
    answer (connection refused, timeout, unavailable)."""
    return op is not None and op.type == FAIL and isinstance(op.error, str) and op.error.startswith(REFUSAL_PREFIX)
