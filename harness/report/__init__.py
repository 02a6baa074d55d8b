"""Reports of runs: the run page, comparisons, junit.xml, exports and a results browser.

Owns the `harness.report` package: `render_run(run_dir)` (report.html + junit.xml, called by the runner after
checking) and `render_comparison(run_dirs, out_path)`; the click commands `report`, `export` and `serve` live in
`harness.report.commands` for the CLI to add. Does not own running, checking or the verdict: reports read
results.json and never change it.

    rundir      typed view of a run directory (test.json, results.json, history.jsonl, files)
    frames      history -> pandas tables: ops, fault intervals, per-window throughput/availability/latency
    stats       run, per-fault and per-package statistics, recovery times
    diagnosis   checker rows and findings answered in four questions
    plots       plot specs (drawn by templates/plots.js with the vendored uPlot);  timeline: the op columns
    page        the run page and render_run;  compare: the comparison page and render_comparison
    junit       junit.xml;  export: ops table as csv/parquet;  serve: results browser;  sample: synthetic runs
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


def render_run(run_dir: str | os.PathLike[str], *, bundle: bool | None = None) -> list[str]:
    """Write report.html and junit.xml into run_dir; return problems met. Never raises; never changes a verdict.
    `bundle`: the reproduction bundle is being written with this page (default: whether it exists)."""
    try:
        from harness.report.page import render_run as _render_run
    except Exception as e:  # noqa: BLE001 - an import problem (missing dependency) must not crash the runner
        return [f"report unavailable: {type(e).__name__}: {e}"]
    return _render_run(run_dir, bundle=bundle)


def render_comparison(run_dirs: Sequence[str | os.PathLike[str]], out_path: str | os.PathLike[str],
                      gate: Any = None) -> list[str]:
    """Write a comparison page of several runs to out_path (a suite's summary with its `gate`, a
    harness.report.compare.SuiteGate); return problems met. Never raises."""
    try:
        from harness.report.compare import render_comparison as _render_comparison
    except Exception as e:  # noqa: BLE001 - as above
        return [f"report unavailable: {type(e).__name__}: {e}"]
    return _render_comparison(run_dirs, out_path, gate)


__all__ = ["render_comparison", "render_run"]
