"""MUST SHOW, on the built-in `memory` system (no root, fast, in CI): every workload it declares runs valid without
faults, and `harness check` of each run's own history.jsonl reaches the run's verdict; a client that raises a
programming error (TypeError) stops the run with verdict unknown, exit 2, the traceback in harness.log and the
error on the console, never counted against the system; SIGINT and SIGTERM end a run with the console, the exit
code and results.json agreeing; `--nemesis none` is accepted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from clusters.memory import SYSTEM as MEMORY
from harness import generator as g
from harness.cli import main
from harness.op import History

ENV = {**os.environ, "CI": "true"}


def harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def memory_run(tmp_path: Path, workload: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--workload", workload, "--time-limit", "2",
                "--seed", "11", "--results", str(tmp_path / "results"), *args)
    return p, Path(p.stdout.strip().splitlines()[-1].split("\t")[0]) if "\t" in p.stdout else tmp_path


@pytest.mark.parametrize("workload", sorted(MEMORY.workloads))
def test_every_declared_workload_is_valid_and_rechecks_valid(workload: str, tmp_path: Path) -> None:
    p, run_dir = memory_run(tmp_path, workload, "--nemesis", "none")
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith("\tvalid\n") and "harness: verdict: valid (exit 0)" in p.stderr
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] is True and results["errors"] == [] and results["run"]["nemeses"] == []
    history = History.from_jsonl(run_dir / "history.jsonl")
    assert sum(1 for o in history if o.type == "ok") >= 50
    assert not [o for o in history if o.type == "info"], "a healthy in-process store answers every op"

    again = harness("check", "--out-dir", str(tmp_path / "checks"), str(run_dir))  # the run stands for its history
    assert again.returncode == 0 and again.stdout == f"{run_dir / 'history.jsonl'}\tvalid\n", again.stderr
    assert f"checked as its run did ({run_dir / 'test.json'}): system memory, workload {workload}" in again.stderr


def test_a_register_history_copied_out_of_its_run_is_checked_per_key(tmp_path: Path) -> None:
    p, run_dir = memory_run(tmp_path, "register")
    assert p.returncode == 0, p.stderr
    alone = tmp_path / "register.jsonl"
    shutil.copy(run_dir / "history.jsonl", alone)
    again = harness("check", "--out-dir", str(tmp_path / "checks"), str(alone))
    assert again.returncode == 0 and again.stdout == f"{alone}\tvalid\n", again.stderr
    assert "each key is checked on its own (independent=true)" in again.stderr


def test_the_planted_bug_is_found_again_by_check(tmp_path: Path) -> None:
    p, run_dir = memory_run(tmp_path, "register", "--system-opt", "bug=stale-reads")
    assert p.returncode == 1, p.stderr
    again = harness("check", "--out-dir", str(tmp_path / "checks"), str(run_dir / "history.jsonl"))
    assert again.returncode == 1 and again.stdout.endswith("\tinvalid\n"), again.stderr
    assert "(bug=stale-reads)" in again.stderr


def test_a_client_type_error_stops_the_run_as_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The workload asks the memory client to write a value it cannot unpack (`key, v = None`): a TypeError
    raised in clusters/memory.py, our own code, like the set read of issue 15."""
    from workloads.register import RegisterWorkload

    def broken(self: Any, test: Any) -> Any:
        return g.stateful(lambda test, ctx, n: ({"f": "write", "value": None}, n + 1), 0)

    monkeypatch.setattr(RegisterWorkload, "generator", broken)
    with pytest.raises(SystemExit) as e:
        main(["run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "20", "--seed", "1",
              "--results", str(tmp_path / "results")])
    out, err = capsys.readouterr()
    assert e.value.code == 2
    assert out.endswith("\tunknown\n")
    run_dir = Path(out.strip().split("\t")[0])
    assert "harness bug: TypeError: cannot unpack non-iterable NoneType object at clusters/memory.py" in err
    assert "the run was stopped (traceback in harness.log)" in err
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown" and results["exit_code"] == 2
    assert results["run"]["duration_s"] < 10, "the run stopped early, not at its 20 s time limit"
    assert not results["verdict"]["children"] or all(
        c["valid"] is not False for c in results["verdict"]["children"]), "never counted as the system's fault"
    log = (run_dir / "harness.log").read_text()
    assert "Traceback (most recent call last)" in log and 'clusters/memory.py", line' in log
    history = History.from_jsonl(run_dir / "history.jsonl")
    assert [o for o in history if o.type == "info" and "TypeError" in str(o.error)]


