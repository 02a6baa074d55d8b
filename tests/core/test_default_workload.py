"""`harness run --system S` without --workload runs a workload S serves: register where it has one, else list-append
(SQL systems), else queue (brokers); once, `harness run --system postgres` was refused for the register default."""

from __future__ import annotations

import pytest

from harness.build import build_test, default_workload
from harness.options import RunOptions
from harness.plugins import Registry


@pytest.mark.parametrize(("system", "expected"), [
    ("etcd", "register"), ("redis", "register"), ("postgres", "list-append"), ("patroni", "list-append"),
    ("mariadb", "register"), ("rabbitmq", "queue"), ("nats", "queue"), ("memory", "register"),
])
def test_a_run_naming_no_workload_gets_one_its_system_serves(system: str, expected: str) -> None:
    served = Registry().get("systems", system).workloads
    assert default_workload(served) == expected and expected in served


def test_build_test_fills_in_the_default_and_names_the_test_after_it() -> None:
    test = build_test(RunOptions(system="memory", cluster="inprocess", workload=""), Registry())
    assert test.options.workload == "register" and test.name.startswith("memory-register-")
    assert default_workload(frozenset({"stream", "bank"})) == "bank"  # none of the preferred: the first by name
