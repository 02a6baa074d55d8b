"""The comparison page: several runs side by side (systems, versions, nemeses).

Owns `RunDigest` (what one run contributes to a comparison: verdicts, anomaly counts, latency p50/p99,
throughput, availability and recovery under each fault, its fault windows with the client ops in each and
whether each fault's evidence shows it in effect), `SuiteGate` (a suite's pass/fail, the gate's exit code and its
cells, which a suite's summary page opens with, failing cells first) and `render_comparison`. Does not own the
run page or any verdict: it reads each run's results.json and history.jsonl.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.checker import Validity
from harness.coverage import Coverage, fault_intervals
from harness.evidence import FaultRecord, fault_records
from harness.report import frames, plots
from harness.report.diagnosis import CheckerRow, checker_rows
from harness.report.page import _attempt, _fallback_html, _write_atomic, run_coverage
from harness.report.rundir import RunDir
from harness.report.stats import (
    PackageStats,
    RunStats,
    per_fault,
    per_package,
    run_stats,
)
from harness.report.templating import render


@dataclass(frozen=True, kw_only=True)
class GateCell:
    """One cell of a suite matrix as the gate sees it: its id, verdict, why it is not valid, its run directory."""

    id: str
    valid: Validity
    why: str = ""
    run_dir: str | None = None
    judged: bool = True  # False: its run ended without a verdict (bad input, crash, never ran); fails any gate


@dataclass(frozen=True, kw_only=True)
class SuiteGate:
    """A suite's answer: the gate's exit code under `--fail-on` and every cell."""

    suite: str
    exit_code: int
    fail_on: str  # "invalid" or "unknown"
    cells: tuple[GateCell, ...]

    @property
    def passed(self) -> bool:
        return self.exit_code == 0

    def fails(self, cell: GateCell) -> bool:
        return cell.valid is False or not cell.judged or (cell.valid is not True and self.fail_on == "unknown")

    @property
    def failing(self) -> list[GateCell]:
        return [c for c in self.cells if self.fails(c)]

    @property
    def uncertain(self) -> list[GateCell]:
        """Unknown cells that do not fail the gate (--fail-on invalid)."""
        return [c for c in self.cells if c.valid is not True and not self.fails(c)]

    def first(self, run_dirs: Sequence[str | os.PathLike[str]]) -> list[str | os.PathLike[str]]:
        """`run_dirs` with the failing cells' first, then the unknown ones, then the rest."""
        rank = {os.path.abspath(c.run_dir): 0 if self.fails(c) else 1 if c.valid is not True else 2
                for c in self.cells if c.run_dir}
        return sorted(run_dirs, key=lambda d: rank.get(os.path.abspath(d), 2))


@dataclass(kw_only=True)
class RunDigest:
    run: RunDir
    label: str
    link: str  # to the run's report.html, relative to the comparison page
    checkers: list[CheckerRow] = field(default_factory=list)
    by_class: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    stats: RunStats | None = None
    packages: list[PackageStats] = field(default_factory=list)
    window_s: float = 1.0
    rate_x: list[float] = field(default_factory=list)
    rate_y: list[float] = field(default_factory=list)
    coverage: Coverage | None = None
    faults: list[FaultRecord] = field(default_factory=list)

    @property
    def thinnest(self) -> int | None:
        """The fewest client ops completed in any fault window (None: no windows)."""
        return min((w.total.completed for w in self.coverage.windows), default=None) if self.coverage else None

    @property
    def not_in_effect(self) -> int:
        return sum(1 for f in self.faults if f.state != "in effect")

    @property
    def valid(self) -> Validity:
        return self.run.valid

    @property
    def version(self) -> str:
        sysname = self.run.summary.system or self.run.test.options.get("system", "")
        return self.run.test.versions.get(sysname, "") if sysname else ""

    def checker(self, name: str) -> CheckerRow | None:
        return next((c for c in self.checkers if c.name == name and c.depth == 0), None)

    def package(self, label: str) -> PackageStats | None:
        return next((p for p in self.packages if p.label == label), None)