def test_a_driver_type_error_is_the_systems_unknown_outcome() -> None:
    """Only our own code's programming errors are bugs: a TypeError raised inside a library is not."""
    from clusters.memory import MemoryClient
    from harness.client import HarnessBug

    try:
        import urllib.parse

        urllib.parse.urlsplit(None)  # type: ignore[arg-type]  # TypeError in the stdlib, called from here
    except TypeError as e:
        assert HarnessBug.of(e) is None  # the first frame outside the stdlib is this test, not the harness
    with pytest.raises(AttributeError) as raised:
        MemoryClient(None).invoke(None, None)  # type: ignore[arg-type]
    bug = HarnessBug.of(raised.value)
    assert bug is not None and bug.where.startswith("clusters/memory.py:")


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signals_end_the_run_with_console_exit_code_and_results_agreeing(sig: int, code: int,
                                                                         tmp_path: Path) -> None:
    results_dir = tmp_path / "results"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "60",
         "--results", str(results_dir)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(h.stat().st_size > 0 for h in results_dir.glob("*/*/history.jsonl")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    name = signal.Signals(sig).name
    assert proc.returncode == code, err
    assert f"verdict: unknown (exit {code}, interrupted by {name})" in err
    assert f"interrupted by {name}: faults healed, cluster torn down, results written; verdict unknown (exit {code})" in err
    assert out.endswith("\tunknown\n")
    results = json.loads((Path(out.split("\t")[0]) / "results.json").read_text())
    assert results["valid"] == "unknown" and results["exit_code"] == code


def test_nemesis_none_cannot_be_combined(tmp_path: Path) -> None:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--nemesis", "none,kill",
                "--results", str(tmp_path))
    assert p.returncode == 254 and p.stderr.count("\n") == 1 and "--nemesis none means no faults" in p.stderr


def test_replay_refuses_run_options_it_would_ignore(tmp_path: Path) -> None:
    # `--replay RUN --time-limit 10` once ran the stored 15 s without a word
    p = harness("run", "--replay", str(tmp_path), "--time-limit", "10", "--node", "a", "--results", str(tmp_path))
    assert p.returncode == 254 and p.stderr.count("\n") == 1, p.stderr
    assert "--node, --time-limit cannot be combined with it (only --results can)" in p.stderr


def test_a_real_system_on_the_inprocess_cluster_is_refused_without_a_traceback(tmp_path: Path) -> None:
    # its teardown met the same refusal again and printed a traceback before the one line
    p = harness("run", "--system", "etcd", "--cluster", "inprocess", "--time-limit", "2", "--results", str(tmp_path))
    assert p.returncode == 254 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.splitlines()[-1] == ("harness: the inprocess cluster has no node n1 to run commands on; "
                                         "use --cluster local or docker")


class _FailsOnN2:
    """The memory system's database, except that starting it on n2 fails (as a node whose disk is full would)."""

    def __init__(self, db: Any) -> None:
        self._db = db

    def setup(self, test: Any, node: str) -> None:
        if node == "n2":
            from harness.errors import CommandFailed

            raise CommandFailed(node, ["start"], 1, "no space left on device")
        self._db.setup(test, node)

    def teardown(self, test: Any, node: str) -> None:
        self._db.teardown(test, node)


def test_a_database_that_fails_to_start_on_one_node_leaves_nothing_to_check(tmp_path: Path) -> None:
    """The setup failure is typed (SetupFailed, each node's own error): the checker is not run on the empty
    history and the verdict is unknown, naming the node and its error."""
    import dataclasses

    from harness.build import build_test
    from harness.options import RunOptions
    from harness.plugins import Registry
    from harness.runner import run

    options = RunOptions(system="memory", cluster="inprocess", workload="register", time_limit=1.0,
                         results_dir=str(tmp_path))
    test = build_test(options, Registry(builtins_only=True))
    test = dataclasses.replace(test, db=_FailsOnN2(test.db))
    result = run(test)
    assert result.verdict.valid == "unknown" and result.exit_code == 2
    not_checked = [v for v in (result.verdict, *result.verdict.children) if v.checker == "run"
                   and v.summary.startswith("the run did not complete: database setup failed on n2")]
    assert not_checked, result.verdict
    assert any(e.startswith("database setup failed on n2: on n2: start exited 1: no space left on device")
               for e in result.errors), result.errors
