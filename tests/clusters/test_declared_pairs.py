"""Every (system, workload) pair a built-in system declares has an end-to-end run somewhere in the tests: memory's
in tests/core/test_memory_runs.py (fast, CI), etcd's and Postgres's on real clusters in test_etcd_workloads.py
and test_postgres_workloads.py. A system that declares a new workload fails here until a run covers it."""

from __future__ import annotations

from harness.plugins import Registry
from tests.clusters import test_etcd_workloads, test_postgres_workloads
from tests.core import test_memory_runs

COVERED = {
    "memory": set(test_memory_runs.MEMORY.workloads),  # parametrized over the declaration itself
    "etcd": set(test_etcd_workloads.MAIN_CHECKER),
    "postgres": set(test_postgres_workloads.WORKLOADS),
}


def test_every_declared_pair_has_an_end_to_end_run() -> None:
    reg = Registry(builtins_only=True)
    systems = set(reg.names("systems"))
    assert systems <= set(COVERED), f"systems without end-to-end runs: {systems - set(COVERED)}"
    for name in systems:
        declared = set(reg.get("systems", name).workloads)
        assert declared == COVERED[name], f"{name}: declared {sorted(declared)}, run {sorted(COVERED[name])}"