def digest(run: RunDir, out_dir: Path, problems: list[str]) -> RunDigest:
    s = run.summary
    nem = "+".join(s.nemeses) if s.nemeses else run.test.options.get("nemeses", "") or "no faults"
    sysname = s.system or run.test.options.get("system", "?")
    version = run.test.versions.get(sysname, "")
    label = f"{sysname} {version} / {s.workload or run.test.options.get('workload', '?')} / {nem} / {run.run_id}"
    d = RunDigest(run=run, label=label.replace("  ", " "), link=os.path.relpath(run.path / "report.html", out_dir))
    where = f"{run.path}: "
    d.checkers = _attempt(problems, where + "checker table", lambda: checker_rows(run.verdict)) or []
    findings = run.verdict.all_findings()
    d.by_class = dict(Counter(f.failure_class.value for f in findings))
    d.by_kind = dict(Counter(f.kind for f in findings))
    history = _attempt(problems, where + "reading history.jsonl", run.history)
    if history is None:
        return d
    ops = _attempt(problems, where + "ops table", lambda: frames.ops_frame(history))
    if ops is None:
        return d
    end = frames.history_end_s(history)
    d.stats = _attempt(problems, where + "statistics", lambda: run_stats(ops, s.duration_s or end))
    pk = run.test.packages or frames.infer_packages(history)
    intervals = _attempt(problems, where + "fault intervals", lambda: fault_intervals(history, pk)) or []
    faults = _attempt(problems, where + "per fault", lambda: per_fault(ops, intervals, run.test.nodes)) or []
    d.coverage = _attempt(problems, where + "fault windows", lambda: run_coverage(history, pk, run))
    d.faults = _attempt(problems, where + "fault evidence", lambda: fault_records(history, pk)) or []
    d.packages = _attempt(problems, where + "per package", lambda: per_package(ops, faults, intervals)) or []
    d.window_s = frames.choose_window(end)
    w = _attempt(problems, where + "windows", lambda: frames.per_window(ops, d.window_s, end))
    if w is not None:
        d.rate_x = w["t_s"].round(3).tolist()
        d.rate_y = w["ok_per_s"].round(2).tolist()
    return d


def _figures(ds: list[RunDigest], fault_labels: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    names = [f"#{i + 1}" for i in range(len(ds))]
    hover = [d.label for d in ds]
    out["latency"] = plots.bars_svg(
        "cmp-latency", names, [(q, [getattr(d.stats.latency, q) if d.stats else None for d in ds])
                               for q in ("p50", "p99")], "latency of ok ops (ms)", hover=hover)
    out["availability"] = plots.bars_svg(
        "cmp-availability", names,
        [(label, [p.counts.availability if (p := d.package(label)) else None for d in ds]) for label in fault_labels],
        "availability under each fault", percent=True, hover=hover)
    # one x for every run: the union of their window starts, each run's value held until its next window
    xs = sorted({x for d in ds for x in d.rate_x})
    named = [(f"{name} {d.label}", _held_at(d.rate_x, d.rate_y, xs)) for name, d in zip(names, ds)]
    out["throughput"] = plots.fragment(plots.lines_figure(xs, named, "ok ops/s"), "cmp-throughput")
    return out


def _held_at(x: list[float], y: list[float], at: list[float]) -> list[float | None]:
    """y (a step function starting at each x) read at each point of `at`; None before the first x or after the
    last window of the run."""
    if not x:
        return [None for _ in at]
    step = x[1] - x[0] if len(x) > 1 else 1.0
    pos = np.searchsorted(np.asarray(x), np.asarray(at), side="right") - 1
    return [None if p < 0 or a > x[-1] + step else y[p] for p, a in zip(pos.tolist(), at)]


def render_comparison(run_dirs: Sequence[str | os.PathLike[str]], out_path: str | os.PathLike[str],
                      gate: SuiteGate | None = None) -> list[str]:
    """Write a comparison page of `run_dirs` to `out_path`; return the problems met. Never raises; a run that
    cannot be read is listed as a problem and left out. With a suite's `gate` the page opens with its pass/fail
    banner, the gate's exit code and the failing cells, and lists the failing runs first."""
    problems: list[str] = []
    out = Path(out_path)
    if gate is not None:
        run_dirs = gate.first(run_dirs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [f"cannot create {out.parent}: {e.strerror}"]
    ds: list[RunDigest] = []
    for rd in run_dirs:
        try:
            # through a `latest` link to the run it names now, so the page keeps pointing at it after newer runs
            run = RunDir.load(Path(rd).resolve())
        except Exception as e:  # noqa: BLE001 - an unreadable run is left out and reported
            problems.append(f"reading {rd} failed: {e}")
            continue
        d = _attempt(problems, f"summarizing {rd}", functools.partial(digest, run, out.parent.resolve(), problems))
        if d is not None:
            ds.append(d)
    classes = sorted({c for d in ds for c in d.by_class})
    kinds = sorted({k for d in ds for k in d.by_kind})
    checkers = list(dict.fromkeys(c.name for d in ds for c in d.checkers if c.depth == 0))
    fault_labels = list(dict.fromkeys(p.label for d in ds for p in d.packages))
    figs = _attempt(problems, "comparison plots", lambda: _figures(ds, fault_labels)) if ds else None
    html = _attempt(problems, "rendering the comparison", lambda: render(
        "compare.html.j2", runs=ds, classes=classes, kinds=kinds, checkers=checkers, fault_labels=fault_labels,
        figs=figs or {}, problems=problems, gate=gate,
        gate_link=lambda c: _report_link(c.run_dir, out.parent)))
    if html is None:
        html = _fallback_html("comparison", "see problems", problems)
    _attempt(problems, f"writing {out}", lambda: _write_atomic(out, html))
    return problems


def _report_link(run_dir: str | None, page_dir: Path) -> str:
    return os.path.relpath(os.path.join(run_dir, "report.html"), page_dir.resolve()) if run_dir else ""
