"""The run page: report.html of one run directory, and `render_run`, which the runner calls after checking.

Owns `RunPage` (everything the run template shows, computed section by section so that one failing section
becomes a line in `problems` and a note on the page instead of a missing report) and `render_run`. Does not own
the verdict: rendering reads results.json and never changes it, the exit code or any checker file.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pandas as pd

from harness.checker import UNKNOWN, validity_name
from harness.coverage import Coverage, FaultFamily, coverage, fault_intervals
from harness.gcpause import paused_gc
from harness.op import History
from harness.options import RunOptions
from harness.report import frames, plots
from harness.report.diagnosis import CheckerRow, ClassGroup, checker_rows, diagnose
from harness.report.evidence import EvidenceRow, evidence_rows
from harness.report.junit import write_junit
from harness.report.reproduction import Reproduction, reproduction
from harness.report.rundir import RunDir
from harness.report.stats import (
    FaultStats,
    PackageStats,
    RunStats,
    per_fault,
    per_package,
    run_stats,
)
from harness.report.templating import render
from harness.report.timeline import timeline_payload

T = TypeVar("T")
EMBED_SUFFIXES = (".html", ".htm", ".svg")
MAX_EMBED_BYTES = 3_000_000  # larger checker pages are linked, not embedded


@dataclass(frozen=True, kw_only=True)
class Artifact:
    checker: str
    path: str  # relative to the run directory
    embed: bool
    content: str | None = None  # the file itself for embedding with srcdoc, so the page needs no other file
    # (not sandboxed: these pages are the harness's own checkers' output, and headless Chromium does not paint
    # sandboxed out-of-process frames in screenshots)


@dataclass(kw_only=True)
class RunPage:
    run: RunDir
    checkers: list[CheckerRow] = field(default_factory=list)
    groups: list[ClassGroup] = field(default_factory=list)
    stats: RunStats | None = None
    faults: list[FaultStats] = field(default_factory=list)
    packages: list[PackageStats] = field(default_factory=list)
    coverage: Coverage | None = None
    evidence: list[EvidenceRow] = field(default_factory=list)
    window_s: float = 1.0
    latency_html: str | None = None
    throughput_html: str | None = None
    ops_header: str | None = None  # the op columns (harness.report.timeline), shared by timeline and latency plot
    ops_blob: str = ""
    timeline_ops: int = 0
    artifacts: list[Artifact] = field(default_factory=list)
    node_logs: dict[str, list[str]] = field(default_factory=dict)
    has_harness_log: bool = False
    reproduction: Reproduction | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def verdict_name(self) -> str:
        return validity_name(self.run.valid)

    @property
    def include_plots(self) -> bool:
        return self.latency_html is not None or self.throughput_html is not None or self.ops_header is not None


def _attempt(problems: list[str], what: str, fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - a failing section is reported on the page, never fatal
        problems.append(f"{what} failed: {type(e).__name__}: {e}")
        if os.environ.get("HARNESS_REPORT_DEBUG"):
            traceback.print_exc()
        return None


def _artifact(root: Path, checker: str, rel: str, problems: list[str]) -> Artifact:
    p = root / rel
    if not rel.lower().endswith(EMBED_SUFFIXES):
        return Artifact(checker=checker, path=rel, embed=False)
    try:
        if p.stat().st_size > MAX_EMBED_BYTES:
            return Artifact(checker=checker, path=rel, embed=False)
        return Artifact(checker=checker, path=rel, embed=True, content=p.read_text(encoding="utf-8", errors="replace"))
    except OSError as e:
        problems.append(f"embedding {rel} failed: {e.strerror}")
        return Artifact(checker=checker, path=rel, embed=False)


def build_run_page(run: RunDir, *, bundle: bool | None = None) -> RunPage:
    with paused_gc():  # a million ops make millions of small objects: see harness.gcpause
        return _build_run_page(run, bundle=bundle)


def _build_run_page(run: RunDir, *, bundle: bool | None = None) -> RunPage:
    page = RunPage(run=run)
    pr = page.problems
    page.reproduction = _attempt(pr, "reproduction", lambda: reproduction(run, bundle=bundle))
    files = _attempt(pr, "listing checker files", run.checker_files) or {}
    page.checkers = _attempt(pr, "checker table", lambda: checker_rows(run.verdict, files)) or []
    page.artifacts = [_artifact(run.path, c, f, pr) for c, fs in files.items() for f in fs]
    page.node_logs = _attempt(pr, "listing node logs", run.node_logs) or {}
    page.has_harness_log = (run.path / "harness.log").is_file()
    history = _attempt(pr, "reading history.jsonl", run.history)
    if history is None:
        return page
    ops = _attempt(pr, "building the ops table", lambda: frames.ops_frame(history))
    if ops is None:
        return page
    end = frames.history_end_s(history)
    duration = run.summary.duration_s or end
    packages = run.test.packages or frames.infer_packages(history)
    names = [p.name for p in packages]
    intervals = _attempt(pr, "finding fault intervals", lambda: fault_intervals(history, packages)) or []
    paired = {c for iv in intervals for c in (iv.start_index, iv.end_index) if c is not None}
    fault_fs = {f for p in packages for f in (*p.start_fs, *p.stop_fs)}
    events = [e for e in frames.nemesis_events(history) if e.index not in paired and e.f not in fault_fs]
    page.coverage = _attempt(pr, "fault coverage", lambda: run_coverage(history, packages, run))
    page.evidence = _attempt(pr, "fault evidence", lambda: evidence_rows(history, packages, page.coverage)) or []
    page.stats = _attempt(pr, "statistics", lambda: run_stats(ops, duration))
    page.faults = _attempt(pr, "availability per fault", lambda: per_fault(ops, intervals, run.test.nodes)) or []
    page.packages = _attempt(pr, "availability per package",
                             lambda: per_package(ops, page.faults, intervals)) or []
    page.groups = _attempt(pr, "diagnosis", lambda: diagnose(run.verdict, history, ops, intervals,
                                                             run.test.nodes)) or []
    page.window_s = frames.choose_window(end)
    windows: pd.DataFrame | None = _attempt(pr, "windowed statistics",
                                            lambda: frames.per_window(ops, page.window_s, end))
    if windows is not None:
        page.latency_html = _attempt(pr, "latency plot", lambda: plots.fragment(
            plots.latency_figure(ops, windows, intervals, events, names), "latency-plot"))
        page.throughput_html = _attempt(pr, "throughput plot", lambda: plots.fragment(
            plots.throughput_figure(windows, page.window_s, intervals, events, names), "throughput-plot"))
    payload = _attempt(pr, "timeline", lambda: timeline_payload(history, ops, run.test.concurrency,
                                                                      intervals, names))
    encoded = _attempt(pr, "encoding the op columns", payload.encode) if payload is not None else None
    if payload is not None and encoded is not None:
        page.ops_header, page.ops_blob = encoded
        page.timeline_ops = len(payload)
    return page


def run_coverage(history: History, packages: Sequence[FaultFamily], run: RunDir) -> Coverage:
    """The fault windows of a recorded run, with its own --min-fault-ops and concurrency (test.json)."""
    raw = run.test.options.get("concurrency")
    return coverage(history, packages, _min_fault_ops(run), raw if isinstance(raw, int) and raw > 0 else None)


def _min_fault_ops(run: RunDir) -> int:
    """The run's --min-fault-ops (test.json), or the default for runs recorded before it existed."""
    raw = run.test.options.get("min_fault_ops")
    try:
        return int(raw) if raw is not None else RunOptions.min_fault_ops
    except ValueError:
        return RunOptions.min_fault_ops


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _fallback_html(title: str, verdict: str, problems: list[str]) -> str:
    from html import escape

    items = "".join(f"<li>{escape(p)}</li>" for p in problems)
    return (f"<!doctype html><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<h1>{escape(title)}: {escape(verdict)}</h1><p>The report could not be rendered:</p><ul>{items}</ul>")


