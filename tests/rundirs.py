"""Where a run wrote its files under a --results directory, and the one way tests run `harness run` as a user
would (`harness_run`: a subprocess, its output captured, its run directory found; `sigkilled_run`: one killed with
SIGKILL mid-workload, for `harness cleanup` to clear up).

A run writes `<results>/<test name>/<run id>/`; beside it are `latest` links (`<results>/latest`, `<results>/<test
name>/latest`), and an invalid run also holds copies of some files (its `bundle/`, `minimal/`). A test asking for
"the run's results.json" wants the run directory itself, found once. Owns only test plumbing; what a test asserts
about a run lives in the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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


@dataclass(frozen=True)
class KilledRun:
    """A `harness run` SIGKILLed mid-workload: its run id, its --results directory, and the environment (a state
    directory of its own) under which `harness cleanup` finds its ledger and no other run's."""

    run_id: str
    results: Path
    env: dict[str, str]


def _history_has_ops(history: Path) -> bool:
    return history.stat().st_size > 1000


def sigkilled_run(root: Path, *args: str, within: float = 90,
                  started: Callable[[Path], bool] = _history_has_ops) -> KilledRun:
    """`harness run --results ROOT/results ARGS...` with its ledger under ROOT/state, SIGKILLed (its whole
    session) once `started` holds for its history.jsonl; AssertionError if the run ends first or `within` s pass."""
    env = {**ENV, "HARNESS_STATE_DIR": str(root / "state")}
    results = root / "results"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--results", str(results), *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + within
        while not any(started(h) for h in results.glob("*/*/history.jsonl")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended or never got under way"
            time.sleep(0.3)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    [ledger] = list((root / "state" / "ledger").glob("*.jsonl"))
    return KilledRun(ledger.name.removesuffix(".jsonl"), results, env)


def harness_cleanup(env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m harness cleanup` under `env` (a KilledRun's), never raising on its exit code."""
    return subprocess.run([sys.executable, "-m", "harness", "cleanup"], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
