"""The runner end to end through `harness run` in a subprocess: the built-in demo system (no root needed),
and a real 3-node etcd on local namespaces killed with SIGKILL mid-run and cleaned up by `harness cleanup`."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.op import History, read_jsonl
from tests.core.residue import harness_leftovers

ENV = {**os.environ, "CI": "true"}


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def run_dir_of(stdout: str) -> Path:
    return Path(stdout.strip().splitlines()[-1].split("\t")[0])


def test_demo_run_is_valid_and_writes_a_run_directory(tmp_path: Path) -> None:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "2", "--seed", "7",
                "--rate", "200", "--results", str(tmp_path))
    assert p.returncode == 0, p.stderr
    d = run_dir_of(p.stdout)
    assert p.stdout.strip().endswith("\tvalid")
    test = json.loads((d / "test.json").read_text())
    assert test["seed"] == 7 and test["options"]["system"] == "memory" and "argv" in test
    results = json.loads((d / "results.json").read_text())
    assert results["schema"] == 1 and results["valid"] is True and results["exit_code"] == 0
    h = History.from_jsonl(d / "history.jsonl")
    oks = [o for o in h if o.type == "ok"]
    assert len(oks) > 100
    assert all(c is not None for _, c in h.pairs())
    assert (tmp_path / "latest").resolve() == d.resolve()
    assert (d / "harness.log").read_text().count("phase") >= 4


def test_a_planted_bug_makes_the_run_invalid_with_exit_1(tmp_path: Path) -> None:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "2", "--seed", "3",
                "--system-opt", "bug=stale-reads", "--results", str(tmp_path))
    assert p.returncode == 1, p.stderr
    assert p.stdout.strip().endswith("\tinvalid")
    results = json.loads((run_dir_of(p.stdout) / "results.json").read_text())
    assert results["valid"] is False
    # the planted bug changes the expectation, so its runs do not share a name with the bug-free ones
    assert run_dir_of(p.stdout).parent.name == "memory-register-none-bug=stale-reads" == results["run"]["name"]


def test_the_test_name_carries_the_options_that_change_the_expectation() -> None:
    from harness.build import build_test
    from harness.options import RunOptions
    from harness.plugins import Registry

    def name(**kw: object) -> str:
        test = build_test(RunOptions(system="memory", cluster="inprocess", **kw), Registry())  # type: ignore[arg-type]
        test.ledger.close()
        return test.name

    assert name() == "memory-register-none"
    assert name(system_opts={"bug": "none"}) == "memory-register-none"  # the default is not spelled out
    assert name(system_opts={"bug": "stale-reads"}) == "memory-register-none-bug=stale-reads"
    assert name(workload="list-append", workload_opts={"consistency": "PL-SI", "keys": "3"}) == (
        "memory-list-append-none-consistency=snapshot-isolation")  # the parsed model; keys change no expectation


def test_same_seed_same_generator_ops(tmp_path: Path) -> None:
    """The run's randomness is the seed's: two runs with one seed ask the same ops (times differ)."""
    seqs = []
    for i in range(2):
        p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "1", "--seed", "11",
                    "--concurrency", "1", "--rate", "100", "--results", str(tmp_path / str(i)))
        assert p.returncode == 0, p.stderr
        h = History.from_jsonl(run_dir_of(p.stdout) / "history.jsonl")
        seqs.append([(o.f, o.value) for o in h if o.type == "invoke"][:50])
    assert seqs[0] == seqs[1] and len(seqs[0]) == 50


needs_root_etcd = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("etcd") is None or shutil.which("ip") is None,
    reason="needs root, iproute2 and etcd (Debian etcd-server) for a real local cluster",
)


@pytest.mark.cluster
@needs_root_etcd
def test_sigkill_mid_run_loses_no_completed_op_and_cleanup_leaves_nothing(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--system", "etcd", "--cluster", "local", "--time-limit", "60",
         "--results", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True,
    )
    history = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = list(tmp_path.glob("*/*/history.jsonl"))
            if found and sum(1 for o in read_jsonl(found[0]) if o.type == "ok") >= 50:
                history = found[0]
                break
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        assert history is not None, "the run produced no ok ops: " + (proc.stderr.read() if proc.poll() else "")
        time.sleep(1.0)
        before = sum(1 for o in read_jsonl(history) if o.type != "invoke")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    ops = list(read_jsonl(history))  # parseable: at most a torn last line, which the reader ignores
    completed = [o for o in ops if o.type != "invoke"]
    assert len(completed) >= before
    h = History(ops)
    invoked = {(o.process, o.index) for o in h if o.type == "invoke"}
    for o in completed:  # every completion has its invocation before it
        inv = h.invocation(o)
        assert inv is not None and (inv.process, inv.index) in invoked and inv.index < o.index
    # the killed run left its cluster; cleanup must remove all of it
    run_id = json.loads((history.parent / "test.json").read_text())["run_id"]
    assert harness_leftovers(run_id), "expected the killed run to leave its cluster behind"
    p = harness("cleanup", timeout=180)
    assert p.returncode == 0, p.stderr
    assert harness_leftovers(run_id) == []


@pytest.mark.cluster
@needs_root_etcd
def test_default_main_job_on_local_etcd_is_valid(tmp_path: Path) -> None:
    p = harness("run", "--time-limit", "5", "--results", str(tmp_path), timeout=240)
    assert p.returncode == 0, p.stderr
    d = run_dir_of(p.stdout)
    h = History.from_jsonl(d / "history.jsonl")
    nodes = {o.node for o in h if o.type == "ok" and o.node}
    assert nodes == {"n1", "n2", "n3"}
    assert re.search(r"\tvalid$", p.stdout.strip())
    assert harness_leftovers(json.loads((d / "test.json").read_text())["run_id"]) == []
