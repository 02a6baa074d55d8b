"""Postgres under Patroni (etcd as the DCS) on the local provider, through `harness run` in a subprocess: a
workload on a healthy cluster, failover under a partition of the primary, kill and pause of the primary,
bad input refused before anything starts, and `harness cleanup` after a kill -9 of the harness (the postmaster
that Patroni leaves in its own session included).

Failover is shown, not assumed: a run under faults must have ops acknowledged by two different nodes (clients
follow whichever node takes writes, and each completion names the node that served it). Whether a failover
also lost acknowledged writes depends on timing (async replication); the demonstration that it does on a
pinned seed, and that sync-strict does not under the same schedule, is behind `@pytest.mark.long`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests import rundirs
from tests.real_cluster import residue
from tests.real_cluster import skip_reason as cluster_skip_reason
from tests.rundirs import ENV, results_of

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def skip_reason() -> str | None:
    reason = cluster_skip_reason("local", "postgres")
    if reason:
        return reason
    if shutil.which("patroni") is None:
        return "needs Patroni (apt-get install patroni)"
    if shutil.which("etcd") is None:
        return "needs etcd, Patroni's DCS (apt-get install etcd-server)"
    return None


@pytest.fixture(autouse=True)
def _needs_patroni() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


def docker_skip_reason() -> str | None:
    from clusters.docker.images import engine
    from harness.errors import BadInput

    try:
        engine()
    except BadInput as e:
        return f"docker engine not usable here: {e}"
    return None


def harness_run(tmp_path: Path, *args: str, timeout: float = 300, cluster: str = "local",
                ) -> tuple[subprocess.CompletedProcess[str], Path]:
    r = rundirs.harness_run(tmp_path, "--system", "patroni", "--cluster", cluster, *args, timeout=timeout)
    return r.process, r.dir


def serving_nodes(run_dir: Path) -> Counter[str]:
    """Client ops acknowledged (ok) per node that served them."""
    served: Counter[str] = Counter()
    with open(run_dir / "history.jsonl", encoding="utf-8") as fh:
        for line in fh:
            op = json.loads(line)
            if op["type"] == "ok" and isinstance(op["process"], int) and op["process"] >= 0 and op.get("node"):
                served[op["node"]] += 1
    return served


def leaders(run_dir: Path) -> set[str]:
    """Nodes that held Patroni's leader key during the run, from their collected logs: the one that initialized
    the cluster and every one that later took the key (Patroni logs each). Two or more: the leader changed."""
    found = set()
    for log in (run_dir / "nodes").glob("*/patroni.log"):
        text = log.read_text(errors="replace")
        if "initialized a new cluster" in text or "promoted self to leader by acquiring session lock" in text:
            found.add(log.parent.name)
    return found


def assert_clean(results: dict[str, Any]) -> None:
    left = residue([results["run"]["run_id"]])
    assert not left, f"left behind: {left}"


def test_list_append_on_a_healthy_cluster_is_valid_and_served_by_one_leader(tmp_path: Path) -> None:
    p, run_dir = harness_run(tmp_path, "--workload", "list-append", "--time-limit", "8", "--seed", "3")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = results_of(run_dir)
    assert res["verdict"]["valid"] is True
    served = serving_nodes(run_dir)
    assert sum(served.values()) > 50, served
    assert len(served) == 1, f"without faults one leader serves every op: {served}"
    assert len(leaders(run_dir)) == 1
    test_json = json.loads((run_dir / "test.json").read_text())
    assert "patroni" in json.dumps(test_json.get("versions", test_json)), "test.json names Patroni's version"
    logs = {p.name for p in (run_dir / "nodes").glob("*/*.log")}
    assert {"patroni.log", "etcd.log"} <= logs, logs
    assert_clean(res)


# the workloads the runs above and below do not already take through a whole run
OTHER_WORKLOADS = ("bank", "counter", "idempotent", "monotonic", "rw-register", "unique-ids")


@pytest.mark.parametrize("workload", OTHER_WORKLOADS)
def test_every_other_workload_is_valid_on_a_healthy_cluster(tmp_path: Path, workload: str) -> None:
    p, run_dir = harness_run(tmp_path, "--workload", workload, "--time-limit", "5", "--seed", "3")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = results_of(run_dir)
    assert res["verdict"]["valid"] is True
    assert sum(serving_nodes(run_dir).values()) > 20


# docker: the node image build alone takes minutes on CI's two cores; the docker provider's own tests run there
@pytest.mark.parametrize("cluster", ["local", pytest.param("docker", marks=pytest.mark.long)])
def test_partition_of_the_primary_fails_over(tmp_path: Path, cluster: str) -> None:
    """The primary cut off from the others for longer than Patroni's lease: another node takes the leader key
    and the clients follow it (acknowledged ops from two nodes). Async replication may lose writes the old
    primary acknowledged meanwhile: the verdict is then invalid with that diagnosis, never unknown. In docker
    the node image is clusters/patroni/Dockerfile."""
    reason = docker_skip_reason() if cluster == "docker" else None
    if reason:
        pytest.skip(reason)
    p, run_dir = harness_run(tmp_path, "--workload", "set", "--time-limit", "30", "--nemesis", "partition",
                             "--nemesis-opt", "partition-grudge=primaries", "--nemesis-interval", "12",
                             "--seed", "5", cluster=cluster, timeout=900)
    assert p.returncode in (0, 1), p.stdout[-2000:] + p.stderr[-2000:]
    res = results_of(run_dir)
    assert len(leaders(run_dir)) >= 2, f"no failover: the leader never changed\n{p.stdout[-1500:]}"
    served = serving_nodes(run_dir)
    assert len(served) >= 2, f"clients did not follow: every acknowledged op came from {dict(served)}"
    if res["verdict"]["valid"] is False:
        assert "data loss after durable ack" in json.dumps(res["verdict"]), p.stderr[-2000:]
    else:
        assert res["verdict"]["valid"] is True, res["verdict"]
    assert_clean(res)


@pytest.mark.parametrize("nemesis", ["kill", pytest.param("pause", marks=pytest.mark.long)])
def test_kill_and_pause_of_the_primary_fail_over(tmp_path: Path, nemesis: str) -> None:
    p, run_dir = harness_run(tmp_path, "--workload", "list-append", "--time-limit", "25", "--nemesis", nemesis,
                             "--nemesis-opt", f"{nemesis}-targets=primaries", "--nemesis-interval", "10",
                             "--seed", "2")
    assert p.returncode in (0, 1), p.stdout[-2000:] + p.stderr[-2000:]
    res = results_of(run_dir)
    assert len(leaders(run_dir)) >= 2, f"no failover: the leader never changed\n{p.stdout[-1500:]}"
    served = serving_nodes(run_dir)
    assert len(served) >= 2, f"clients did not follow: every acknowledged op came from {dict(served)}"
    assert res["verdict"]["valid"] in (True, False), res["verdict"]
    assert_clean(res)


@pytest.mark.parametrize(("opt", "says"), [
    ("conf.no_such_setting=1", "no setting 'no_such_setting'"),
    ("ttl=3", "loop_wait + 2 * retry_timeout <= ttl"),
    ("replication=sometimes", "bad value 'sometimes'"),
])
def test_bad_input_is_one_line_and_254(tmp_path: Path, opt: str, says: str) -> None:
    p, run_dir = harness_run(tmp_path, "--workload", "list-append", "--time-limit", "5", "--system-opt", opt,
                             timeout=120)
    assert p.returncode == 254, p.stdout[-2000:] + p.stderr[-2000:]
    assert says in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    if (run_dir / "results.json").exists():
        assert_clean(results_of(run_dir))


def test_cleanup_after_kill_9_removes_patroni_and_its_postmaster(tmp_path: Path) -> None:
    """kill -9 of the harness mid-run leaves Patroni, the postmaster it started in its own session, and etcd
    running; `harness cleanup` ends every one of them. The run keeps its ledger in a state directory of its
    own, so the cleanup touches no other run on this machine (outside pytest's directory, which is root's
    alone: the nodes' workdirs live under it, and Patroni runs as the postgres user)."""
    state = tempfile.mkdtemp(prefix="harness-patroni-state-")
    os.chmod(state, 0o755)
    env = {**ENV, "HARNESS_STATE_DIR": state}
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--system", "patroni", "--cluster", "local", "--workload",
         "list-append", "--time-limit", "60", "--results", str(tmp_path / "results")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    run_id = ""
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("harness: run ") and not run_id:
                run_id = line.split()[2].rstrip(",")
            if "phase 5" in line:
                break
            assert time.monotonic() < deadline, "the run did not reach its workload"
        assert run_id and "phase 5" in seen[-1], "".join(seen)
        postmasters = [x for x in residue([run_id]) if "bin/postgres" in x]
        assert postmasters, f"no postmaster of the run found: {residue([run_id])}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    c = subprocess.run([sys.executable, "-m", "harness", "cleanup"], capture_output=True, text=True, env=env,
                       timeout=180, check=False)
    assert c.returncode == 0, c.stdout + c.stderr
    left = residue([run_id])
    assert not left, f"left behind after cleanup: {left}"
    assert not os.listdir(os.path.join(state, "ledger")), "every ledger entry undone"
    shutil.rmtree(state)


