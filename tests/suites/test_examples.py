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
