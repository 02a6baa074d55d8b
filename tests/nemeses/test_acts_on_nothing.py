"""A nemesis made to act on nothing ends "unknown" with the reason, never "valid": whole `harness run`s of etcd
on local namespaces (short: 8 s of workload each). A partition started while every node's etcd is killed cuts
links between nodes on which nothing listens; a disk fault aimed at files without written data (etcd's
preallocated, zero-filled next WAL segment) changes nothing."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests import rundirs
from tests.real_cluster import skip_reason
from tests.rundirs import history_of, results_of, run_dirs

pytestmark = [pytest.mark.cluster]

# every etcd killed at 1 s, a partition between the dead nodes from 2 s to 4 s, etcd started again at 5 s
PARTITION_OF_THE_DEAD = [
    {"at": 1.0, "f": "kill", "value": ["n1", "n2", "n3"]},
    {"at": 2.0, "f": "start-partition", "value": "majorities-ring"},
    {"at": 4.0, "f": "stop-partition"},
    {"at": 5.0, "f": "start"},
]


def harness_run(d: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], list[dict[str, Any]]]:
    r = rundirs.harness_run(d, "--system", "etcd", "--workload", "register", "--cluster", "local",
                            "--time-limit", "8", "--seed", "3", *args, timeout=180)
    runs = run_dirs(d)
    assert len(runs) == 1, r.process.stdout[-2000:] + r.process.stderr[-3000:]
    return r.process, results_of(runs[0]), history_of(runs[0])


def test_a_partition_between_nodes_that_run_nothing_ends_unknown() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    # not pytest's tmp_path: concurrent pytest sessions on this machine prune each other's base temp dirs
    with tempfile.TemporaryDirectory(prefix="nothing-partition-") as d:
        scenario = Path(d) / "scenario.json"
        scenario.write_text(json.dumps(PARTITION_OF_THE_DEAD))
        p, results, history = harness_run(d, "--nemesis", "partition,kill", "--nemesis-opt", f"schedule={scenario}")
    assert p.returncode == 2 and results["valid"] == "unknown", p.stderr[-3000:]
    findings = results["verdict"]["findings"]
    assert [f["kind"] for f in findings] == ["fault-acted-on-nothing"], findings
    assert "partition (start-partition #" in findings[0]["diagnosis"]
    assert "between nodes on which nothing listens (n1, n2, n3)" in findings[0]["diagnosis"]
    assert "unknown: fault acted on nothing: partition" in results["verdict"]["summary"]
    (part,) = [o for o in history if o["f"] == "start-partition" and o["type"] == "info"]
    assert part["value"]["grudge"]  # links were cut ...
    assert all(p["observed"] == "timed out" for p in part["value"]["evidence"]["probes"] if p["effect"] is not None)
    (kill,) = [o for o in history if o["f"] == "kill" and o["type"] == "info"]
    assert all(p["effect"] for p in kill["value"]["evidence"]["probes"])  # ... but every etcd had been killed
    assert "fault acted on nothing" in p.stderr  # the console says why


def test_a_disk_fault_on_files_without_written_data_ends_unknown() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="nothing-disk-") as d:
        p, results, history = harness_run(d, "--nemesis", "disk", "--nemesis-interval", "2",
                                          "--nemesis-opt", "disk-files=data/member/wal/*.tmp")
    assert p.returncode == 2 and results["valid"] == "unknown", p.stderr[-3000:]
    corrupts = [o for o in history if o["f"] == "corrupt-file" and o["type"] == "info"]
    assert corrupts and all(o["value"]["changes"] == [] for o in corrupts), corrupts
    findings = [f for f in results["verdict"]["findings"] if f["kind"] == "fault-acted-on-nothing"]
    # on a loaded machine a 2 s window may also see too few ops (fault-window-untested): unknown all the same
    assert {f["kind"] for f in results["verdict"]["findings"]} <= {"fault-acted-on-nothing", "fault-window-untested"}
    assert len(findings) == len(corrupts)
    assert all("holds written data" in f["diagnosis"] and "disk (corrupt-file #" in f["diagnosis"] for f in findings)
