"""The ledger that `harness cleanup` undoes: records survive the process, undo runs newest first."""

from __future__ import annotations

import os
import subprocess
import sys

from harness import ledger as L


def test_outstanding_entries_survive_a_killed_writer_and_undo_newest_first(tmp_path) -> None:
    d = str(tmp_path)
    # a child process records two resources, releases one, records a third, then dies without closing
    code = (
        "import os; from harness.ledger import Ledger; l = Ledger('run-x', %r); "
        "l.record('thing', 'a', n=1); l.record('thing', 'b', n=2); l.release('thing', 'a'); "
        "l.record('thing', 'c', n=3); os.kill(os.getpid(), 9)" % d
    )
    subprocess.run([sys.executable, "-c", code])
    entries = L.outstanding_entries(os.path.join(d, "run-x.jsonl"))
    assert [(e.key, e.data["n"]) for e in entries] == [("b", 2), ("c", 3)]

    undone: list[str] = []
    L.undoer("thing")(lambda e: undone.append(e.key))
    report = L.cleanup(lambda m: None, directory=d)
    assert report.problems == () and undone == ["c", "b"]
    assert report.undone == ("run-x",) and report.removed == 2 and report.directory == d
    assert not os.path.exists(os.path.join(d, "run-x.jsonl"))


def test_undo_failures_are_reported_and_the_ledger_kept(tmp_path) -> None:
    d = str(tmp_path)
    led = L.Ledger("run-y", d)
    led.record("unknown-kind", "z")
    led.record("broken", "q")
    L.undoer("broken")(lambda e: (_ for _ in ()).throw(OSError("device busy")))
    problems = L.cleanup(lambda m: None, directory=d, force=True).problems
    assert any("no undo function" in p for p in problems)
    assert any("device busy" in p for p in problems)
    assert os.path.exists(led.path)


def test_a_live_runs_ledger_is_skipped_unless_forced(tmp_path) -> None:
    d = str(tmp_path)
    p = subprocess.Popen([sys.executable, "-c",
                          f"import time; from harness.ledger import Ledger; l = Ledger('live', {d!r}); "
                          "l.record('thing2', 'k'); print('ready', flush=True); time.sleep(30)"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        undone: list[str] = []
        L.undoer("thing2")(lambda e: undone.append(e.key))
        report = L.cleanup(lambda m: None, directory=d)
        assert undone == [] and report.skipped == (("live", p.pid),)
        assert f"skipped the ledgers of running harnesses: live (pid {p.pid})" in report.describe()
        L.cleanup(lambda m: None, directory=d, force=True)
        assert undone == ["k"]
    finally:
        p.kill()
        p.wait()


def test_a_ledger_is_created_by_its_first_record_and_never_shared(tmp_path) -> None:
    d = str(tmp_path)
    led = L.Ledger("run-z", d)
    assert not os.listdir(d)  # nothing recorded, nothing on disk: a run refused before it made anything
    led.close()
    assert not os.listdir(d)
    led = L.Ledger("run-z", d)
    led.record("thing", "a")
    twin = L.Ledger("run-z", d)
    import pytest

    from harness.errors import ClusterError

    with pytest.raises(ClusterError, match="already exists"):
        twin.record("thing", "b")
    assert [e.key for e in led.outstanding()] == ["a"]


def test_a_ledger_is_its_runs_while_the_run_holds_it_whatever_its_pid(tmp_path) -> None:
    """The owner is told by the lock the run holds, not by a pid: an open ledger of this very process is skipped,
    the same ledger once closed with a resource outstanding is undone (although its pid, ours, runs), and a file
    a run had created but not yet named is removed."""
    d = str(tmp_path)
    undone: list[str] = []
    L.undoer("thing3")(lambda e: undone.append(e.key))
    led = L.Ledger("mine", d)
    led.record("thing3", "k")
    report = L.cleanup(lambda m: None, directory=d)
    assert undone == [] and report.skipped == (("mine", os.getpid()),)
    led.close()  # the run ends with "k" outstanding (a teardown that failed, --leave-running)
    stale = os.path.join(d, ".other.1.opening")
    open(stale, "w").close()
    report = L.cleanup(lambda m: None, directory=d)
    assert undone == ["k"] and report.undone == ("mine",) and report.skipped == ()
    assert os.listdir(d) == []


def test_a_forked_child_of_a_killed_run_does_not_hold_its_ledger(tmp_path) -> None:
    """The linearizability checker forks workers: one still running after a kill -9 of the run must not keep
    cleanup away from the run's ledger."""
    d = str(tmp_path)
    code = (
        "import os, sys, time; from harness.ledger import Ledger; l = Ledger('forked', %r); l.record('thing4', 'k')\n"
        "if os.fork() == 0:\n    print('child', flush=True); time.sleep(30); os._exit(0)\n"
        "time.sleep(0.1); print('forked', flush=True); os.kill(os.getpid(), 9)" % d
    )
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout is not None and {p.stdout.readline().strip() for _ in range(2)} == {"child", "forked"}
        p.wait(timeout=10)
        undone: list[str] = []
        L.undoer("thing4")(lambda e: undone.append(e.key))
        report = L.cleanup(lambda m: None, directory=d)
        assert undone == ["k"] and report.undone == ("forked",) and report.skipped == ()
    finally:
        os.killpg(p.pid, 9)
