"""The `Test`: one frozen value holding everything a run needs, built from RunOptions before any node is
touched. Owns `Test` only; `harness.build` builds it from options and the plugin registry."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.credentials import RunSecrets
from harness.options import RunOptions
from harness.pacing import op_timeout
from harness.plugins import Registry
from harness.rng import GenRandom

if TYPE_CHECKING:
    from harness.checker import Checker
    from harness.client import Client
    from harness.cluster import Cluster, Node
    from harness.db import DB, System
    from harness.generator.core import GenLike
    from harness.ledger import Ledger
    from harness.nemesis import Nemesis, Package
    from harness.store import Store
    from harness.workload import Workload


@dataclass(frozen=True, kw_only=True, eq=False)
class Test:
    """A run, fully specified. `rng` is the seeded RNG of the generators (workloads and nemesis schedules draw
    from it when asked for an op, never from `random` directly; the interpreter takes back the draws of answers
    it does not dispatch, see `harness.rng`); `nemesis_rng` is a second stream, seeded from the same seed, for
    the draws a nemesis makes while it performs an op (in its own thread, e.g. which nodes a grudge isolates),
    so they never interleave with the generators' draws; `ledger` records what the run creates so `harness
    cleanup` can undo it; `store` is the run directory (None when a test is built for a check or a simulation);
    `secrets` holds the run's random key that systems derive node passwords from (in memory only, see
    `harness.credentials`); `registry` is the plugin registry the test was built from (None in unit tests of
plugins: `workloads._common.registered_checker` then reads this distribution's)."""

    name: str
    options: RunOptions
    seed: int
    nodes: tuple[str, ...]
    concurrency: int
    time_limit: float
    op_timeout: float
    rng: GenRandom
    nemesis_rng: random.Random
    # The parts below are None only in a test built for a check, a simulation or a unit test of one plugin
    # (`bare_test`); `harness.build.build_test` fills every one before a run. They are typed as what a run
    # has, not as optional, so that the code of a run does not assert on each use: a bare test that reaches a
    # part it lacks fails at once with an AttributeError on None.
    cluster: Cluster = None  # type: ignore[assignment]  # None only in a bare test (see above)
    system: System = None  # type: ignore[assignment]  # idem
    # fault families reach the abilities they need (Killable, Pausable, ...) through `harness.db.ability`,
    # which `harness.db.require` checked while the test was built; None only before the system built it
    db: DB | None = None
    client: Client = None  # type: ignore[assignment]  # idem; unopened
    workload: Workload = None  # type: ignore[assignment]  # idem
    nemesis: Nemesis = None  # type: ignore[assignment]  # idem
    packages: tuple[Package, ...] = ()
    generator: GenLike = None
    final_generator: GenLike = None
    checker: Checker = None  # type: ignore[assignment]  # idem
    system_opts: Mapping[str, Any] = field(default_factory=dict)
    workload_opts: Mapping[str, Any] = field(default_factory=dict)
    nemesis_opts: Mapping[str, Any] = field(default_factory=dict)
    ledger: Ledger | None = None  # None when nothing of the run is created (a check, a simulation)
    store: Store | None = None
    run_id: str = ""  # names the run's ledger, cluster resources and run directory
    started: dt.datetime | None = None
    secrets: RunSecrets = field(default_factory=RunSecrets, repr=False)
    registry: Registry | None = field(default=None, repr=False)  # where the workload finds its checkers

    def node_host(self, node: str) -> str:
        """The address of `node` for clients."""
        for n in self.cluster.nodes:
            if n.name == node:
                return n.host
        raise KeyError(node)

    def node_info(self, node: str) -> Node:
        for n in self.cluster.nodes:
            if n.name == node:
                return n
        raise KeyError(node)


def bare_test(**kw: Any) -> Test:
    """A Test with defaults, for checks, simulations and unit tests of plugins."""
    options = kw.pop("options", RunOptions())
    base: dict[str, Any] = dict(
        name=options.test_name,
        options=options,
        seed=options.seed,
        nodes=options.node_names,
        concurrency=options.concurrency,
        time_limit=options.time_limit,
        op_timeout=op_timeout(options).seconds,
        rng=GenRandom(options.seed),
        nemesis_rng=nemesis_rng(options.seed),
    )
    base.update(kw)
    return Test(**base)


def nemesis_rng(seed: int) -> random.Random:
    """The nemesis's own stream for `seed`: independent of the generators' stream, the same on every replay."""
    return random.Random(f"nemesis:{seed}")
