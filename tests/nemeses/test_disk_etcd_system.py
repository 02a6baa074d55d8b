"""The disk nemesis on the real etcd system without `disk-files=`: etcd names its own data files
(HasDataFiles: WAL segments and snapshots under the member's data dir), a corruption lands on one of them, and
a whole `harness run --nemesis disk` on the register workload ends with a verdict and no error ops."""

from __future__ import annotations

import os
import tempfile

import pytest

from harness.build import build_test
from harness.errors import MissingAbility
from harness.evidence import evidence_of
from harness.options import RunOptions
from harness.plugins import Registry
from nemeses.disk import HasDataFiles
from tests.real_cluster import etcd_status, invoke, running, skip_reason, wait_for
from tests.rundirs import harness_run, history_of, only_run, results_of

pytestmark = [pytest.mark.cluster]


def test_etcd_names_its_wal_files_and_a_corruption_hits_one() -> None:
    with running(("disk",), {"disk-max-bytes": "64"}) as test:
        assert isinstance(test.db, HasDataFiles)
        node = test.nodes[1]
        files = list(test.db.data_files(test, node))
        member = os.path.join(test.db.data_dir(test, node), "member")
        assert files and all(f.startswith(member + "/") for f in files), files
        assert all(f.endswith((".wal", ".snap")) and os.path.isfile(f) for f in files), files
        assert any(f.startswith(os.path.join(member, "wal") + "/") for f in files), files
        done = invoke(test, "corrupt-file", {"nodes": [node], "mode": "truncate"})
        assert done.error is None, done.error
        (change,) = done.value["changes"]
        assert change["file"] in files and 1 <= change["written"] - change["to_size"] <= 64
        # a torn last record etcd repairs on start; a cut that removed whole committed records it refuses
        refused = "start_failed" in done.value
        if not refused:
            wait_for(lambda: etcd_status(test, node), 30, f"{node} to serve after its WAL tail was cut")
        stop = invoke(test, "stop-disk")  # ends the window, and records whether the corrupted node runs
        evidence = evidence_of(stop)
        assert stop.value["nodes"] == [node] and evidence is not None
        assert [(p.node, p.observed) for p in evidence.probes] == [(node, "not running" if refused else "running")]


def test_disk_needs_no_globs_for_etcd_and_still_refuses_systems_that_cannot_name_their_files() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    test = build_test(RunOptions(system="etcd", workload="register", nemeses=("disk",)), Registry())
    try:
        assert isinstance(test.db, HasDataFiles) and test.nemesis is not None
    finally:
        test.ledger.close()
    with pytest.raises(MissingAbility, match="postgres is not HasDataFiles.*disk-files=GLOB"):
        build_test(RunOptions(system="postgres", workload="bank", nemeses=("disk",)), Registry())


def test_harness_run_register_under_disk_faults_ends_with_a_verdict() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    # not pytest's tmp_path: concurrent pytest sessions on this machine prune each other's base temp dirs
    with tempfile.TemporaryDirectory(prefix="disk-etcd-run-") as d:
        p = harness_run(d, "--system", "etcd", "--workload", "register", "--nemesis", "disk", "--cluster", "local",
                        "--time-limit", "8", "--nemesis-interval", "2", "--seed", "1", timeout=120).process
        out = p.stdout[-3000:] + p.stderr[-3000:]
        assert "Traceback" not in out, out
        run = only_run(d)
        results = results_of(run)
        history = history_of(run)
        report = (run / "report.html").read_text()
    assert results["valid"] in (True, False, "unknown"), results
    assert results["errors"] == [], results
    assert p.returncode == {True: 0, False: 1, "unknown": 2}.get(results["valid"], p.returncode), out
    disk = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    assert all("error" not in o for o in disk), [o for o in disk if "error" in o]
    corrupted = [c for o in disk if o["f"] == "corrupt-file" for c in o["value"]["changes"]]
    assert corrupted, disk  # the first corruption comes at 1-2 s
    assert all("/data/member/wal/" in c["file"] or "/data/member/snap/" in c["file"] for c in corrupted), corrupted
    assert sum(1 for o in history if o["process"] != "nemesis" and o["type"] == "ok") > 10
    # each corruption is evidenced (checksums of the written data differ) and opens a window the report shows
    starts = [o for o in disk if o["f"] == "corrupt-file"]
    assert all(p["effect"] for o in starts for p in o["value"]["evidence"]["probes"]), starts
    windows = results["coverage"]["windows"]
    assert [w["package"] for w in windows] == ["disk"] * len(starts) and all(w["healed"] for w in windows)
    assert results["coverage"]["untested"] == [], windows
    assert report.count('class="evidence-row" data-state="in-effect"') == len(starts) and "corrupt-file" in report