def render_run(run_dir: str | os.PathLike[str], *, bundle: bool | None = None) -> list[str]:
    """Write report.html and junit.xml into `run_dir`; return the problems met (empty when all went well).
    Never raises and never changes results.json, a verdict or an exit code. `bundle`: the reproduction bundle
    is being written with this page (default: whether RUN/bundle.tar.gz exists)."""
    problems: list[str] = []
    path = Path(run_dir)
    try:
        run = RunDir.load(path)
    except Exception:  # noqa: BLE001 - render_run must not raise; run_html says why
        run = None
    if run is not None:
        _attempt(problems, "junit.xml", lambda: write_junit(run, path / "junit.xml"))
    html, more = run_html(path, run, bundle=bundle)
    problems.extend(more)
    if path.is_dir():
        _attempt(problems, "writing report.html", lambda: _write_atomic(path / "report.html", html))
    return problems


def run_html(path: Path, run: RunDir | None = None, *, bundle: bool | None = None) -> tuple[str, list[str]]:
    """The report page of the run directory `path` (or of `run`, already loaded), and the problems met, built in
    memory: nothing is written (`harness serve` shows a run without touching its directory). Never raises."""
    problems: list[str] = []
    if run is None:
        try:
            run = RunDir.load(path)
        except Exception as e:  # noqa: BLE001 - a page is always produced
            problems.append(f"cannot read the run directory: {e}")
            return _fallback_html(path.name, UNKNOWN, problems), problems
    page = _attempt(problems, "building the report", lambda: build_run_page(run, bundle=bundle))
    if page is not None:
        problems.extend(page.problems)
        page.problems = problems
        html = _attempt(problems, "rendering report.html", lambda: render("run.html.j2", page=page))
        if html is not None:
            return html, problems
    return _fallback_html(run.title, validity_name(run.valid), problems), problems
