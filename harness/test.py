"""The `Test`: one frozen value holding everything a run needs, built from RunOptions before any node is
touched. Owns `Test` only; `harness.build` builds it from options and the plugin registry."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.credentials import RunSecrets
from harness.rng import GenRandom
from harness.options import RunOptions
from harness.plugins import Registry


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
    cluster: Any = None  # harness.cluster.Cluster
    system: Any = None  # harness.db.System
    db: Any = None  # harness.db.DB
    client: Any = None  # harness.client.Client (unopened)
    workload: Any = None  # harness.workload.Workload
    nemesis: Any = None  # harness.nemesis.Nemesis
    packages: tuple[Any, ...] = ()  # harness.nemesis.Package
    generator: Any = None
    final_generator: Any = None
    checker: Any = None  # harness.checker.Checker
    system_opts: Mapping[str, Any] = field(default_factory=dict)
    workload_opts: Mapping[str, Any] = field(default_factory=dict)
    nemesis_opts: Mapping[str, Any] = field(default_factory=dict)
    ledger: Any = None  # harness.ledger.Ledger
    store: Any = None  # harness.store.Store
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

    def node_info(self, node: str) -> Any:
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
        op_timeout=options.op_timeout,
        rng=GenRandom(options.seed),
        nemesis_rng=nemesis_rng(options.seed),
    )
    base.update(kw)
    return Test(**base)


def nemesis_rng(seed: int) -> random.Random:
    """The nemesis's own stream for `seed`: independent of the generators' stream, the same on every replay."""
    return random.Random(f"nemesis:{seed}")
