"""The whole `harness run` with partitions, kills and pauses on a real local etcd cluster: it must end valid
on the register workload, with the nemesis ops (and what they did) in history.jsonl and nothing left behind.
Both runs take the default op timeout, derived from the fault interval (harness.pacing); with it, a window in which
a paused majority answers no op is still tested: each client times out several times in it, where a 5 s timeout in
a 5 s window gave about one op per client, the window was untested and the run ended unknown. (A pause beside
kills does not show that: clients of a killed node fail at once, hundreds of ops in any window.)"""

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
    # no --op-timeout, no --nemesis-interval: the defaults are what is tested
    p = harness_run(tmp_path, "--system", "etcd", "--workload", "register", "--cluster", "local",
                    "--nemesis", "partition,kill,pause", "--time-limit", "30", "--seed", "11", timeout=400).process
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    runs = run_dirs(tmp_path)
    assert len(runs) == 1, sorted(str(x) for x in tmp_path.rglob("*"))[:20]
    run = runs[0]
    results = results_of(run)
    assert results["valid"] is True and results["errors"] == []
    # the op timeout was derived from the 5 s fault interval of a 30 s run, and said so
    timeout = results["op_timeout"]
    assert (timeout["seconds"], timeout["rule"]) == (1.25, "derived"), timeout
    assert "op timeout 1.25 s: the 5 s fault interval / 4" in p.stderr, p.stderr[-2000:]
    # every fault window was exercised: clients kept invoking (a killed or paused majority makes ops time out,
    # so no stretch without an invocation is longer than the op timeout and a second)
    windows = results["coverage"]["windows"]
    assert {w["package"] for w in windows} == {"partition", "kill", "pause"}, windows
    assert results["coverage"]["untested"] == []
    assert all(w["longest_gap_s"] <= timeout["seconds"] + 1 for w in windows), windows
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


def test_a_majority_pause_window_is_tested_with_the_default_op_timeout() -> None:
    """Two of three members paused: no op is answered while it lasts, yet with the defaults of a 20 s run (3.3 s
    faults, a 1 s op timeout) every pause window holds at least --min-fault-ops completed client ops, nearly all of
    them timeouts; the pause took effect (its evidence: the paused pids in state T); the run is valid."""
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="nemeses-e2e-") as d:
        p = harness_run(d, "--system", "etcd", "--workload", "register", "--cluster", "local", "--nemesis", "pause",
                        "--nemesis-opt", "pause-targets=majority", "--time-limit", "20", "--seed", "4",
                        timeout=300)
        assert p.process.returncode == 0, p.process.stdout[-3000:] + p.process.stderr[-3000:]
        results = p.results
    assert (results["op_timeout"]["seconds"], results["op_timeout"]["rule"]) == (1.0, "derived"), results
    cov = results["coverage"]
    assert cov["windows"] and cov["untested"] == [], cov
    for w in cov["windows"]:
        ev = [e for e in results["evidence"] if e["f"] == "pause" and abs(e["time_s"] - w["in_place_from_s"]) < 1e-3]
        assert len(ev) == 1 and ev[0]["state"] == "in effect" and len(ev[0]["nodes"]) == 2, (w, results["evidence"])
        assert w["completed"] >= cov["min_ops"], w
        assert w["info"] >= 0.8 * w["completed"], w  # no quorum: nearly every op of the window timed out
