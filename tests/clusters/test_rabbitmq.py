"""RabbitMQ through `harness run`: the queue workload on a 3-node quorum-queue cluster under partitions and kills
(valid; client ops completed in every fault window; the faults took effect; nothing left behind), bad options
(254 in one line, before any node starts), and, marked `long`, the pinned-seed demonstration of issue 20 (a
classic mirrored queue under partitions of its master duplicates confirmed messages with partition_handling=
ignore and loses them with autoheal; a quorum queue under the same schedules does not), a docker run (its node image takes
minutes to build on a clean machine) and `harness cleanup` after a SIGKILLed run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests import rundirs
from tests.real_cluster import residue
from tests.real_cluster import skip_reason as provider_skip
from tests.rundirs import history_of, results_of, say

WORKLOADS = ("queue",)
PRIMARIES = ("--nemesis", "partition", "--nemesis-opt", "partition-grudge=primaries")
MIRRORED_LOSS_SEED = 18  # see test_mirrored_queue_loses_confirmed_messages_where_quorum_keeps_them


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "rabbitmq on local namespaces needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    if not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        return "needs rabbitmq-server (apt-get install rabbitmq-server)"
    return None


pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _needs_rabbitmq() -> None:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)


def harness_run(tmp_path: Path, *args: str, cluster: str = "local",
                timeout: float = 600) -> tuple[subprocess.CompletedProcess[str], Path]:
    r = rundirs.harness_run(tmp_path, "--system", "rabbitmq", "--cluster", cluster, "--workload", "queue", *args,
                            timeout=timeout)
    return r.process, r.dir


def left_behind(run_id: str) -> list[str]:
    """What of the run is still on the machine: `residue`, plus any process whose working directory is in one of
    the run's workdirs (epmd's command line names no run)."""
    found = residue([run_id])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"/{run_id}/" in cwd + "/" and not any(x.startswith(f"process {pid}:") for x in found):
            found.append(f"process {pid}: {cmd[:120]} (in {cwd})")
    return found


def checker(verdict: dict[str, Any], name: str) -> dict[str, Any] | None:
    if verdict.get("checker") == name:
        return verdict
    for child in verdict.get("children") or []:
        found = checker(child, name)
        if found is not None:
            return found
    return None


def drains(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in history if o["f"] == "drain" and o["type"] == "ok"]


def test_quorum_queue_under_partition_and_kill_is_valid(tmp_path: Path) -> None:
    """12 s of enqueues and dequeues on a 3-node quorum queue while partitions and kill -9 come and go: every
    confirmed message comes out exactly once; every fault window saw completed client ops (a verdict of valid
    requires it) and each fault was measured in effect on its node."""
    p, run_dir = harness_run(tmp_path, "--time-limit", "12", "--seed", "7", "--nemesis", "partition,kill",
                             "--nemesis-interval", "3", "--op-timeout", "3")
    assert p.returncode == 0, say(p)
    results = results_of(run_dir)
    assert results["valid"] is True
    queue = checker(results["verdict"], "total-queue")
    assert queue is not None and queue["valid"] is True, results["verdict"]
    history = history_of(run_dir)
    acked = [o for o in history if o["f"] == "enqueue" and o["type"] == "ok"]
    assert len(acked) >= 100, f"only {len(acked)} confirmed enqueues"
    assert {o["node"] for o in drains(history)} == {"n1", "n2", "n3"}, "every node drained the queue after the heal"
    assert sum(len(o["value"]) for o in drains(history)) > 0, "the drains found nothing: the queue was never full"
    windows = results["coverage"]["windows"]
    assert {w["package"] for w in windows} == {"partition", "kill"}, windows
    assert all(w["completed"] >= results["coverage"]["min_ops"] for w in windows), windows
    evidence = results["evidence"]
    assert {e["package"] for e in evidence} == {"partition", "kill"}, evidence
    assert all(e["state"] == "in effect" for e in evidence), evidence
    assert any(o["type"] in ("fail", "info") for o in history if isinstance(o["process"], int)), \
        "the faults changed nothing the clients saw"
    assert not left_behind(results["run"]["run_id"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--system-opt", "queue=lazy"), "queue"),
        (("--system-opt", "partition_handling=pause_all"), "partition_handling"),
        (("--system-opt", "no_such_option=1"), "no_such_option"),
        (("--system-opt", "conf.no_such.key=1"), "has no configuration key 'no_such.key'"),
    ],
)
def test_bad_options_are_one_line_and_254_before_any_node_starts(tmp_path: Path, args: tuple[str, ...],
                                                                 message: str) -> None:
    p, run_dir = harness_run(tmp_path, "--time-limit", "5", *args)
    assert p.returncode == 254, say(p)
    assert message in p.stderr and "Traceback" not in p.stderr + p.stdout, say(p)
    assert not list(run_dir.glob("**/nodes/*/rabbitmq.log")), "a broker started"
    if (run_dir / "results.json").exists():
        assert not left_behind(results_of(run_dir)["run"]["run_id"])


def queue_details(results: dict[str, Any]) -> dict[str, Any]:
    queue = checker(results["verdict"], "total-queue")
    assert queue is not None, results["verdict"]
    return dict(queue.get("details") or {})


@pytest.mark.long
@pytest.mark.parametrize("handling", ["ignore", "autoheal"])
def test_mirrored_queue_loses_confirmed_messages_where_quorum_keeps_them(tmp_path: Path, handling: str) -> None:
    """Issue 20's must-show, on a pinned seed: 60 s, partitions that cut the queue's master (leader) off from the
    other nodes. A classic queue mirrored to every node keeps a master on each side of the partition. With
    partition_handling=ignore both serve the same backlog: confirmed messages delivered twice (three of three runs).
    With autoheal the losing side restarts at the heal and its confirmed messages are thrown away: lost (56, 64
    and 467 in three of four runs; in the fourth the queue stayed unavailable after the heal, no drain succeeded, and
    only duplicates could be judged). A quorum queue under the same schedule and the same partition handling:
    valid."""
    common = ("--time-limit", "60", "--seed", str(MIRRORED_LOSS_SEED), *PRIMARIES, "--system-opt",
              f"partition_handling={handling}")
    p, run_dir = harness_run(tmp_path / "mirrored", *common, "--system-opt", "queue=classic-mirrored")
    assert p.returncode == 1, say(p)
    mirrored = results_of(run_dir)
    details = queue_details(mirrored)
    assert details["lost_count"] + details["duplicated_count"] > 0, mirrored["verdict"]
    assert not left_behind(mirrored["run"]["run_id"])
    p, run_dir = harness_run(tmp_path / "quorum", *common, "--system-opt", "queue=quorum")
    assert p.returncode == 0, say(p)
    quorum = results_of(run_dir)
    details = queue_details(quorum)
    assert quorum["valid"] is True and details["lost_count"] == 0 and details["duplicated_count"] == 0
    assert not left_behind(quorum["run"]["run_id"])


@pytest.mark.long  # the node image takes minutes to build on a clean machine
def test_docker_run_under_kill_is_valid(tmp_path: Path) -> None:
    reason = provider_skip("docker", "rabbitmq")
    if reason:
        pytest.skip(reason)
    p, run_dir = harness_run(tmp_path, "--time-limit", "10", "--seed", "3", "--nemesis", "kill",
                             "--nemesis-interval", "3", "--op-timeout", "3", cluster="docker", timeout=1800)
    assert p.returncode == 0, say(p)
    results = results_of(run_dir)
    history = history_of(run_dir)
    assert {o["node"] for o in drains(history)} == {"n1", "n2", "n3"}
    assert all(e["state"] == "in effect" for e in results["evidence"]), results["evidence"]
    assert not left_behind(results["run"]["run_id"])


@pytest.mark.long
def test_cleanup_after_sigkill_stops_every_broker_and_epmd() -> None:
    """A run killed with SIGKILL while the workload runs leaves a broker VM and an epmd on each of 3 nodes;
    `harness cleanup` kills them from the ledger and leaves nothing of the run on the machine."""
    with tempfile.TemporaryDirectory(prefix="rabbitmq-kill9-") as d:
        root = Path(d)
        killed = rundirs.sigkilled_run(root, "--system", "rabbitmq", "--cluster", "local", "--workload", "queue",
                                       "--time-limit", "60", within=180)
        run_id = killed.run_id
        before = left_behind(run_id)
        c = rundirs.harness_cleanup(killed.env)
        assert sum("beam.smp" in x for x in before) == 3 and sum("epmd" in x for x in before) == 3, before
        assert c.returncode == 0, c.stderr
        left = left_behind(run_id)
        assert not left, f"left behind: {left}"
