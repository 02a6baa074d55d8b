"""The whole `harness run` with partitions, kills and pauses on a real local etcd cluster: it must end valid
on the register workload, with the nemesis ops (and what they did) in history.jsonl and nothing left behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.real_cluster import skip_reason
from tests.rundirs import harness_run, history_of, results_of, run_dirs

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_partition_kill_pause_run_ends_valid() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    # not pytest's tmp_path: concurrent pytest sessions on this machine prune each other's base temp dirs
    with tempfile.TemporaryDirectory(prefix="nemeses-e2e-") as d:
        _run_and_check(Path(d))


def _run_and_check(tmp_path: Path) -> None:
    p = harness_run(tmp_path, "--system", "etcd", "--workload", "register", "--cluster", "local",
                    "--nemesis", "partition,kill,pause", "--time-limit", "60", "--seed", "11", timeout=400).process
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    runs = run_dirs(tmp_path)
    assert len(runs) == 1, sorted(str(x) for x in tmp_path.rglob("*"))[:20]
    run = runs[0]
    results = results_of(run)
    assert results["valid"] is True and results["errors"] == []
    # every fault window was exercised: clients kept invoking (a killed or paused majority makes ops time out,
    # so no stretch without an invocation is longer than the op timeout and a second)
    windows = results["coverage"]["windows"]
    assert {w["package"] for w in windows} == {"partition", "kill", "pause"}, windows
    assert results["coverage"]["untested"] == []
    assert all(w["longest_gap_s"] <= 5.0 + 1 for w in windows), windows
    done = history_of(run)
    nemesis = [o for o in done if o["process"] == "nemesis" and o["type"] == "info"]
    assert all("error" not in o for o in nemesis), [o for o in nemesis if "error" in o]
    fs = {o["f"] for o in nemesis}
    assert {"start-partition", "stop-partition", "kill", "start", "pause", "resume"} <= fs, fs
    parts = [o for o in nemesis if o["f"] == "start-partition"]
    assert all(o["value"]["grudge"] or o["value"].get("skipped") for o in parts)
    assert any(o["value"]["grudge"] for o in parts)
    # kill and pause draw from every default spec, `primaries` too: one that names no node then (no leader while
    # a majority is killed) is redrawn, so every kill and pause acts on some node
    hits = [o for o in nemesis if o["f"] in ("kill", "pause")]
    assert hits and all(o["value"]["nodes"] for o in hits), [o for o in hits if not o["value"]["nodes"]]
    assert sum(1 for o in done if o["process"] != "nemesis" and o["type"] == "ok") > 100