# The schedule of the demonstration: the primary cut off from both other nodes for 15 s, twice as long as the
# lease, so that a standby is promoted while the old primary still takes writes from the clients.
PARTITION_PRIMARY = ("--workload", "set", "--time-limit", "60", "--nemesis", "partition", "--nemesis-opt",
                     "partition-grudge=primaries", "--nemesis-interval", "15", "--seed", "1")


@pytest.mark.long
def test_async_failover_loses_acknowledged_writes_on_a_pinned_seed(tmp_path: Path) -> None:
    p, run_dir = harness_run(tmp_path, *PARTITION_PRIMARY)
    assert p.returncode == 1, p.stdout[-2000:] + p.stderr[-2000:]
    res = results_of(run_dir)
    assert len(leaders(run_dir)) >= 2 and len(serving_nodes(run_dir)) >= 2
    set_verdict = next(c for c in res["verdict"]["children"] if c["checker"] == "set")
    assert set_verdict["details"]["lost_count"] > 0
    assert "data loss after durable ack" in json.dumps(res["verdict"])
    assert_clean(res)


@pytest.mark.long
def test_sync_strict_failover_under_the_same_schedule_loses_nothing(tmp_path: Path) -> None:
    """sync-strict under the demonstration's schedule: a failover, and every acknowledged add kept. (Plain
    `sync` is not claimed safe here: on Debian's Patroni 3.0.2 it lost acknowledged adds under this very
    schedule, through the leader-key overwrite described in docs/patroni.md.)"""
    p, run_dir = harness_run(tmp_path, *PARTITION_PRIMARY, "--system-opt", "replication=sync-strict")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    res = results_of(run_dir)
    # The leader changed; with sync-strict the new leader may acknowledge nothing until a standby follows it
    # (commits wait, and end as info), so the clients need not have seen it.
    assert len(leaders(run_dir)) >= 2, "no failover: the run tested nothing of interest"
    set_verdict = next(c for c in res["verdict"]["children"] if c["checker"] == "set")
    assert set_verdict["details"]["lost_count"] == 0
    assert_clean(res)
