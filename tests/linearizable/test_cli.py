"""`harness check --checker linearizable` end to end (the CLI is harness/cli.py; this pins the plugin contract
it relies on): exit 0 valid, 1 invalid, 2 unknown, 254 bad input with one line and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpora import DATA
from tests.linearizable.test_checker import hard_history


def _run(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    r = subprocess.run([sys.executable, "-m", "harness", "check", "--checker", "linearizable", "--out-dir",
                        str(tmp_path), *args], capture_output=True, text=True, timeout=120, check=False)
    return r.returncode, r.stdout, r.stderr


@pytest.mark.parametrize(("args", "code"), [
    (("--model", "etcd", "porcupine/jepsen/etcd_002.log"), 0),
    (("--model", "etcd", "porcupine/jepsen/etcd_000.log"), 1),
    (("--model", "kv", "--format", "porcupine-kv", "porcupine/kv/c10-ok.txt"), 0),
    (("--model", "cas-register", "--opt", "init=0", "knossos/cas-register/bad/cas-failure.edn"), 1),
    (("--model", "multi-register", "--opt", "init={:x 0 :y 0}", "--repair",
      "knossos/multi-register/good/multi-register.edn"), 0),  # Jepsen's op times step back: --repair
])
def test_exit_codes(tmp_path: Path, args: tuple[str, ...], code: int) -> None:
    *opts, rel = args
    exit_code, out, _err = _run(tmp_path, *opts, str(DATA / rel))
    assert exit_code == code, out
    assert out.strip().endswith({0: "valid", 1: "invalid", 2: "unknown"}[code])
    if code == 1:
        assert (tmp_path / "linearizable.html").exists()


def test_several_files_verdicts_in_order(tmp_path: Path) -> None:
    # Several files are checked in parallel processes (harness.recheck.check_jobs): verdicts still come out in
    # the files' order, the exit code is the worst, and bad input in any file is one line and 254.
    ok = tmp_path / "ok.edn"
    ok.write_text("[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}]")
    bad = tmp_path / "bad.edn"
    bad.write_text("[{:process 0 :type :invoke :f :write :value 1} {:process 0 :type :ok :f :write :value 1}"
                   " {:process 0 :type :invoke :f :read :value nil} {:process 0 :type :ok :f :read :value 2}]")
    files = [str(ok), str(bad), str(ok), str(ok)]
    exit_code, out, _err = _run(tmp_path, "--model", "cas-register", "--opt", "init=0", *files)
    assert exit_code == 1
    assert out.splitlines() == [f"{f}\t{w}" for f, w in zip(files, ["valid", "invalid", "valid", "valid"])]
    exit_code, out, err = _run(tmp_path, "--model", "mutex", *files)
    assert exit_code == 254, (out, err)
    assert "the mutex model knows acquire and release" in err and "Traceback" not in err
    # Each file is read by the worker that checks it; a file that cannot be read still stops the check before
    # any verdict, naming the file.
    torn = tmp_path / "torn.edn"
    torn.write_text("[{:process 0 :type :invoke :f :write :value 1}")
    exit_code, out, err = _run(tmp_path, "--model", "cas-register", "--opt", "init=0", str(ok), str(ok), str(torn))
    assert exit_code == 254 and out == "", (out, err)
    assert str(torn) in err and "Traceback" not in err


def test_budget_spent_is_unknown_exit_2(tmp_path: Path) -> None:
    hard = tmp_path / "hard.jsonl"
    hard_history().to_jsonl(hard)
    exit_code, out, _err = _run(tmp_path, "--model", "etcd", "--timeout", "0.001", str(hard))
    assert exit_code == 2, out
    assert out.strip().endswith("unknown")


@pytest.mark.parametrize(("args", "fragment"), [
    (("--model", "nope"), "bad value 'nope'"),
    (("--opt", "timeout=soon"), "timeout"),
    (("--format", "xml"), "unknown history format"),
])
def test_bad_input_is_254_one_line(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    h = tmp_path / "h.edn"
    h.write_text("[{:process 0 :type :invoke :f :read :value nil} {:process 0 :type :ok :f :read :value 1}]")
    exit_code, out, err = _run(tmp_path, *args, str(h))
    assert exit_code == 254, (out, err)
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_malformed_history_is_254(tmp_path: Path) -> None:
    h = tmp_path / "h.edn"
    h.write_text("[{:process 0 :type :invoke :f :read :value nil}\n {:process 0 :type :ok :f :read :value 1")
    exit_code, _out, err = _run(tmp_path, str(h))
    assert exit_code == 254
    assert f"{h}:2:" in err


@pytest.mark.parametrize("max_entries", [8000, 3])
def test_job_queue_checks_every_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_entries: int) -> None:
    # Three processes take jobs from one queue (one job per entry, or runs of jobs when there are more jobs than
    # entries): each outcome comes back once and in the files' order, whichever process checked it.
    from harness import recheck
    from harness.plugins import Registry

    monkeypatch.setattr(recheck, "_MAX_ENTRIES", max_entries)
    plan = recheck.named_plan(Registry(), None, {"model": "cas-register", "init": "0"})
    files = sorted((DATA / "knossos" / "cas-register").glob("*/*.edn"))[3:14]  # 4 bad, then 7 good
    jobs = [recheck.CheckJob(plan, recheck.FileSource(str(f), None, True), str(tmp_path / str(i)))
            for i, f in enumerate(files)]
    log = tmp_path / "taken.log"
    checked = recheck._checked

    def logged(job: recheck.CheckJob) -> recheck.Checked:
        with open(log, "a") as fh:  # O_APPEND: one line per check, from whichever process
            fh.write(f"{os.getpid()} {job.out_dir}\n")
        return checked(job)

    monkeypatch.setattr(recheck, "_checked", logged)
    outcomes = recheck.check_jobs(jobs, workers=3)
    taken = [ln.split() for ln in log.read_text().splitlines()]
    assert sorted(d for _, d in taken) == sorted(j.out_dir for j in jobs)  # each once, none redone
    assert len({pid for pid, _ in taken}) >= 2
    assert [o.verdict.valid if o.verdict else None for o in outcomes] == [f.parent.name == "good" for f in files]
    assert all((tmp_path / str(i) / "linearizable.html").is_file() for i in range(len(files)))
