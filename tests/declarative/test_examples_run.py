"""The example system files, run whole with `harness run --system-file` on a real local cluster: etcd's HTTP
keys API under partition + kill ends valid, and invalid once its reads are served by the local member; Redis
under kill -9 ends valid with an fsynced append-only file, and invalid when it keeps data in memory only;
Postgres and MariaDB over the SQL protocols and etcd over the `etcd` protocol end valid under their faults, with
refused ops recorded as refusals. Each run checks that nothing of it is left on the machine."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.real_cluster import residue
from tests.rundirs import harness_run, history_of, results_of, run_dirs

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "systems"


def _skip(binary: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("local clusters need root (network namespaces, iptables)")
    for tool in ("ip", "iptables", binary):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool} on the host")


def _skip_without(what: str) -> None:
    """Skip unless docker (`tests.real_cluster.skip_reason`) or FUSE for lazyfs can be used here."""
    from tests.lazyfs.test_lazyfs_model import _skip_reason as fuse_skip
    from tests.real_cluster import skip_reason

    reason = fuse_skip() if what == "fuse" else skip_reason(what)
    if reason:
        pytest.skip(reason)


def _run(args: list[str], cluster: str = "local", time_limit: int = 15) -> tuple[int, dict, list[dict], str]:  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory(prefix="declarative-e2e-") as d:
        p = harness_run(d, "--cluster", cluster, "--time-limit", str(time_limit), "--seed", "5", *args,
                        timeout=280).process
        runs = run_dirs(d)  # not latest/, nor an invalid run's minimal/
        assert len(runs) == 1, (runs, p.stdout[-2000:] + p.stderr[-3000:])
        results = results_of(runs[0])
        history = history_of(runs[0])
        test = json.loads((runs[0] / "test.json").read_text())
        left = residue([test["run_id"]])
        assert not left, f"left behind: {left}"
        return p.returncode, results, history, p.stderr


def _valid(args: list[str], *, acted: set[str] | None = None, cluster: str = "local",
           time_limit: int = 15) -> list[dict]:  # type: ignore[type-arg]
    """A run that must end valid (exit 0); with `acted`, those faults must have acted (`_faults_acted`). Its
    history."""
    code, results, history, err = _run(args, cluster=cluster, time_limit=time_limit)
    assert code == 0 and results["valid"] is True, err[-3000:]
    if acted is not None:
        _faults_acted(history, acted)
    return history


def _invalid(args: list[str], *, time_limit: int = 15) -> str:
    """A run that must end invalid (exit 1, results invalid). Its stderr."""
    code, results, _history, err = _run(args, time_limit=time_limit)
    assert code == 1 and results["valid"] is False, err[-3000:]
    return err


def _faults_acted(history: list[dict], fs: set[str]) -> None:  # type: ignore[type-arg]
    nemesis = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    assert fs <= {o["f"] for o in nemesis}, {o["f"] for o in nemesis}
    kills = [o for o in nemesis if o["f"] == "kill"]
    assert any(o["value"]["nodes"] for o in kills), kills


def test_etcd_http_partition_kill_valid_then_stale_reads_invalid() -> None:
    _skip("etcd")
    file = str(EXAMPLES / "etcd-http.yaml")
    history = _valid(["--system-file", file, "--nemesis", "partition,kill", "--concurrency", "10",
                      "--op-timeout", "2"],  # (why: see the docker test below)
                     acted={"start-partition", "kill", "start"})
    assert sum(1 for o in history if o["process"] != "nemesis" and o["type"] == "ok" and o["f"] == "cas") > 5
    # stale reads need clients reading on the cut-off member a key the majority wrote: every partition cuts off
    # one member (other grudges may leave no member both cut off and serving clients), a short op timeout frees
    # its workers from hung writes, more workers and fewer keys make such a read likely (the run once ended valid
    # under load with every grudge kind drawn)
    err = _invalid(["--system-file", file, "--system-opt", "conf.quorum=false", "--nemesis", "partition",
                    "--nemesis-opt", "partition-grudge=one", "--op-timeout", "1", "--concurrency", "10",
                    "--workload-opt", "keys=2"])
    assert "not linearizable" in err


def test_redis_kill_valid_with_fsync_invalid_in_memory() -> None:
    _skip("redis-server")
    file = str(EXAMPLES / "redis.yaml")
    one = ["--nodes", "1", "--nemesis", "kill", "--nemesis-opt", "kill-targets=one"]  # "minority" of 1 is none
    # the valid run is of the set workload (SADD / SMEMBERS in the file): its final read holds every element
    history = _valid(["--system-file", file, *one, "--workload", "set"], acted={"kill", "start"})
    reads = _ops(history, "read", "ok")
    assert reads and len(reads[-1]["value"]) >= len(_ops(history, "add", "ok")) > 20
    assert all(isinstance(e, int) for e in reads[-1]["value"])
    _invalid(["--system-file", file, *one, "--system-opt", "conf.appendonly=no"])


@pytest.mark.long  # 4 of 6 valid, 2 unknown (a 0.3 s kill window that acted on nothing), seen before the kill/pause
# target fixes and partition's all-nodes-at-once landed (d9b03de, 3e7585a, 0dfced5); not reproduced since: 10 of 10 runs (seeds 1-10)
# were valid on a loaded machine, each fault window with 118-298 completed client ops (10 needed). Kept long: CI
# runs the docker provider with a system file once, in test_etcd_protocol_set_on_docker_under_partition_kill.
def test_etcd_http_on_docker_borrows_the_etcd_image_and_ends_valid() -> None:
    _skip_without("docker")
    file = str(EXAMPLES / "etcd-http.yaml")
    # writes to a cut-off member hang until the op timeout: with 5 workers and 5 s, a 3 s window on loaded docker
    # nodes could see every worker waiting (the window untested, the verdict unknown); more workers, shorter waits
    _valid(["--system-file", file, "--nemesis", "partition,kill", "--concurrency", "10", "--op-timeout", "2",
            "--nemesis-opt", "kill-targets=one"], cluster="docker", acted={"start-partition", "kill", "start"})


def test_redis_power_loss_valid_with_fsync_always_invalid_with_os_flushes() -> None:
    _skip("redis-server")
    _skip_without("fuse")
    file = str(EXAMPLES / "redis.yaml")
    pl = ["--nodes", "1", "--nemesis", "power-loss"]
    history = _valid(["--system-file", file, *pl])
    assert any(o["f"] == "power-off" and o["type"] == "info" for o in history)
    _invalid(["--system-file", file, *pl, "--system-opt", "conf.appendfsync=no"])


def _ops(history: list[dict], f: str, kind: str) -> list[dict]:  # type: ignore[type-arg]
    return [o for o in history if o["process"] != "nemesis" and o["f"] == f and o["type"] == kind]


def test_postgres_sql_cas_under_kill_is_valid_with_refusals() -> None:
    _skip("/usr/lib/postgresql/15/bin/postgres")
    file = str(EXAMPLES / "postgres.yaml")
    history = _valid(["--system-file", file, "--nodes", "1", "--nemesis", "kill", "--nemesis-opt", "kill-targets=one"],
                     time_limit=10, acted={"kill", "start"})
    assert len(_ops(history, "cas", "ok")) > 5 and len(_ops(history, "read", "ok")) > 5
    # a cas whose old value did not match touched no row: rolled back and recorded as the server's refusal
    assert any((o.get("error") or "").startswith("refused: cas: no row") for o in _ops(history, "cas", "fail"))
    assert any(o["value"]["~tuple"][1] is not None for o in _ops(history, "read", "ok"))  # the table's value


def test_mysql_sql_list_append_under_kill_is_valid() -> None:
    _skip("mariadbd")
    file = str(EXAMPLES / "mysql.yaml")
    history = _valid(["--system-file", file, "--workload", "list-append", "--nodes", "1", "--nemesis", "kill",
                      "--nemesis-opt", "kill-targets=one"], time_limit=10, acted={"kill", "start"})
    reads = [m for o in _ops(history, "txn", "ok") for m in o["value"] if m[0] == "r"]
    assert any(len(m[2]) > 1 for m in reads), "no read saw a list of several appends"


def test_etcd_protocol_set_on_docker_under_partition_kill_is_valid() -> None:
    """Also the docker provider building nothing for a file: the nodes borrow the etcd plugin's image."""
    _skip_without("docker")
    file = str(EXAMPLES / "etcd.yaml")
    history = _valid(["--system-file", file, "--workload", "set", "--nemesis", "partition,kill", "--concurrency", "10",
                      "--op-timeout", "2", "--nemesis-opt", "kill-targets=one"], cluster="docker", time_limit=10,
                     acted={"start-partition", "kill", "start"})
    assert len(_ops(history, "add", "ok")) > 20 and _ops(history, "read", "ok")


