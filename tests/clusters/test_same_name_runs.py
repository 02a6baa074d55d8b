"""MUST SHOW: two runs of the same test forced to start in the same millisecond (real etcd clusters in local
namespaces, at the same time in one process) get different run ids, run directories, ledgers, subnets and
namespaces; neither tears down the other's; both finish valid and leave nothing behind."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness.build import build_test
from harness.options import RunOptions
from harness.plugins import Registry
from harness.runner import RunResult, run
from tests.real_cluster import require, residue


def test_two_runs_with_the_same_name_and_millisecond_both_finish_valid(tmp_path: Path) -> None:
    require("local")
    started = dt.datetime(2026, 12, 4, 12, 0, 0, 123000, tzinfo=dt.UTC)
    options = RunOptions(system="etcd", workload="register", cluster="local", node_names=("n1", "n2"),
                         time_limit=5.0, seed=9, results_dir=str(tmp_path / "results"))
    tests = [build_test(options, Registry(), started=started) for _ in range(2)]
    assert tests[0].name == tests[1].name and tests[0].started == tests[1].started
    assert tests[0].run_id != tests[1].run_id
    with ThreadPoolExecutor(max_workers=2) as pool:
        results: list[RunResult] = list(pool.map(run, tests))
    try:
        for r in results:
            assert r.exit_code == 0 and r.verdict.valid is True, (r.errors, r.verdict.summary)
            assert r.errors == ()
        a, b = (Path(r.store.path) for r in results)
        assert a != b and a.parent == b.parent and a.name.startswith("20261204T120000.123Z-")
        assert {t.cluster.subnet for t in tests} == {tests[0].cluster.subnet, tests[1].cluster.subnet}
        assert tests[0].cluster.subnet != tests[1].cluster.subnet
        assert tests[0].cluster.names.bridge != tests[1].cluster.names.bridge
    finally:
        left = residue([t.run_id for t in tests])
    assert not left, f"left behind: {left}"
