"""`harness shrink`: delta debugging over a failing run's faults and time limit, each candidate replayed.

The search itself is tested with a stand-in replay (named as such: a function that writes the verdict a real
replay would, from a rule the test states), so its choices are exact; the command is tested end to end on the
built-in memory system (real replays, fast); a real etcd run is shrunk behind the `long` marker."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
import subprocess
import sys
from pathlib import Path

import pytest

from harness.checker import FailureClass, Finding, Verdict
from harness.minimize import Signature
from harness.op import History, Op
from harness.shrink import (
    Candidate,
    Replay,
    ShrinkOptions,
    Window,
    run_args,
    shrink,
    windows_of,
    write_schedule,
)

ENV = {**os.environ, "CI": "true"}
SIG = Signature("linearizable", FailureClass.NOT_LINEARIZABLE, "not-linearizable", frozenset({3}))


def window(i: int) -> Window:
    start, end = 2.0 + 4 * i, 4.0 + 4 * i
    return Window(label="partition", start_s=start, end_s=end,
                  entries=({"at": start, "f": "start-partition", "value": "one"},
                           {"at": end, "f": "stop-partition", "value": None}))


def stand_in_replay(tmp: Path, rule: Callable[[Candidate, int], bool], calls: list[Candidate]) -> Replay:
    """A stand-in for `harness run`: writes a run directory whose verdict is invalid (exit 1) when
    `rule(candidate, replay number)` holds, else valid (exit 0)."""

    def replay(c: Candidate, i: int) -> tuple[str, int]:
        calls.append(c)
        d = tmp / f"r{len(calls)}"
        d.mkdir()
        bad = rule(c, i)
        finding = Finding(kind="not-linearizable", failure_class=FailureClass.NOT_LINEARIZABLE, diagnosis="x",
                          ops=(7,))
        verdict = Verdict(valid=not bad, checker="linearizable", findings=(finding,) if bad else ())
        (d / "results.json").write_text(json.dumps({"verdict": verdict.to_json()}))
        return str(d), 1 if bad else 0

    return replay


def test_the_fault_that_matters_is_kept_and_the_run_shortened(tmp_path: Path) -> None:
    windows = [window(i) for i in range(6)]
    calls: list[Candidate] = []
    def rule(c: Candidate, i: int) -> bool:  # the bug needs fault 3 and 12 s
        return 3 in c.windows and c.time_limit >= 12

    res = shrink(tmp_path, SIG, windows, 40.0, stand_in_replay(tmp_path, rule, calls), ShrinkOptions(replays=1))
    # 40 s -> 20 s fails; then the floor, fault 3's heal at 16 s + 2 s of margin: 18 s fails too
    assert res.best == Candidate((3,), 18.0)
    assert res.reproduced and not res.budget_ran_out and calls[0] == Candidate(tuple(range(6)), 40.0)
    assert Candidate((), 40.0) in calls  # no faults at all is tried first


def test_k_of_n_replays(tmp_path: Path) -> None:
    """A candidate is kept only when `failures` of its `replays` fail; the replays stop once that is decided."""
    windows = [window(0), window(1)]
    calls: list[Candidate] = []
    def rule(c: Candidate, i: int) -> bool:  # only the second replay of the smaller candidates fails
        return i == 1 or c.windows == (0, 1)

    res = shrink(tmp_path, SIG, windows, 8.0, stand_in_replay(tmp_path, rule, calls),
                 ShrinkOptions(replays=3, failures=2))
    assert [a.kept for a in res.attempts][:1] == [True] and res.attempts[0].exit_codes == (1, 1)
    assert all(not a.kept and a.exit_codes[:2] == (0, 1) for a in res.attempts[1:])
    assert res.best == Candidate((0, 1), 8.0)


def test_a_run_that_never_fails_again_shrinks_nothing(tmp_path: Path) -> None:
    calls: list[Candidate] = []
    res = shrink(tmp_path, SIG, [window(0)], 10.0, stand_in_replay(tmp_path, lambda c, i: False, calls),
                 ShrinkOptions(replays=2))
    assert res.best is None and not res.reproduced and len(res.attempts) == 1 and len(calls) == 2


def test_another_failure_does_not_count(tmp_path: Path) -> None:
    other = Signature("linearizable", FailureClass.STALE_READ, "not-linearizable")
    res = shrink(tmp_path, other, [window(0)], 10.0, stand_in_replay(tmp_path, lambda c, i: True, []),
                 ShrinkOptions(replays=1))
    assert res.best is None


def test_budget_stops_the_search(tmp_path: Path) -> None:
    calls: list[Candidate] = []
    res = shrink(tmp_path, SIG, [window(i) for i in range(4)], 30.0,
                 stand_in_replay(tmp_path, lambda c, i: True, calls), ShrinkOptions(budget_s=0.0001, replays=1))
    assert res.budget_ran_out and len(calls) <= 1


def test_windows_schedule_and_arguments(tmp_path: Path) -> None:
    from harness.options import RunOptions
    from harness.report.rundir import PackageInfo

    h = History.indexed([
        Op(type="invoke", process="nemesis", f="start-partition", value="one", time_ns=1_000_000_000),
        Op(type="info", process="nemesis", f="start-partition", value={"grudge": {}}, time_ns=1_100_000_000),
        Op(type="invoke", process="nemesis", f="stop-partition", time_ns=3_000_000_000),
        Op(type="info", process="nemesis", f="stop-partition", value={"healed": {}}, time_ns=3_200_000_000),
    ])
    pkg = PackageInfo(name="partition", label="partition", start_fs=frozenset({"start-partition"}),
                      stop_fs=frozenset({"stop-partition"}))
    (w,) = windows_of(h, [pkg])
    assert w.entries == ({"at": 1.0, "f": "start-partition", "value": "one"},
                         {"at": 3.0, "f": "stop-partition", "value": None})
    path = write_schedule(tmp_path / "s.json", Candidate((0,), 10.0), [w])
    assert path is not None and json.loads(Path(path).read_text())[0]["f"] == "start-partition"
    assert write_schedule(tmp_path / "none.json", Candidate((), 10.0), [w]) is None
    o = RunOptions(system="etcd", nemeses=("partition",), seed=5, nemesis_opts={"partition-grudge": "one"},
                   system_opts={"reads": "serializable"})
    args = run_args(o, Candidate((0,), 10.0), path, "res")
    assert args[args.index("--seed") + 1] == "5" and args[args.index("--time-limit") + 1] == "10"
    assert f"schedule={path}" in args and "partition-grudge=one" in args and "reads=serializable" in args
    assert run_args(o, Candidate((), 10.0), None, "res")[-2:] == ["--nemesis", "none"]


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def memory_failing_run(tmp_path: Path, time_limit: str = "2") -> Path:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--workload", "register", "--time-limit", time_limit,
                "--seed", "11", "--results", str(tmp_path / "results"), "--system-opt", "bug=stale-reads")
    assert p.returncode == 1, p.stderr
    return Path(p.stdout.strip().splitlines()[-1].split("\t")[0])


def test_shrink_command_on_a_real_failing_run(tmp_path: Path) -> None:
    run = memory_failing_run(tmp_path, "4")
    p = harness("shrink", str(run), "--replays", "2", "--budget", "150")
    assert p.returncode == 1, p.stderr
    summary = json.loads((run / "shrink" / "shrink.json").read_text())
    assert summary["reproduced"] and summary["minimal"]["time_limit"] < summary["original"]["time_limit"] == 4.0
    assert p.stdout.strip() == summary["command"] and "--seed 11" in summary["command"]
    assert (Path(summary["failing_run"]) / "bundle.tar.gz").is_file() and "bug report bundle" in p.stderr
    page = (run / "report.html").read_text()
    assert "replayed it with fewer faults and less time" in page and "--seed 11" in page
    attempts = [json.loads(line) for line in (run / "shrink" / "attempts.jsonl").read_text().splitlines()]
    assert attempts[0]["kept"] and all(Path(r).is_dir() for a in attempts for r in a["runs"])
    again = harness(*summary["command"].split()[1:])
    assert again.returncode in (0, 1), again.stderr  # the command runs as printed (the system need not fail)


def test_shrink_says_so_when_the_failure_does_not_come_back_and_refuses_a_valid_run(tmp_path: Path) -> None:
    run = memory_failing_run(tmp_path)
    test = json.loads((run / "test.json").read_text())
    test["options"]["system_opts"] = {}  # as if the bug were gone: every replay passes
    (run / "test.json").write_text(json.dumps(test))
    p = harness("shrink", str(run), "--replays", "1", "--budget", "60")
    assert p.returncode == 2 and "never failed again" in p.stderr, p.stderr
    assert json.loads((run / "shrink" / "shrink.json").read_text())["reproduced"] is False

    results = json.loads((run / "results.json").read_text())
    results["verdict"] = Verdict(valid=True, checker="compose").to_json()
    (run / "results.json").write_text(json.dumps(results))
    p = harness("shrink", str(run))
    assert p.returncode == 254 and "not invalid" in p.stderr and "Traceback" not in p.stderr
    p = harness("shrink", str(run), "--replays", "1", "--failures", "2")
    assert p.returncode == 254 and "more than --replays" in p.stderr


REAL_RUNS = {
    "etcd-serializable-partition": ("--system", "etcd", "--workload", "register", "--system-opt", "reads=serializable",
                                    "--nemesis", "partition", "--nemesis-opt", "partition-grudge=one",
                                    "--workload-opt", "keys=2", "--workload-opt", "values=50", "--time-limit", "25",
                                    "--seed", "11"),
    "postgres-repeatable-read": ("--system", "postgres", "--workload", "list-append", "--nodes", "1",
                                 "--time-limit", "5", "--seed", "3", "--concurrency", "8", "--rate", "250",
                                 "--workload-opt", "shape=write-skew", "--workload-opt", "keys=4",
                                 "--system-opt", "isolation=repeatable-read"),
}


@pytest.mark.long
@pytest.mark.parametrize("name", sorted(REAL_RUNS))
def test_shrink_a_failing_real_run(tmp_path: Path, name: str) -> None:
    """MUST SHOW: a failing etcd reads=serializable partition run and a failing Postgres repeatable-read run end
    with a schedule shorter than the original (fewer faults or less time) that still fails, in the budget."""
    if os.geteuid() != 0:
        pytest.skip("etcd and postgres on local namespaces need root")
    p = harness("run", "--cluster", "local", *REAL_RUNS[name], "--results", str(tmp_path), timeout=300)
    if p.returncode != 1:
        pytest.skip(f"this run did not fail (exit {p.returncode}); nothing to shrink")
    run = Path(p.stdout.strip().splitlines()[-1].split("\t")[0])
    s = harness("shrink", str(run), "--budget", "600", timeout=1200)
    assert s.returncode == 1, s.stderr
    summary = json.loads((run / "shrink" / "shrink.json").read_text())
    m, o = summary["minimal"], summary["original"]
    assert (m["faults"], m["time_limit"]) < (o["faults"], o["time_limit"])
    assert summary["seconds"] <= 600 + 120  # the budget, and the replay under way when it ran out


def test_ctrl_c_ends_a_shrink_with_what_it_found(tmp_path: Path) -> None:
    import signal
    import time

    run = memory_failing_run(tmp_path, "4")
    proc = subprocess.Popen([sys.executable, "-m", "harness", "shrink", str(run), "--replays", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    attempts = run / "shrink" / "attempts.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (attempts.is_file() and attempts.read_text().strip()):
        time.sleep(0.2)
    assert attempts.read_text().strip(), "no attempt finished in 120 s"
    time.sleep(1.0)  # the next replay has started
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    summary = json.loads((run / "shrink" / "shrink.json").read_text())
    assert summary["interrupted"] is True and summary["reproduced"] is True and "(interrupted)" in err