def test_etcd_membership_through_the_files_commands_is_valid() -> None:
    """nodes.membership: the membership nemesis removes a member and adds it back by the file's etcdctl lines."""
    _skip("etcdctl")
    file = str(EXAMPLES / "etcd.yaml")
    history = _valid(["--system-file", file, "--nemesis", "membership", "--concurrency", "10", "--op-timeout", "2"],
                     time_limit=10)
    nemesis = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    removed = [o for o in nemesis if o["f"] == "remove-member" and o["value"]["removed"]]
    assert removed, nemesis
    probes = removed[0]["value"]["evidence"]["probes"]
    assert probes[0]["effect"] is True and probes[0]["observed"].startswith("not a member"), probes
    gone = removed[0]["value"]["removed"][0]
    added = [o for o in nemesis if o["f"] == "add-member" and gone in o["value"]["added"] and not o.get("error")]
    assert added, nemesis  # it came back (as a new member, by membership.start)
    assert len(_ops(history, "write", "ok")) > 20


@pytest.mark.long  # the first run builds the node image from examples/systems/postgres.Dockerfile (apt: minutes)
def test_postgres_on_docker_from_the_files_own_dockerfile() -> None:
    _skip_without("docker")
    file = str(EXAMPLES / "postgres.yaml")
    history = _valid(["--system-file", file, "--nodes", "1", "--nemesis", "kill", "--nemesis-opt", "kill-targets=one"],
                     cluster="docker", time_limit=10, acted={"kill", "start"})
    assert len(_ops(history, "cas", "ok")) > 5


@pytest.mark.long  # two power-loss runs (~1.5 min); CI covers the SQL protocols under kill
def test_mysql_power_loss_valid_with_flush_at_commit_invalid_with_flush_each_second() -> None:
    _skip("mariadbd")
    _skip_without("fuse")
    file = str(EXAMPLES / "mysql.yaml")
    pl = ["--system-file", file, "--nodes", "1", "--nemesis", "power-loss", "--workload", "set", "--seed", "3"]
    _valid(pl, time_limit=10)
    err = _invalid([*pl, "--system-opt", "conf.flush=0"], time_limit=10)
    assert "lost acknowledged write" in err
