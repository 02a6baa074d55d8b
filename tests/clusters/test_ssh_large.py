"""Larger ssh clusters on real sshd hosts (clusters.ssh.sandbox) and real etcd: five hosts, one of them
unreachable, is a one-line refusal before anything starts; five hosts run etcd under a majorities-ring partition
and kills; nine hosts do the same behind the `long` marker (bench/ssh_cluster.py measures their setup time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.ssh.sandbox import SSHSandbox
from harness.ledger import Ledger

from tests.real_cluster import new_run_id, require, residue

pytestmark = [pytest.mark.cluster]


def start_hosts(d: Path, n: int) -> tuple[SSHSandbox, Ledger, str]:
    require("ssh")
    run_id = new_run_id("big")
    ledger = Ledger(run_id, directory=str(d / "ledger"))
    sb = SSHSandbox(run_id=run_id, directory=str(d), ledger=ledger,
                    node_names=tuple(f"n{i}" for i in range(1, n + 1))).start()
    return sb, ledger, run_id


@pytest.fixture(scope="module")
def five(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHSandbox]:
    sb, ledger, run_id = start_hosts(tmp_path_factory.mktemp("ssh5"), 5)
    try:
        yield sb
    finally:
        sb.stop()
        assert not ledger.outstanding()
        assert not residue([run_id]), residue([run_id])


def etcd_over_ssh(sb: SSHSandbox, nodes_file: str, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "run", "--system", "etcd", "--workload", "register", "--cluster", "ssh",
         "--nodes-file", nodes_file, "--cluster-opt", f"key={sb.key}", "--cluster-opt", "known_hosts=ignore",
         "--cluster-opt", f"workdir={tmp / 'work'}", "--results", str(tmp / "results"), *extra],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HARNESS_STATE_DIR": str(tmp / "state")})


def test_one_unreachable_host_of_five_is_refused_in_one_line_before_anything_starts(
        five: SSHSandbox, tmp_path: Path) -> None:
    lines = Path(five.nodes_file).read_text().splitlines()
    name, ip = lines[2].split()
    bad = tmp_path / "hosts.txt"
    bad.write_text("\n".join([*lines[:2], f"{name} {ip}:2999", *lines[3:]]) + "\n")  # no sshd on port 2999
    p = etcd_over_ssh(five, str(bad), tmp_path, "--nemesis", "partition,kill", "--time-limit", "5")
    assert p.returncode == 254, p.stderr
    err = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(err) == 1 and "1 of 5 ssh hosts unreachable" in err[0] and f"{name}:" in err[0], p.stderr
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").iterdir())  # no workdir on any host
    assert not list((tmp_path / "state").glob("ledger/*.jsonl"))  # nothing to undo: nothing was made


def check_valid_run(p: subprocess.CompletedProcess[str], n: int) -> dict[str, object]:
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    run_dir = Path(p.stdout.strip().splitlines()[-1].split("\t")[0])
    res = json.loads((run_dir / "results.json").read_text())
    assert res["valid"] is True
    test = json.loads((run_dir / "test.json").read_text())
    assert len(test["nodes"]) == n
    faults = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines()
              if '"process":"nemesis"' in x or '"process": "nemesis"' in x]
    started = {f["f"] for f in faults if f["type"] == "info" and (f["value"] or {}).get("nodes", True)}
    assert "start-partition" in started and "kill" in started, started
    return res


def test_five_hosts_run_etcd_under_majorities_ring_and_kill(five: SSHSandbox, tmp_path: Path) -> None:
    p = etcd_over_ssh(five, five.nodes_file, tmp_path, "--nemesis", "kill,partition", "--nemesis-opt",
                      "partition-grudge=majorities-ring", "--time-limit", "12", "--nemesis-interval", "2",
                      "--seed", "5")
    check_valid_run(p, 5)


@pytest.mark.long
def test_nine_hosts_run_etcd_under_majorities_ring_and_kill(tmp_path: Path) -> None:
    sb, ledger, run_id = start_hosts(tmp_path / "ssh9", 9)
    try:
        p = etcd_over_ssh(sb, sb.nodes_file, tmp_path, "--nemesis", "kill,partition", "--nemesis-opt",
                          "partition-grudge=majorities-ring", "--time-limit", "30", "--seed", "9")
    finally:
        sb.stop()
    check_valid_run(p, 9)
    assert not ledger.outstanding() and not residue([run_id])
