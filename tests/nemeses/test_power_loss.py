"""The power-loss nemesis on real systems (local namespaces): what a system does not fsync is lost, and the
harness sees it.

- Postgres (one node, set workload) with synchronous_commit=off acknowledges commits before their WAL is on
  disk: a power loss makes acknowledged adds vanish, and the run is invalid with the lost adds listed and the
  failure class named. With the default settings the same schedule is valid.
- etcd (three nodes) fsyncs its WAL: power lost on every node at once, it stays valid.
- A harness killed with SIGKILL while the lazy filesystem is mounted: `harness cleanup` unmounts it and puts
  the data directory back, usable.
Each power-off records, per node, what the filesystem dropped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lazyfs.test_lazyfs_model import _skip_reason as fuse_skip
from tests.real_cluster import skip_reason
from tests.rundirs import harness_run, history_of, only_run, results_of

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def _require(provider: str = "local") -> None:
    reason = skip_reason(provider) or fuse_skip()
    if reason:
        pytest.skip(reason)


def _run(root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], list[dict[str, Any]]]:
    p = harness_run(root, "--nemesis", "power-loss", "--nemesis-opt", "power-loss-targets=all", "--time-limit", "16",
                    "--seed", "3", *args).process
    # the run's own results.json: not through latest/, nor an invalid run's bundle/ copy under latest/
    run = only_run(root)
    return p, results_of(run), history_of(run)


def _findings(v: dict[str, Any]) -> list[dict[str, Any]]:
    return [*v.get("findings", []), *(f for c in v.get("children", []) for f in _findings(c))]


def _power_offs(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    offs = [o for o in history if o["process"] == "nemesis" and o["f"] == "power-off" and o["type"] == "info"]
    assert offs and all("error" not in o for o in offs), offs
    for o in offs:  # evidence: the system's process gone, and the filesystem's account of what it dropped
        probes = o["value"]["evidence"]["probes"]
        assert {p["what"] for p in probes} == {"process", "un-fsynced data dropped"}, probes
        assert all(p["effect"] is True for p in probes), probes
    return offs


@pytest.mark.parametrize("weak", [True, False], ids=["synchronous_commit=off", "default"])
def test_postgres_loses_acknowledged_writes_only_when_it_does_not_wait_for_fsync(weak: bool) -> None:
    _require()
    with tempfile.TemporaryDirectory(prefix="power-loss-pg-") as d:
        extra = ["--system-opt", "conf.synchronous_commit=off"] if weak else []
        p, results, history = _run(Path(d), "--system", "postgres", "--workload", "set", "--nodes", "1", *extra)
    offs = _power_offs(history)
    assert any(o["value"]["dropped"]["n1"]["bytes"] > 0 for o in offs), "no power loss dropped anything"
    lost = [f for f in _findings(results["verdict"]) if f["kind"] == "lost"]
    if weak:
        assert p.returncode == 1 and results["valid"] is False, p.stderr[-2000:]
        assert lost and all(f["failure_class"] == "lost acknowledged write (data loss after durable ack)"
                            for f in lost), lost
        assert all("was ok" in f["diagnosis"] for f in lost)
    else:
        assert p.returncode == 0 and results["valid"] is True, p.stderr[-2000:]
        assert not lost
    assert results["coverage"]["untested"] == []


def test_etcd_survives_power_loss_on_every_node() -> None:
    _require()
    with tempfile.TemporaryDirectory(prefix="power-loss-etcd-") as d:
        p, results, history = _run(Path(d), "--system", "etcd", "--workload", "set")
    assert p.returncode == 0 and results["valid"] is True, p.stderr[-2000:]
    offs = _power_offs(history)
    assert all(sorted(o["value"]["dropped"]) == ["n1", "n2", "n3"] for o in offs), offs
    assert results["coverage"]["untested"] == [] and len(results["coverage"]["windows"]) == 2
    assert "lazyfs" not in Path("/proc/mounts").read_text()


def test_cleanup_after_sigkill_unmounts_and_restores_the_data_directory() -> None:
    _require()
    with tempfile.TemporaryDirectory(prefix="power-loss-kill9-") as d:
        root = Path(d)
        env = {**os.environ, "HARNESS_STATE_DIR": str(root / "state")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--system", "etcd", "--workload", "set", "--nodes", "1",
             "--nemesis", "power-loss", "--time-limit", "60", "--results", str(root / "results")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        data_dir = ""
        try:
            deadline = time.monotonic() + 90
            while not data_dir:
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended or never mounted"
                time.sleep(0.3)
                mounts = [x.split()[1] for x in Path("/proc/mounts").read_text().splitlines()
                          if x.startswith("lazyfs ") and str(root / "state") in x]
                data_dir = mounts[0] if mounts else ""
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        c = subprocess.run([sys.executable, "-m", "harness", "cleanup"], env=env, capture_output=True, text=True,
                           timeout=120, check=False)
        assert c.returncode == 0 and "removed lazyfs-mount" in c.stderr, c.stderr
        assert data_dir not in Path("/proc/mounts").read_text()
        assert not list((root / "state" / "ledger").glob("*.jsonl"))


def test_etcd_power_loss_in_containers() -> None:
    """Containers get /dev/fuse and SYS_ADMIN for the run (and only then); the image's Debian python3-fusepy
    runs the filesystem."""
    _require("docker")
    with tempfile.TemporaryDirectory(prefix="power-loss-docker-") as d:
        p, results, history = _run(Path(d), "--system", "etcd", "--workload", "set", "--cluster", "docker")
    assert p.returncode == 0 and results["valid"] is True, p.stderr[-2000:]
    assert all(sorted(o["value"]["dropped"]) == ["n1", "n2", "n3"] for o in _power_offs(history))


def test_power_loss_over_ssh_runs_where_the_host_has_fuse_and_is_refused_where_not(tmp_path: Path) -> None:
    """SSH hosts must bring /dev/fuse and a FUSE binding for their python3. The sandbox hosts share this machine's
    files: whether their python3 has a binding depends on the machine, and is asked the same way the harness
    asks. With one, power is lost and the run is valid; without, one line and 254 before any fault."""
    from clusters.lazyfs import _BINDING
    from clusters.ssh.remote import SSHParams, SSHRemote
    from clusters.ssh.sandbox import SSHSandbox
    from harness.ledger import Ledger
    from tests.real_cluster import new_run_id, require

    _require()
    require("ssh")
    run_id = new_run_id("pl")
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    sb = SSHSandbox(run_id=run_id, directory=str(tmp_path / "ssh"), ledger=ledger, node_names=("n1",)).start()
    try:
        assert sb.hosts is not None
        probe = SSHRemote("n1", SSHParams(host=sb.hosts.nodes[0].host, key_file=sb.key, known_hosts="ignore"))
        has_binding = probe.run(["python3", "-c", _BINDING], check=False).ok
        probe.close()
        p = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--system", "etcd", "--workload", "set", "--cluster", "ssh",
             "--nodes-file", sb.nodes_file, "--cluster-opt", f"key={sb.key}", "--cluster-opt",
             f"known_hosts_file={tmp_path / 'ssh' / 'known_hosts'}", "--nemesis", "power-loss", "--time-limit", "8",
             "--results", str(tmp_path / "results")], capture_output=True, text=True, timeout=300, check=False)
    finally:
        sb.stop()
        ledger.close()
    if has_binding:
        assert p.returncode == 0, p.stderr[-2000:]
        history = only_run(tmp_path / "results") / "history.jsonl"
        assert _power_offs([json.loads(x) for x in history.read_text().splitlines()])
    else:
        assert p.returncode == 254, p.stderr[-2000:]
        last = p.stderr.strip().splitlines()[-1]
        assert "power loss needs a FUSE binding for python3 on n1" in last and "Traceback" not in p.stderr


@pytest.mark.parametrize("weak", [True, False], ids=["synchronous_commit=off", "default"])
def test_system_option_lazyfs_makes_every_kill_a_power_cut(weak: bool) -> None:
    """`--system-opt lazyfs=true` without the power-loss nemesis: the kill nemesis then loses what was not fsynced."""
    _require()
    with tempfile.TemporaryDirectory(prefix="lazyfs-opt-") as d:
        root = Path(d)
        extra = ["--system-opt", "conf.synchronous_commit=off"] if weak else []
        p = harness_run(root, "--system", "postgres", "--workload", "set", "--nodes", "1", "--nemesis", "kill",
                        "--system-opt", "lazyfs=true", *extra, "--time-limit", "16", "--seed", "3").process
        results = results_of(only_run(root))
    kills = [w for w in results["coverage"]["windows"] if w["package"] == "kill"]
    assert kills and results["coverage"]["untested"] == [], results["coverage"]
    lost = [f for f in _findings(results["verdict"]) if f["kind"] == "lost"]
    if weak:
        assert p.returncode == 1 and lost, p.stderr[-2000:]
    else:
        assert p.returncode == 0 and not lost, p.stderr[-2000:]
    assert "lazyfs" not in Path("/proc/mounts").read_text()


def test_system_option_lazyfs_and_the_power_loss_nemesis_are_one_or_the_other() -> None:
    _require()
    with tempfile.TemporaryDirectory(prefix="lazyfs-both-") as d:
        p = harness_run(d, "--system", "etcd", "--workload", "set", "--nodes", "1", "--nemesis", "power-loss",
                        "--system-opt", "lazyfs=true", "--time-limit", "5", timeout=120).process
    assert p.returncode == 254 and "use one or the other" in p.stderr, p.stderr[-1000:]
    assert "Traceback" not in p.stderr and "lazyfs" not in Path("/proc/mounts").read_text()
