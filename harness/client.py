"""The `Client` protocol: how a worker talks to the system under test.

Owns the interface and the definite/indefinite error rule; clients live with their systems in `clusters/`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.op import Op

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
