"""Every (system, workload) pair a built-in system declares has an end-to-end run somewhere in the tests: memory's
in tests/core/test_memory_runs.py (fast, CI), the real systems' on real clusters in their own test files. A system
that declares a new workload, or a new system, fails here until a run covers it."""

from __future__ import annotations

from harness.plugins import Registry
from tests.clusters import (
    test_etcd_workloads,
    test_mariadb,
    test_nats,
    test_patroni,
    test_postgres_workloads,
    test_rabbitmq,
    test_redis_runs,
)
from tests.core import test_memory_runs

COVERED = {
    "memory": set(test_memory_runs.MEMORY.workloads),  # parametrized over the declaration itself
    "etcd": set(test_etcd_workloads.MAIN_CHECKER),
    "postgres": set(test_postgres_workloads.WORKLOADS),
    "redis": set(test_redis_runs.WORKLOADS),
    "nats": set(test_nats.WORKLOADS),  # each under partition + kill
    # list-append at each isolation level and register, then the other workloads on one serializable node
    "mariadb": {"list-append", "register", *test_mariadb.MAIN_CHECKER},
    # list-append healthy, set under partition, the rest healthy
    "patroni": {"list-append", "set", *test_patroni.OTHER_WORKLOADS},
    "rabbitmq": set(test_rabbitmq.WORKLOADS),  # queue under partition and kill
}


def test_every_declared_pair_has_an_end_to_end_run() -> None:
    reg = Registry(builtins_only=True)
    systems = set(reg.names("systems"))
    assert systems <= set(COVERED), f"systems without end-to-end runs: {systems - set(COVERED)}"
    for name in systems:
        declared = set(reg.get("systems", name).workloads)
        assert declared == COVERED[name], f"{name}: declared {sorted(declared)}, run {sorted(COVERED[name])}"
