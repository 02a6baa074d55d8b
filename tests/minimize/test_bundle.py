"""`harness bundle` and the runner's bundle of every invalid run: the archive holds the minimal history (which
fails on its own), the commands, seed, versions, the anomaly explained and no secret; the report shows the
reproduction; a bundle replays with `harness run --replay`; a run that is not invalid has nothing to bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from harness.bundle import scrub
from tests.minimize.test_minimize import unpack_run

ENV = {**os.environ, "CI": "true"}


def harness(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, check=False)


def memory_run(results: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--workload", "register", "--time-limit", "2",
                "--seed", "11", "--results", str(results), *args)
    assert "\t" in p.stdout, p.stderr
    return p, Path(p.stdout.strip().splitlines()[-1].split("\t")[0])


def test_an_invalid_run_comes_with_its_minimal_history_bundle_and_report_section(tmp_path: Path) -> None:
    p, run = memory_run(tmp_path / "results", "--system-opt", "bug=stale-reads")
    assert p.returncode == 1, p.stderr
    summary = json.loads((run / "minimal" / "minimize.json").read_text())
    assert summary["kind"] == "not-linearizable" and 0 < summary["ops"] <= 12 < summary["original_ops"]
    assert f"smallest failing history: {summary['ops']} of {summary['original_ops']} ops" in p.stderr
    assert f"bug report bundle: {run / 'bundle.tar.gz'}" in p.stderr
    page = (run / "report.html").read_text()
    assert 'id="reproduction"' in page and 'href="bundle.tar.gz"' in page

    with tarfile.open(run / "bundle.tar.gz") as tar:
        names = tar.getnames()
        tar.extractall(tmp_path / "unpacked", filter="data")
    top = names[0]
    assert {f"{top}/README.md", f"{top}/minimal/history.jsonl", f"{top}/test.json", f"{top}/report.html",
            f"{top}/bundle.json"} <= set(names)
    bundle = tmp_path / "unpacked" / top
    readme = (bundle / "README.md").read_text()
    assert "not linearizable" in readme and "--seed 11" in readme and "bug=stale-reads" in readme
    facts = json.loads((bundle / "bundle.json").read_text())
    assert facts["seed"] == 11 and facts["versions"]["harness"] and facts["ops"]["minimal"] == summary["ops"]

    alone = harness("check", "--out-dir", str(tmp_path / "c"), str(bundle / "minimal" / "history.jsonl"))
    assert alone.returncode == 1 and "(bug=stale-reads)" in alone.stderr, alone.stderr
    assert "a minimal history: its fault windows are not judged" in alone.stderr, alone.stderr

    replay = harness("run", "--replay", str(bundle), "--results", str(tmp_path / "replays"))
    assert replay.returncode in (0, 1), replay.stderr  # the system need not fail again; the options must hold
    again = json.loads((Path(replay.stdout.strip().split("\t")[0]) / "test.json").read_text())
    assert again["seed"] == 11 and again["options"]["system_opts"] == {"bug": "stale-reads"}
    assert again["replay_of"] == str(bundle)


def test_bundle_of_a_stored_real_run(tmp_path: Path) -> None:
    history = unpack_run("postgres-list-append-repeatable-read", tmp_path)
    run = history.parent
    p = harness("bundle", str(run))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(run / "bundle.tar.gz")
    assert "isolation anomaly (G2-item)" in p.stderr
    readme = (run / "bundle" / "README.md").read_text()
    assert "G2-item" in readme and "isolation=repeatable-read" in readme
    assert "no excerpts" in readme  # this stored run kept no node logs


def test_a_valid_run_has_nothing_to_bundle_and_a_non_run_is_bad_input(tmp_path: Path) -> None:
    p, run = memory_run(tmp_path / "results")
    assert p.returncode == 0, p.stderr
    assert not (run / "minimal").exists() and not (run / "bundle.tar.gz").exists()
    b = harness("bundle", str(run))
    assert b.returncode == 254 and "no failure to bundle" in b.stderr and "Traceback" not in b.stderr
    b = harness("bundle", str(tmp_path))
    assert b.returncode == 254 and "not a run directory" in b.stderr


def test_no_secret_reaches_a_bundle() -> None:
    info = {"options": {"system_opts": {"password": "hunter2", "reads": "serializable"}, "keys": 4},
            "argv": ["harness", "run", "--system-opt", "api-token=abc", "--workload-opt", "keys=4"]}
    clean = scrub(info)
    assert clean["options"]["system_opts"] == {"password": "<removed>", "reads": "serializable"}
    assert clean["options"]["keys"] == 4
    assert clean["argv"][3] == "api-token=<removed>" and clean["argv"][5] == "keys=4"
    assert "hunter2" not in json.dumps(clean) and "abc" not in json.dumps(clean)


def test_bundle_keeps_no_stale_folder(tmp_path: Path) -> None:
    history = unpack_run("etcd-register-serializable-partition", tmp_path)
    run = history.parent
    (run / "bundle").mkdir()
    (run / "bundle" / "old.txt").write_text("from before")
    assert harness("bundle", str(run)).returncode == 0
    assert not (run / "bundle" / "old.txt").exists()
    shutil.rmtree(run / "bundle")


def testlog_excerpts_are_the_lines_around_the_minimal_history(tmp_path: Path) -> None:
    """History time 0 is harness.log's "phase 5" line (12:00:10.000); the minimal history's client ops are at
    5 s and 6 s, so node log lines from 12:00:13 to 12:00:18 are kept (a continuation line with them), others not."""
    from harness.bundle import log_excerpts, history_zero
    from harness.op import History, Op

    run = tmp_path / "run"
    (run / "nodes" / "n1").mkdir(parents=True)
    (run / "harness.log").write_text("2026-12-04 12:00:09,500 INFO harness: phase 4: setup\n"
                                     "2026-12-04 12:00:10,000 INFO harness: phase 5: running the workload for 9 s\n")
    (run / "nodes" / "n1" / "db.log").write_text(
        "2026-12-04 12:00:12.900 UTC early\n"
        "2026-12-04 12:00:13.100 UTC inside one\n"
        "  a continuation line\n"
        "2026-12-04T12:00:17.900 inside two\n"
        "2026-12-04 12:00:18.200 UTC late\n")
    (run / "nodes" / "n1" / "plain.log").write_text("no times here\n")
    small = History([Op(index=1, time_ns=5_000_000_000, type="invoke", process=0, f="read"),
                     Op(index=2, time_ns=6_000_000_000, type="ok", process=0, f="read", value=1)])
    assert str(history_zero(run)) == "2026-12-04 12:00:10"
    notes = log_excerpts(run, small, tmp_path / "logs")
    kept = (tmp_path / "logs" / "n1-db.log").read_text()
    assert kept == "2026-12-04 12:00:13.100 UTC inside one\n  a continuation line\n2026-12-04T12:00:17.900 inside two\n"
    assert notes["n1-db.log"].startswith("3 lines") and "left out" in notes["n1-plain.log"]
