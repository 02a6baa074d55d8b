"""Where a run wrote its files under a --results directory, for tests that run `harness run` as a user would.

A run writes `<results>/<test name>/<run id>/`; beside it are `latest` links (`<results>/latest`, `<results>/<test
name>/latest`), and an invalid run also holds copies of some files (its `bundle/`, `minimal/`). A test asking for
"the run's results.json" wants the run directory itself, found once."""

from __future__ import annotations

from pathlib import Path


def run_dirs(results: Path | str) -> list[Path]:
    """Every run directory under `results` (not reached through a `latest` link)."""
    root = Path(results)
    return sorted(p.parent for p in root.glob("*/*/results.json") if "latest" not in p.relative_to(root).parts)


def only_run(results: Path | str) -> Path:
    """The one run directory under `results` (AssertionError naming what was found otherwise)."""
    runs = run_dirs(results)
    assert len(runs) == 1, f"expected one run under {results}, found {runs}"
    return runs[0]
