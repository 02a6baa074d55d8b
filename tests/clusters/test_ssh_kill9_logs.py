"""After a kill -9 of a run on ssh hosts, `harness cleanup` copies each node's logs into the run directory (over
ssh, from the locators the run left in its ledger) before it deletes the workdirs: the runs whose logs matter
most are the ones that ended this way. Real sshd hosts (clusters.ssh.sandbox), real etcd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.real_cluster import new_run_id, require

pytestmark = [pytest.mark.cluster]


def _ok_ops(results: Path) -> int:
    n = 0
    for h in results.glob("*/*/history.jsonl"):
        n += sum(1 for line in h.read_text().splitlines() if '"type":"ok"' in line)
    return n


def test_cleanup_after_sigkill_rescues_ssh_node_logs(tmp_path: Path) -> None:
    from clusters.ssh.sandbox import SSHSandbox
    from harness.ledger import Ledger

    require("ssh")
    run_id = new_run_id("k9")
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    sb = SSHSandbox(run_id=run_id, directory=str(tmp_path / "ssh"), ledger=ledger, node_names=("n1",)).start()
    env = {**os.environ, "HARNESS_STATE_DIR": str(tmp_path / "state")}
    results = tmp_path / "results"
    try:
        assert sb.hosts is not None
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--system", "etcd", "--workload", "register", "--cluster",
             "ssh", "--nodes-file", sb.nodes_file, "--cluster-opt", f"key={sb.key}", "--cluster-opt",
             f"known_hosts_file={tmp_path / 'ssh' / 'known_hosts'}", "--time-limit", "60",
             "--results", str(results)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while _ok_ops(results) < 20:
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended or never served"
                time.sleep(0.3)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        c = subprocess.run([sys.executable, "-m", "harness", "cleanup"], env=env, capture_output=True, text=True,
                           timeout=120, check=False)
        assert c.returncode == 0 and "could not remove" not in c.stderr, c.stderr
        assert "removed ssh-node-logs" in c.stderr, c.stderr
    finally:
        sb.stop()
        ledger.close()
    [run_dir] = [d for d in results.glob("*/*") if d.is_dir() and not d.is_symlink() and not d.parent.is_symlink()]
    salvaged = run_dir / "nodes" / "n1"
    assert "etcd" in (salvaged / "etcd.log").read_text(), sorted(p.name for p in salvaged.iterdir())
    assert "harness cleanup" in (salvaged / "SALVAGED.txt").read_text()
    assert not list((tmp_path / "state" / "ledger").glob("*.jsonl")), "every entry undone"
    assert json.loads((run_dir / "test.json").read_text())["cluster"]
