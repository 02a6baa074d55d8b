"""The shipped examples stay valid: the example suite validates, the GitHub Actions workflow is well formed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_suite_validates_against_the_schema_and_plugins() -> None:
    p = subprocess.run([sys.executable, "-m", "harness", "suite", "validate", str(EXAMPLES / "suite.yaml")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.split()) == 8  # 2 systems x 2 nemeses x 2 seeds


def test_example_workflow_runs_the_suite_uploads_results_and_gates() -> None:
    wf = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = wf["jobs"]["suite"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "harness suite run examples/suite.yaml" in runs and "--fail-on invalid" in runs
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and s["with"]["path"] == "results/"
               for s in steps)
    # sharded over a matrix, each machine its own slice; then one merge job over every shard's artifact
    shards = wf["jobs"]["suite"]["strategy"]["matrix"]["shard"]
    assert "--shard ${{ matrix.shard }}/" + str(len(shards)) in runs and shards == list(range(1, len(shards) + 1))
    merge = wf["jobs"]["merge"]
    assert merge["needs"] == "suite" and merge["if"] == "always()"
    merge_runs = " ".join(s.get("run", "") for s in merge["steps"])
    assert "harness suite merge shards/ --out merged/" in merge_runs
    assert any(s.get("uses", "").startswith("actions/download-artifact") for s in merge["steps"])
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and "merged/" in s["with"]["path"]
               for s in merge["steps"])
