"""The system under test on a node: the `DB` protocol, its optional abilities, and the `System` plugin.

Owns the interfaces only; systems (etcd, postgres, ...) live in `clusters/`. Optional abilities are tiny
separate protocols checked with `isinstance` when the test is built, so a nemesis that needs `Killable` fails
before the run with a message naming the missing ability (see `require`). `RunsOn` and `active_nodes` say which
nodes run the system (every node unless the DB says otherwise), so that faults are aimed only where it runs.
`DeclaresIsolation` lets a system say which consistency model its transactions promise in this run.

Also owns collecting node logs (`collect_logs`), the one behaviour behind an ability that is the same for every
system: the system names its files (`HasLogs.log_files`), the cluster's `Remote` fetches them. And rescuing them
after a kill -9 (`note_logs`, `salvage_logs`): the runner names the logs in the ledger under the kind
`<provider>-node-logs`, recorded after the cluster's own entries so that `harness cleanup` (which undoes newest
first) copies them into the run directory before the provider's undo deletes the nodes' workdirs; a provider
offers it by registering that kind's undoer, which calls `salvage_logs` with its own Remote.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from harness.control import on_all
from harness.errors import HarnessError, MissingAbility
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.client import Client
    from harness.cluster import Cluster
    from harness.test import Test

A = TypeVar("A")  # an ability (a Protocol class) that `ability` narrows test.db to


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


@dataclass(frozen=True, kw_only=True)
class LogCollection:
    """What `collect_logs` copied (local paths) and what it could not (one line each)."""

    files: tuple[str, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)


def collect_logs(cluster: Cluster | None, db: object, test: Test, dest_dir: str | os.PathLike[str]) -> LogCollection:
    """Copy every log file of `db` (if it HasLogs) on every node of `cluster` into `<dest_dir>/<node>/`, nodes in
    parallel. Never raises: the runner calls it in its finally phase, also after a failed run and before the
    cluster is torn down. A node that cannot be reached or a log that does not exist is returned in `problems`
    and noted in `<dest_dir>/<node>/MISSING.txt`."""
    if cluster is None or not isinstance(db, HasLogs):
        return LogCollection()
    logs: HasLogs = db
    root = os.fspath(dest_dir)

    def one(node: str) -> tuple[list[str], list[str]]:
        files: list[str] = []
        problems: list[str] = []
        out = os.path.join(root, node)
        os.makedirs(out, exist_ok=True)
        try:
            paths = list(logs.log_files(test, node))
            remote = cluster.remote(node)
        except Exception as e:  # noqa: BLE001 - never fail the finally phase
            problems.append(f"{node}: cannot list logs: {e}")
            paths = []
        for path in paths:
            local = os.path.join(out, os.path.basename(path))
            try:
                remote.download(path, local)
                files.append(local)
            except Exception as e:  # noqa: BLE001 - a log that cannot be fetched is named in MISSING.txt
                problems.append(f"{node}: {path}: {type(e).__name__}: {e}")
        if problems:
            with open(os.path.join(out, "MISSING.txt"), "a", encoding="utf-8") as fh:
                fh.write("".join(p + "\n" for p in problems))
        return files, problems

    names = [n.name for n in cluster.nodes]
    by_node = on_all(names, one)  # `one` notes its problems instead of raising
    results = [by_node[n] for n in names]
    return LogCollection(
        files=tuple(f for fs, _ in results for f in fs), problems=tuple(p for _, ps in results for p in ps)
    )


@runtime_checkable
class HasDataDir(Protocol):
    """The directory on a node where the system keeps what it must not lose (its durable state). The power-loss
    nemesis mounts the lazy filesystem over it, with the system stopped."""

    def data_dir(self, test: Test, node: str) -> str: ...


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


@runtime_checkable
class ChangesMembership(Protocol):
    """The system's own reconfiguration, for the membership nemesis: `leave` takes node out of the cluster (through
    a member that stays) and stops it, its data wiped (it comes back as a new member); `join` adds it back and
    starts it; `members` names the current members as the cluster reports them (the fault's evidence)."""

    def leave(self, test: Test, node: str) -> None: ...

    def join(self, test: Test, node: str) -> None: ...

    def members(self, test: Test) -> Sequence[str]: ...


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


def ability(test: Test, kind: type[A]) -> A:
    """`test.db` as the ability `kind` (Killable, Pausable, ...): the nemesis that uses it checked it with
    `require` while the test was built, so a DB without it here is a bug of ours, not bad input."""
    db = test.db
    if not isinstance(db, kind):
        raise TypeError(f"{type(db).__name__} is not {kind.__name__}; the nemesis should have required it")
    return db


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

    def versions(self, test: Test) -> dict[str, object]: ...


def logs_kind(provider: str) -> str:
    """The ledger kind under which a run names its node logs for `harness cleanup` to rescue."""
    return f"{provider}-node-logs"


def note_logs(test: Test, dest_dir: str) -> str | None:
    """Name `test`'s node logs in its ledger for `salvage_logs` (when its provider can rescue them); returns the
    ledger kind used, or None."""
    from harness.ledger import has_undoer

    kind = logs_kind(test.cluster.provider)
    if test.ledger is None or not isinstance(test.db, HasLogs) or not has_undoer(kind):
        return None
    files = {n: list(test.db.log_files(test, n)) for n in test.nodes}
    # how to reach each node again from another process (an ssh host's address and key; see clusters.ssh)
    locators = {n: loc for n in test.nodes if (loc := getattr(test.cluster.remote(n), "locator", None))}
    test.ledger.record(kind, dest_dir, files=files, locators=locators)
    return kind


def salvage_logs(dest_dir: str, files: dict[str, list[str]], remote_of: Any) -> list[str]:
    """Copy each node's `files` through `remote_of(node)` (a Remote) into `<dest_dir>/<node>/`, noting it in
    SALVAGED.txt; files that are gone are skipped. Only into a run directory that still exists. Returns the
    local paths copied."""
    if not os.path.isdir(os.path.dirname(os.path.abspath(dest_dir))):
        return []
    copied: list[str] = []
    for node, paths in files.items():
        out = os.path.join(dest_dir, os.path.basename(node))
        for path in paths:
            local = os.path.join(out, os.path.basename(path))
            try:
                remote_of(node).download(path, local)
            except (OSError, HarnessError):
                continue
            copied.append(local)
        if os.path.isdir(out):
            with open(os.path.join(out, "SALVAGED.txt"), "a", encoding="utf-8") as fh:
                fh.write("copied by `harness cleanup`: the harness ended before it could collect these logs\n")
    return copied
