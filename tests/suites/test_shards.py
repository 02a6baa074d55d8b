"""Sharded suites: `--shard I/N` slices are disjoint, whole and stable; shards run as separate processes (as on
separate CI machines) and merged give the unsharded run's verdicts, junit cases and exit code; a missing or
unreadable shard is named and makes the merge unknown; bad --shard is one line and 254."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.shards import Shard, parse_shard, plan, shard_header
from harness.suite import load_suite

ENV = {**os.environ, "CI": "true"}

# 8 cells on the built-in memory system: six correct, two with stale reads (invalid)
EIGHT = """\
name: eight
parallel: 2
defaults: {cluster: inprocess, time-limit: 2, rate: 200, nemesis: none}
matrix:
  system: [memory]
  seed: [1, 2, 3, 4, 5, 6]
runs:
  - {system: memory, seed: 7, system-opts: {bug: stale-reads}, time-limit: 2}
  - {system: memory, seed: 8, system-opts: {bug: stale-reads}, time-limit: 2}
"""
# the same cells, matrix values and runs in another order
EIGHT_REORDERED = """\
name: eight
parallel: 2
runs:
  - {system: memory, seed: 8, system-opts: {bug: stale-reads}, time-limit: 2}
  - {system: memory, seed: 7, system-opts: {bug: stale-reads}, time-limit: 2}
matrix:
  seed: [6, 3, 1, 5, 2, 4]
  system: [memory]
