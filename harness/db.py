"""The system under test on a node: the `DB` protocol, its optional abilities, and the `System` plugin.

Owns the interfaces only; systems (etcd, postgres, ...) live in `clusters/`. Optional abilities are tiny
separate protocols checked with `isinstance` when the test is built, so a nemesis that needs `Killable` fails
before the run with a message naming the missing ability (see `require`). `RunsOn` and `active_nodes` say which
nodes run the system (every node unless the DB says otherwise), so that faults are aimed only where it runs.
`DeclaresIsolation` lets a system say which consistency model its transactions promise in this run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.errors import MissingAbility
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.client import Client
    from harness.test import Test


@runtime_checkable
class DB(Protocol):
    """Installs, starts, stops and wipes the system on one node.

    `setup` installs (if needed), configures and starts the system on `node` and returns once this node's part
    is up; the runner calls it on every node in parallel and then `await_ready`. `teardown` stops it and wipes
    its data; it is idempotent and must work on a node where setup failed halfway.
    """

    def setup(self, test: Test, node: str) -> None: ...

    def teardown(self, test: Test, node: str) -> None: ...


@runtime_checkable
class Killable(Protocol):
    """`kill` SIGKILLs the system's processes on node (no-op if not running); `start` starts them again."""

    def kill(self, test: Test, node: str) -> None: ...

    def start(self, test: Test, node: str) -> None: ...


@runtime_checkable
class Pausable(Protocol):
    """`pause` SIGSTOPs the system's processes on node; `resume` SIGCONTs them. Both idempotent."""

    def pause(self, test: Test, node: str) -> None: ...

    def resume(self, test: Test, node: str) -> None: ...


@runtime_checkable
class HasLogs(Protocol):
    """Paths on the node of the log files worth collecting into the run directory."""

    def log_files(self, test: Test, node: str) -> Sequence[str]: ...


@runtime_checkable
class HasPrimaries(Protocol):
    """Names of the nodes that currently lead (primary, leader); empty if none can be found."""

    def primaries(self, test: Test) -> Sequence[str]: ...


@runtime_checkable
class AwaitsReady(Protocol):
    """Blocks until the whole cluster serves requests (or raises ClusterError after `timeout` seconds)."""

    def await_ready(self, test: Test, timeout: float) -> None: ...


@runtime_checkable
class RunsOn(Protocol):
    """The nodes of the test the system runs on, when that is not every node (a system that leaves nodes idle,
    or one that lives inside the harness process and runs on none). Fixed for the run: it names where the
    system was configured to run, not where it is up right now."""

    def active_nodes(self, test: Test) -> Sequence[str]: ...


def active_nodes(test: Test) -> tuple[str, ...]:
    """The test's nodes that run the system, in the test's order (every node unless the DB is `RunsOn`)."""
    if isinstance(test.db, RunsOn):
        named = set(test.db.active_nodes(test))
        return tuple(n for n in test.nodes if n in named)
    return tuple(test.nodes)


def require(obj: object, ability: type, who: str, needs: str) -> None:
    """Raise MissingAbility unless `obj` has `ability` ("nemesis kill needs a Killable system; etcd is not")."""
    if not isinstance(obj, ability):
        raise MissingAbility(f"{who} needs a system that is {ability.__name__}; {needs} is not")


@dataclass(frozen=True, kw_only=True)
class Isolation:
    """The consistency model a system's transactions promise in this run, as a transactional checker names
    it ("read-committed", "repeatable-read", "serializable", ...), the option that set it (`why`, for the
    report) and notes a reader needs to judge the verdict (what the product's own name for the level means)."""

    model: str
    why: str
    notes: tuple[str, ...] = ()
    compare: tuple[str, ...] = ()  # further models the report checks the history against, for information


@runtime_checkable
class DeclaresIsolation(Protocol):
    """A System whose options choose an isolation level: the model transactional workloads expect by default
    (a workload option can still override it)."""

    def isolation(self, test: Test) -> Isolation: ...


class System(Protocol):
    """Plugin in `harness.systems`: a database or service the harness can test.

    `workloads` names the workloads its client implements; `db(test)` and `client(test)` build the DB and an
    unopened Client for the test's workload. `versions(test)` reports installed versions for test.json.
    """

    name: str
    workloads: frozenset[str]
    option_specs: Sequence[OptionSpec]

    def db(self, test: Test) -> DB: ...

    def client(self, test: Test) -> Client: ...

    def versions(self, test: Test) -> dict[str, Any]: ...
