"""Where a run wrote its files under a --results directory, and the one way tests run `harness run` as a user
would (`harness_run`: a subprocess, its output captured, its run directory found).

A run writes `<results>/<test name>/<run id>/`; beside it are `latest` links (`<results>/latest`, `<results>/<test
name>/latest`), and an invalid run also holds copies of some files (its `bundle/`, `minimal/`). A test asking for
"the run's results.json" wants the run directory itself, found once. Owns only test plumbing; what a test asserts
about a run lives in the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# CI=true: the console never draws a live progress line, whatever the captured stream claims to be.
ENV = {**os.environ, "CI": "true"}


def run_dirs(results: Path | str) -> list[Path]:
    """Every run directory under `results` (not reached through a `latest` link)."""
    root = Path(results)
    return sorted(p.parent for p in root.glob("*/*/results.json") if "latest" not in p.relative_to(root).parts)


def only_run(results: Path | str) -> Path:
    """The one run directory under `results` (AssertionError naming what was found otherwise)."""
    runs = run_dirs(results)
    assert len(runs) == 1, f"expected one run under {results}, found {runs}"
    return runs[0]


def results_of(run_dir: Path) -> dict[str, Any]:
    """A run's results.json."""
    return dict(json.loads((run_dir / "results.json").read_text()))


def history_of(run_dir: Path) -> list[dict[str, Any]]:
    """A run's history.jsonl, one dict an op."""
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]


def say(p: subprocess.CompletedProcess[str]) -> str:
    """A finished process's exit code and the tails of its output, for an assertion's message."""
    return f"exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"


@dataclass(frozen=True)
class Run:
    """One finished `harness run`: its process and the run directory it printed (the --results directory itself
    when it printed none, e.g. on bad input, so that reading a file from it fails plainly)."""

    process: subprocess.CompletedProcess[str]
    dir: Path

    @property
    def results(self) -> dict[str, Any]:
        return results_of(self.dir)

    @property
    def history(self) -> list[dict[str, Any]]:
        return history_of(self.dir)


def harness_run(results: Path | str, *args: str, timeout: float = 300,
                env: dict[str, str] | None = None) -> Run:
    """`python -m harness run --results RESULTS ARGS...` in a subprocess (never raising on its exit code); the
    run directory is the one the last line of its stdout names (`<run dir>\\t<verdict>`)."""
    p = subprocess.run([sys.executable, "-m", "harness", "run", "--results", str(results), *args],
                       check=False, capture_output=True, text=True, env=ENV if env is None else env, timeout=timeout)
    lines = p.stdout.strip().splitlines()
    run_dir = Path(lines[-1].split("\t")[0]) if lines and "\t" in lines[-1] else Path(results)
    return Run(p, run_dir)
