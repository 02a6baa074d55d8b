"""`system-file:` in a suite: resolved against the suite's folder, the run named after the file's system, a bad
system file reported on the suite's line (254), and a real suite run of the Redis example under kill -9."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.suite import load_suite

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "systems"


def _suite(tmp_path: Path, body: str) -> Path:
    shutil.copy(EXAMPLES / "redis.yaml", tmp_path / "redis.yaml")
    path = tmp_path / "gate.yaml"
    path.write_text(body)
    return path


def test_system_file_in_a_suite_names_the_run_and_passes_the_file(tmp_path: Path) -> None:
    path = _suite(tmp_path, "name: gate\ndefaults: {cluster: local, nodes: 1, time-limit: 8}\n"
                            "matrix: {nemesis: [kill]}\nruns: []\n".replace("matrix: {nemesis: [kill]}\nruns: []\n",
                            "matrix: {seed: [1]}\nruns:\n  - {system-file: redis.yaml, nemesis: kill}\n"))
    with pytest.raises(BadInput, match="a run has no system"):  # the matrix rows name no system
        load_suite(str(path))
    path.write_text("name: gate\ndefaults: {cluster: local, nodes: 1, time-limit: 8, system-file: redis.yaml}\n"
                    "matrix: {nemesis: [kill], seed: [1]}\n")
    suite = load_suite(str(path))
    assert [r.id for r in suite.runs] == ["redis-standalone-register-kill-s1"]
    argv = suite.runs[0].argv("results")
    assert argv[1:3] == ["--system-file", str(tmp_path / "redis.yaml")]


def test_a_bad_system_file_is_the_suite_line_that_names_it(tmp_path: Path) -> None:
    path = _suite(tmp_path, "name: gate\ndefaults: {system-file: nope.yaml}\nmatrix: {seed: [1]}\n")
    with pytest.raises(BadInput) as e:
        load_suite(str(path))
    assert str(e.value).startswith(f"{path}:2: system-file: --system-file {tmp_path / 'nope.yaml'}"), str(e.value)
    (tmp_path / "bad.yaml").write_text((EXAMPLES / "redis.yaml").read_text().replace("protocol: redis", "protocol: x"))
    path.write_text("name: gate\nmatrix: {seed: [1]}\ndefaults:\n  system-file: bad.yaml\n")
    with pytest.raises(BadInput) as e:
        load_suite(str(path))
    assert f"{path}:4: system-file: {tmp_path / 'bad.yaml'}:" in str(e.value) and "client.protocol" in str(e.value)


@pytest.mark.cluster
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_suite_runs_a_system_file(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("redis-server") is None or shutil.which("ip") is None:
        pytest.skip("needs root, iproute2 and redis-server")
    path = _suite(tmp_path, "name: gate\ndefaults: {cluster: local, nodes: 1, time-limit: 8, system-file: redis.yaml,"
                            " nemesis-opts: {kill-targets: one}}\nmatrix: {nemesis: [kill], seed: [2]}\n")
    p = subprocess.run([sys.executable, "-m", "harness", "suite", "run", str(path), "--results", str(tmp_path / "r")],
                       capture_output=True, text=True, timeout=280)
    out = Path(p.stdout.strip().split("\t")[0])
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["id"], r["valid"]) for r in summary["runs"]] == [("redis-standalone-register-kill-s2", True)], p.stderr
    assert p.returncode == 0
