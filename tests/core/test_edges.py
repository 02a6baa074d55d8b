"""Clear answers at the edges, through `harness run` and `harness cleanup` in a subprocess, each in a state
directory of its own: bad input is one line and exit 254 with nothing reserved (no ledger, no subnet
reservation), whatever was wrong (an unwritable results directory, a node name that is not a host name, a fault
interval too long for the time limit, a Postgres topology refused, an unreachable SSH host); `harness cleanup`
names the ledger directory it scanned and what it found, and removes subnet reservations of ended processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "CI": "true"}


def harness(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120,
                          env={**ENV, "HARNESS_STATE_DIR": str(state)}, check=False)


def reserved(state: Path) -> list[str]:
    """Ledgers and subnet reservations in a state directory (the reservation lock file is no reservation)."""
    return sorted(p.relative_to(state).as_posix() for p in state.rglob("*") if p.is_file() and p.name != ".lock")


def one_line_254(p: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert p.returncode == 254, (p.stdout, p.stderr)
    assert p.stderr.count("\n") == 1 and fragment in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert p.stdout == ""


def local_etcd_skip() -> str | None:
    if os.geteuid() != 0:
        return "the local provider needs root"
    if not (shutil.which("ip") and shutil.which("etcd")):
        return "needs iproute2 and etcd"
    return None


@pytest.mark.parametrize("system", ["memory", "etcd"])
def test_an_unwritable_results_directory_is_bad_input_with_nothing_reserved(system: str, tmp_path: Path) -> None:
    if system == "etcd" and local_etcd_skip():
        pytest.skip(local_etcd_skip() or "")
    cluster = "inprocess" if system == "memory" else "local"
    p = harness(tmp_path / "state", "run", "--system", system, "--cluster", cluster, "--results", "/proc/x")
    one_line_254(p, "--results /proc/x: cannot write run directories there")
    assert reserved(tmp_path / "state") == []


@pytest.mark.parametrize("nodes", ["-1", "n1,-x", "a_b", "n1..n2", "x" * 64, "root@", "n1:99999"])
def test_node_names_that_are_not_host_names_are_refused(nodes: str, tmp_path: Path) -> None:
    p = harness(tmp_path / "state", "run", "--system", "memory", "--cluster", "inprocess", "--nodes", nodes,
                "--results", str(tmp_path / "results"))
    one_line_254(p, "bad node name")
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())


@pytest.mark.parametrize("nodes", ["n1", "3", "db-1.example.org,10.0.0.7", "root@db1:2222"])
def test_host_names_are_accepted(nodes: str) -> None:
    from harness.cli import _nodes
    from harness.cluster import check_node_name

    for name in _nodes(nodes):
        check_node_name(name)


@pytest.mark.parametrize(("args", "fragment"), [
    (("--system", "etcd", "--nemesis", "partition", "--nemesis-interval", "100", "--time-limit", "10"),
     "--nemesis-interval 100 is too long for --time-limit 10"),
    (("--system", "etcd", "--nemesis-interval", "-1", "--nemesis", "kill"), "--nemesis-interval must be positive"),
    (("--system", "postgres", "--workload", "set", "--system-opt", "replication=none"),
     "postgres replication=none runs on one node"),
    (("--system", "etcd", "--cluster-opt", "subnet=10.77.0.0/33"), "bad subnet"),
])
def test_options_refused_late_in_the_build_leave_nothing_reserved(args: tuple[str, ...], fragment: str,
                                                                 tmp_path: Path) -> None:
    """These are refused while the test is built, after the cluster provider has been asked for its nodes:
    the local provider reserves its subnet only when the cluster is set up, and a ledger exists only once
    something is recorded in it."""
    reason = local_etcd_skip()
    if reason:
        pytest.skip(reason)
    p = harness(tmp_path / "state", "run", "--cluster", "local", *args, "--results", str(tmp_path / "results"))
    one_line_254(p, fragment)
    assert reserved(tmp_path / "state") == []


def test_an_unreachable_ssh_host_is_one_line(tmp_path: Path) -> None:
    with __import__("socket").socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = harness(tmp_path / "state", "run", "--system", "etcd", "--cluster", "ssh", "--nodes", f"127.0.0.1:{port}",
                "--cluster-opt", "connect_timeout=3", "--cluster-opt", "retries=0", "--results", str(tmp_path / "r"))
    one_line_254(p, "cannot reach ssh host")
    assert reserved(tmp_path / "state") == []


def test_cleanup_names_its_ledger_directory_and_removes_stale_reservations(tmp_path: Path) -> None:
    state = tmp_path / "state"
    p = harness(state, "cleanup")
    assert p.returncode == 0, p.stderr
    assert f"cleanup: scanned {state / 'ledger'}: no ledger of an ended run, 0 resource(s) removed" in p.stderr
    assert "HARNESS_STATE_DIR" in p.stderr

    nets = state / "local-nets"
    nets.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (nets / "10.77.9.0").write_text(f"etcd-register-none-20260101T000000.000Z-abcdef {dead}\n")
    (nets / "10.77.10.0").write_text(f"a-live-run {os.getpid()}\n")  # this test's own process: alive
    p = harness(state, "cleanup")
    assert p.returncode == 0, p.stderr
    assert ("removed stale subnet reservation 10.77.9.0/24 of run etcd-register-none-20260101T000000.000Z-abcdef "
            f"(pid {dead} has ended)") in p.stderr
    assert sorted(x.name for x in nets.iterdir() if x.name != ".lock") == ["10.77.10.0"]