defaults: {nemesis: none, rate: 200, time-limit: 2, cluster: inprocess}
"""


def harness(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def finish(p: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=600)
    return p.returncode, out, err


def junit_cases(path: Path) -> list[tuple[str, str, str]]:
    root = ET.parse(path).getroot()
    return [(ts.get("name") or "", tc.get("name") or "",
             "failure" if tc.find("failure") is not None else "error" if tc.find("error") is not None else "ok")
            for ts in root.findall("testsuite") for tc in ts.findall("testcase")]


def verdicts(summary_dir: Path) -> list[tuple[str, object]]:
    return [(r["id"], r["valid"]) for r in json.loads((summary_dir / "summary.json").read_text())["runs"]]


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/9"])
def test_a_bad_shard_is_one_line_and_254_before_anything_runs(text: str, tmp_path: Path) -> None:
    suite = tmp_path / "eight.yaml"
    suite.write_text(EIGHT)
    code, _out, err = finish(harness("suite", "run", str(suite), "--shard", text, "--results", str(tmp_path / "r")))
    assert code == 254, err
    assert len([x for x in err.splitlines() if x.strip()]) == 1 and "--shard" in err, err
    assert not (tmp_path / "r").exists()


def test_slices_are_disjoint_whole_balanced_and_independent_of_file_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(EIGHT)
    b.write_text(EIGHT_REORDERED)
    sa, sb = load_suite(str(a)), load_suite(str(b))
    assert {r.id for r in sa.runs} == {r.id for r in sb.runs}
    for n in range(1, 9):
        pa, pb = plan(sa, n), plan(sb, n)
        assert pa == pb  # the same slices whatever the order of the file
        assert set(pa) == {r.id for r in sa.runs}  # whole: every cell in exactly one slice
        sizes = [list(pa.values()).count(i) for i in range(1, n + 1)]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    with pytest.raises(BadInput):
        plan(sa, 9)
    assert parse_shard(" 2/3 ").index == 2


def test_three_shards_in_separate_processes_merge_to_the_unsharded_run(tmp_path: Path) -> None:
    suite = tmp_path / "eight.yaml"
    suite.write_text(EIGHT)
    whole = harness("suite", "run", str(suite), "--results", str(tmp_path / "whole"))
    # each shard as on its own machine: its own results directory, uploaded and downloaded as an artifact
    shards = [harness("suite", "run", str(suite), "--shard", f"{i}/3", "--results", str(tmp_path / f"m{i}"))
              for i in (1, 2, 3)]
    whole_code, whole_out, err = finish(whole)
    assert whole_code == 1, err  # the two stale-read cells are invalid
    whole_dir = Path(whole_out.strip().split("\t")[0])
    cells: list[str] = []
    (tmp_path / "artifacts").mkdir()
    for i, p in enumerate(shards, 1):
        code, out, err = finish(p)
        assert code in (0, 1, 2), err
        summary = json.loads((Path(out.strip().split("\t")[0]) / "summary.json").read_text())
        assert summary["shard"]["index"] == i and [r["id"] for r in summary["runs"]] == summary["shard"]["cells"]
        cells += summary["shard"]["cells"]
        shutil.move(str(tmp_path / f"m{i}"), str(tmp_path / "artifacts" / f"shard-{i}"))  # the machine is gone
    assert sorted(cells) == sorted(r for r, _ in verdicts(whole_dir))  # disjoint and whole

    code, out, err = finish(harness("suite", "merge", str(tmp_path / "artifacts"), "--out", str(tmp_path / "merged")))
    merged = tmp_path / "merged"
    assert code == whole_code, err
    assert verdicts(merged) == verdicts(whole_dir)
    assert junit_cases(merged / "junit.xml") == junit_cases(whole_dir / "junit.xml")
    assert any(c[2] == "failure" for c in junit_cases(merged / "junit.xml"))
    summary = json.loads((merged / "summary.json").read_text())
    assert summary["exit_code"] == 1 and summary["valid"] is False and summary["merge"]["incomplete"] == []
    page = (merged / "summary.html").read_text()
    assert "<title>Suite eight: FAIL</title>" in page
    for r in summary["runs"]:  # every run found in the downloaded artifacts, on the comparison page
        assert r["run_dir"] and Path(r["run_dir"]).is_relative_to(tmp_path / "artifacts")
        assert Path(r["run_dir"]).name in page

    # shard 3 never arrives, shard 2's summary is garbage: both named, their cells unknown, the merge never passes
    for s2 in (tmp_path / "artifacts" / "shard-2").rglob("summary.json"):
        s2.write_text("{not json")
    code, out, err = finish(harness("suite", "merge", str(tmp_path / "artifacts" / "shard-1"),
                                    str(tmp_path / "artifacts" / "shard-2"), str(tmp_path / "artifacts" / "nowhere"),
                                    "--out", str(tmp_path / "partial"), "--fail-on", "invalid"))
    part = json.loads((tmp_path / "partial" / "summary.json").read_text())
    assert "shard 2/3 missing" in err and "shard 3/3 missing" in err and "nowhere" in err
    assert part["valid"] is not True and part["merge"]["incomplete"] == [2, 3]
    present = [r["valid"] for r in part["runs"] if not r["error"].startswith("shard ")]
    assert code == (1 if False in present else 2)  # never 0, even with --fail-on invalid
    gone = [r for r in part["runs"] if r["error"].startswith("shard ")]
    assert gone and all(r["valid"] == "unknown" for r in gone)
    assert len(part["runs"]) == 8


def test_shards_of_different_suites_are_refused(tmp_path: Path) -> None:
    for name, text in (("a", EIGHT), ("b", EIGHT.replace("seed: [1, 2, 3, 4, 5, 6]", "seed: [1, 2, 3, 4, 5, 9]"))):
        d = tmp_path / name
        d.mkdir()
        s = load_suite(str(_write(tmp_path / f"{name}.yaml", text)))
        (d / "summary.json").write_text(json.dumps({"suite": s.name, "shard": shard_header(s, Shard(1, 3)),
                                                    "fail_on": "unknown", "runs": []}))
    code, _out, err = finish(harness("suite", "merge", str(tmp_path / "a"), str(tmp_path / "b"),
                                     "--out", str(tmp_path / "m")))
    assert code == 254 and "not shards of the same suite file" in err and len(err.strip().splitlines()) == 1


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
