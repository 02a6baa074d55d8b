"""Suites: bad suite files are one line and exit 254; a suite's exit code and junit.xml match its verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
ENV = {**os.environ, "CI": "true"}


def harness(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def test_the_bad_corpus_is_large_enough() -> None:
    assert len(BAD) >= 15


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_suite_file_is_one_line_naming_file_line_and_problem(path: Path, tmp_path: Path) -> None:
    expect = path.read_text().splitlines()[0].removeprefix("# expect: ") if path.stat().st_size else ""
    if path.name == "12-empty-file.yaml":
        expect = "the suite file is empty"
    p = harness("suite", "run", str(path), "--results", str(tmp_path))
    assert p.returncode == 254, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, p.stderr
    assert str(path) in lines[0] and expect in lines[0], lines[0]
    assert not (tmp_path / "suites").exists()  # nothing started


def test_schema_is_published_with_the_package() -> None:
    from harness.suite import schema

    s = schema()
    assert s["title"] == "harness suite file" and "matrix" in s["properties"]


def test_suite_exit_code_and_junit_match_the_verdicts(tmp_path: Path) -> None:
    suite = tmp_path / "demo.yaml"
    suite.write_text(
        "name: demo\n"
        "defaults: {cluster: inprocess, time-limit: 1, rate: 200}\n"
        "matrix:\n  system: [memory]\n  seed: [1]\n"
        "runs:\n  - {system: memory, seed: 2, system-opts: {bug: stale-reads}, time-limit: 2}\n"
    )
    p = harness("suite", "run", str(suite), "--results", str(tmp_path / "results"))
    assert p.returncode == 1, p.stderr
    out = Path(p.stdout.strip().split("\t")[0])
    summary = json.loads((out / "summary.json").read_text())
    assert [r["valid"] for r in summary["runs"]] == [True, False]
    assert summary["exit_code"] == 1
    root = ET.parse(out / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [r["id"] for r in summary["runs"]]
    assert suites[0].get("failures") == "0" and int(suites[1].get("failures")) >= 1
    failed = [tc.get("name") for tc in suites[1].findall("testcase") if tc.find("failure") is not None]
    assert "linearizable" in failed
    # the summary page opens with the gate's answer and the failing cell, whose run comes first
    page = (out / "summary.html").read_text()
    assert "<title>Suite demo: FAIL</title>" in page
    assert page.index('id="gate"') < page.index('id="failing-cells"') < page.index('id="compare-table"')
    assert '1 of 2 cells failed the gate (--fail-on unknown)' in page and '<b id="gate-exit-code">1</b>' in page
    failing = page[page.index('id="failing-cells"'):page.index('id="compare-table"')]
    assert summary["runs"][1]["id"] in failing and summary["runs"][0]["id"] not in failing
    assert "linearizable" in failing and Path(summary["runs"][1]["run_dir"]).name in failing
    assert page.index(Path(summary["runs"][1]["run_dir"]).name) < page.index(Path(summary["runs"][0]["run_dir"]).name)
    # rerun only what failed
    p2 = harness("suite", "run", str(suite), "--rerun-failed", str(out / "summary.json"),
                 "--results", str(tmp_path / "results"))
    assert p2.returncode == 1
    out2 = Path(p2.stdout.strip().split("\t")[0])
    assert [r["id"] for r in json.loads((out2 / "summary.json").read_text())["runs"]] == [summary["runs"][1]["id"]]


def test_a_passing_suite_says_pass_with_exit_code_0(tmp_path: Path) -> None:
    suite = tmp_path / "ok.yaml"
    suite.write_text("name: ok\ndefaults: {cluster: inprocess, time-limit: 1, rate: 200, nemesis: none}\n"
                     "matrix:\n  system: [memory]\n  seed: [1, 2]\n")
    p = harness("suite", "run", str(suite), "--results", str(tmp_path / "results"))
    assert p.returncode == 0, p.stderr
    page = (Path(p.stdout.strip().split("\t")[0]) / "summary.html").read_text()
    assert "<title>Suite ok: PASS</title>" in page and "every one of 2 cells passed the gate" in page
    assert '<b id="gate-exit-code">0</b>' in page and 'id="failing-cells"' not in page


def test_replay_repeats_the_seed_and_generator(tmp_path: Path) -> None:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "1", "--concurrency", "1",
                "--seed", "5", "--results", str(tmp_path))
    first = Path(p.stdout.strip().split("\t")[0])
    p2 = harness("run", "--replay", str(first), "--results", str(tmp_path))
    assert p2.returncode == 0, p2.stderr
    second = Path(p2.stdout.strip().split("\t")[0])
    t2 = json.loads((second / "test.json").read_text())
    assert t2["seed"] == 5 and t2["replay_of"] == str(first.resolve())

    def invokes(d: Path) -> list[str]:
        return [line.split('"f":')[1].split(",")[0] for line in (d / "history.jsonl").read_text().splitlines()
                if '"invoke"' in line][:40]

    assert invokes(first) == invokes(second)


@pytest.mark.cluster
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/etcd").exists()
                    or not Path("/usr/lib/postgresql/15/bin/postgres").exists(),
                    reason="needs root, etcd (etcd-server) and PostgreSQL 15 for real local clusters")
def test_two_systems_by_two_nemeses_on_local_clusters(tmp_path: Path) -> None:
    suite = tmp_path / "gate.yaml"
    suite.write_text(
        "name: gate\n"
        "defaults: {cluster: local, workload: bank, time-limit: 6, nemesis-interval: 2, seed: 3}\n"
        "matrix:\n  system: [etcd]\n  nemesis: [none, kill]\n"
        "runs:\n"
        "  - {system: postgres, nemesis: none}\n"
        "  - {system: postgres, nemesis: kill, nemesis-opts: {kill-targets: primaries}}\n"
    )
    p = harness("suite", "run", str(suite), "--results", str(tmp_path / "results"))
    out = Path(p.stdout.strip().split("\t")[0])
    summary = json.loads((out / "summary.json").read_text())
    runs = summary["runs"]
    assert [r["id"] for r in runs] == ["etcd-bank-none-s3", "etcd-bank-kill-s3", "postgres-bank-none-s3",
                                       "postgres-bank-kill-s3"]
    # the gate's exit code is the worst verdict, and junit.xml says the same run by run
    from harness.suite import gate_exit_code, worst

    assert p.returncode == gate_exit_code(worst([r["valid"] for r in runs]), "unknown") == summary["exit_code"]
    root = ET.parse(out / "junit.xml").getroot()
    for r, ts in zip(runs, root.findall("testsuite")):
        assert ts.get("name") == r["id"]
        bad = int(ts.get("failures")) + int(ts.get("errors"))
        assert (bad == 0) == (r["valid"] is True), (r["id"], r["valid"], r["checkers"])
        assert (int(ts.get("failures")) > 0) == (r["valid"] is False)
    # with kill, nemesis ops are in the history of the run
    kill_run = Path(runs[1]["run_dir"])
    assert '"process":"nemesis"' in (kill_run / "history.jsonl").read_text()
    # every run of this gate is expected to be valid on a healthy system
    assert p.returncode == 0, [(r["id"], r["valid"], r["checkers"]) for r in runs]


def test_a_cell_whose_run_never_started_fails_even_a_fail_on_invalid_gate(tmp_path: Path) -> None:
    # `suite run --fail-on invalid` once passed (exit 0) when every run exited 254 (no registry for the images)
    from harness.suite import RunOutcome, RunSpec, write_suite_dir

    spec = RunSpec(id="etcd-bank-none-s1", options={"system": "etcd", "workload": "bank", "cluster": "docker",
                                                    "time-limit": 10, "nemesis": "none"})
    assert spec.argv("r")[spec.argv("r").index("--nemesis") + 1] == "none"  # never an empty, uncopyable value
    refused = RunOutcome(spec=spec, exit_code=254, run_dir=None, valid="unknown", checkers=(),
                         error="harness: cannot pull debian:bookworm-slim (no registry reachable?)")
    code = write_suite_dir(str(tmp_path), name="gate", outcomes=[refused], fail_on="invalid", header={},
                           echo=lambda m: None)
    assert code == 2 and json.loads((tmp_path / "summary.json").read_text())["exit_code"] == 2
    page = (tmp_path / "summary.html").read_text()
    assert "<title>Suite gate: FAIL</title>" in page and "1 of 1 cells failed the gate" in page
    assert "cannot pull debian:bookworm-slim" in page


def test_a_cell_naming_no_workload_gets_its_systems_default_as_harness_run_does(tmp_path: Path) -> None:
    from harness.suite import load_suite

    suite = tmp_path / "pg.yaml"
    suite.write_text("name: pg\ndefaults: {cluster: local, time-limit: 5}\n"
                     "matrix: {system: [etcd, postgres, rabbitmq], seed: [1]}\n")
    assert [r.id for r in load_suite(str(suite)).runs] == ["etcd-register-none-s1", "postgres-list-append-none-s1",
                                                           "rabbitmq-queue-none-s1"]
