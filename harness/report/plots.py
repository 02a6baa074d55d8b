"""The plots of the report pages: latency over time and throughput/availability with fault windows shaded, and
the comparison page's bars and lines.

Owns turning the tables of `harness.report.frames` into plot specs (small typed JSON that `templates/plots.js`
draws with the vendored uPlot, see static/README.md for why uPlot) and `fragment`, the HTML of one plot: a <div>
and its spec in a <script type="application/json">. The latency plot's points are not in its spec: every
completed client op is drawn from the page's op columns (`harness.report.timeline`), which the timeline shares,
so a run's ops are in the page once. Bar charts (few values) are inline SVG built here, with no script.
Does not own computing the tables nor the page layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from html import escape

import numpy as np
import pandas as pd

from harness.coverage import FaultInterval
from harness.report.frames import NemesisEvent
from harness.report.templating import script_json

TYPE_COLORS = {"ok": "#2b8a3e", "fail": "#c92a2a", "info": "#e67700"}
FAULT_COLORS = ("#845ef7", "#1c7ed6", "#f08c00", "#d6336c", "#0ca678", "#5c940d", "#495057")
SERIES_COLORS = ("#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#f08c00", "#0c8599", "#c2255c", "#5c940d")
MAX_SHAPES = 400
MAX_EVENT_LINES = 200


def fault_color(package: str, packages: Sequence[str]) -> str:
    i = list(packages).index(package) if package in packages else 0
    return FAULT_COLORS[i % len(FAULT_COLORS)]


@dataclass(frozen=True)
class Band:
    """A fault window shaded over a plot, labelled at its start."""

    label: str
    start_s: float
    end_s: float
    color: str


@dataclass(frozen=True)
class Mark:
    """Any other nemesis op, drawn as a dotted vertical line."""

    time_s: float
    text: str


@dataclass(frozen=True)
class Line:
    name: str
    y: list[float | None]
    color: str
    dash: bool = False
    percent: bool = False  # values are shares, shown as %


@dataclass(frozen=True, kw_only=True)
class PlotSpec:
    """What plots.js draws: `kind` ("latency", "throughput" or "lines"), x values (seconds since the test
    started), lines over x (stepped: each holds until the next x), and `panels` of lines drawn as separate charts
    below with the same x (the availability under the throughput)."""

    kind: str
    x: list[float]
    lines: list[Line]
    y_label: str
    panels: list[list[Line]] = field(default_factory=list)
    panel_labels: list[str] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    colors: dict[str, str] = field(default_factory=lambda: dict(TYPE_COLORS))
    height: int = 420

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _values(a: np.ndarray | pd.Series, digits: int = 4) -> list[float | None]:
    return [None if not math.isfinite(v) else round(float(v), digits) for v in np.asarray(a, dtype=np.float64)]


def _decor(intervals: Sequence[FaultInterval], events: Sequence[NemesisEvent],
           packages: Sequence[str]) -> tuple[list[Band], list[Mark]]:
    bands = [Band(iv.label if iv.healed else iv.label + " (never healed)", round(iv.start_s, 4), round(iv.end_s, 4),
                  fault_color(iv.package, packages)) for iv in intervals[:MAX_SHAPES]]
    marks = [Mark(round(ev.time_s, 4), f"{ev.f} {ev.type} {ev.value}".strip()) for ev in events[:MAX_EVENT_LINES]]
    return bands, marks


def _x_to_end(windows: pd.DataFrame, end_s: float) -> list[float]:
    """Window starts plus the end of the run, so the last stepped value holds until the run ended."""
    t = _values(windows["t_s"])
    last = t[-1] if t and t[-1] is not None else 0.0
    return [v if v is not None else 0.0 for v in t] + [round(max(end_s, last), 4)]


def _held(a: list[float | None]) -> list[float | None]:
    return a + a[-1:]


def latency_figure(ops: pd.DataFrame, windows: pd.DataFrame, intervals: Sequence[FaultInterval],
                   events: Sequence[NemesisEvent], packages: Sequence[str]) -> PlotSpec:
    """Latency of every completed op against invocation time, log scale (the points come from the op columns),
    with the p50/p95/p99 of ok ops per window as lines."""
    end_s = float(ops["complete_s"].max()) if len(ops) and ops["complete_s"].notna().any() else 0.0
    lines = [Line(col.removesuffix("_ms"), _held(_values(windows[col])), "#212529", dash=col != "p50_ms")
             for col in ("p50_ms", "p95_ms", "p99_ms") if windows[col].notna().any()]
    bands, marks = _decor(intervals, events, packages)
    return PlotSpec(kind="latency", x=_x_to_end(windows, end_s), lines=lines, y_label="latency (ms)",
                    bands=bands, marks=marks)


def throughput_figure(windows: pd.DataFrame, window_s: float, intervals: Sequence[FaultInterval],
                      events: Sequence[NemesisEvent], packages: Sequence[str]) -> PlotSpec:
    """Completions per second by outcome (top) and availability (ok or refused / all completions, below), per
    window."""
    end_s = float(windows["t_s"].iloc[-1]) + window_s if len(windows) else window_s
    lines = [Line(f"{ty}/s", _held(_values(windows[ty] / window_s, 2)), TYPE_COLORS[ty]) for ty in TYPE_COLORS]
    availability = Line("availability", _held(_values(windows["availability"])), "#1971c2", percent=True)
    bands, marks = _decor(intervals, events, packages)
    return PlotSpec(kind="throughput", x=_x_to_end(windows, end_s), lines=lines,
                    y_label=f"ops/s ({window_s:g} s windows)", panels=[[availability]],
                    panel_labels=["availability"], bands=bands, marks=marks, height=280)


def lines_figure(x: Sequence[float], named: Sequence[tuple[str, Sequence[float | None]]], y_label: str) -> PlotSpec:
    """Several stepped lines over one x (the comparison's ok throughput of each run)."""
    lines = [Line(name, [None if v is None or not math.isfinite(v) else round(v, 3) for v in ys],
                  SERIES_COLORS[i % len(SERIES_COLORS)]) for i, (name, ys) in enumerate(named)]
    return PlotSpec(kind="lines", x=[round(v, 4) for v in x], lines=lines, y_label=y_label, height=340)


def fragment(spec: PlotSpec, div_id: str) -> str:
    """The plot as an HTML <div> and its spec, which plots.js finds by the div's id."""
    return (f'<div id="{escape(div_id)}" class="plot" data-kind="{escape(spec.kind)}"></div>'
            f'<script type="application/json" class="plot-spec" data-for="{escape(div_id)}">'
            f"{script_json(spec.to_json())}</script>")


def _nice_top(v: float) -> float:
    """The smallest 4 x (1, 2, 2.5 or 5 x 10^k) at or above v: an axis top whose quarters are round numbers."""
    if v <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(v / 4))
    return 4 * next(m * exp for m in (1, 2, 2.5, 5, 10) if 4 * m * exp >= v)


def bars_svg(div_id: str, groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
             y_label: str, *, percent: bool = False, hover: Sequence[str] = ()) -> str:
    """A grouped bar chart as inline SVG (one group per run, one bar per series), each bar titled with its value."""
    width, height, left, bottom, top = 900, 300, 70, 40, 30
    vals = [v for _, ys in series for v in ys if v is not None and math.isfinite(v)]
    y_max = 1.0 if percent else _nice_top(max(vals) if vals else 0.0)
    plot_w, plot_h = width - left - 20, height - top - bottom
    group_w = plot_w / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)

    def fmt(v: float) -> str:
        return f"{v * 100:.1f}%" if percent else f"{v:.3g}"

    parts = [f'<svg id="{escape(div_id)}" class="bars" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(y_label)}">']
    for k in range(5):
        v = y_max * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
    for gi, g in enumerate(groups):
        x0 = left + gi * group_w + group_w * 0.1
        title = escape(hover[gi]) if gi < len(hover) else escape(g)
        parts.append(f'<text x="{left + (gi + 0.5) * group_w:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
                     f"{escape(g)}<title>{title}</title></text>")
        for si, (name, ys) in enumerate(series):
            bar = ys[gi] if gi < len(ys) else None
            if bar is None or not math.isfinite(bar):
                continue
            h = plot_h * min(bar / y_max, 1.0)
            parts.append(f'<rect x="{x0 + si * bar_w:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w * 0.95:.1f}" '
                         f'height="{h:.1f}" fill="{SERIES_COLORS[si % len(SERIES_COLORS)]}">'
                         f"<title>{escape(name)} {title}: {fmt(bar)}</title></rect>")
    legend = "".join(f'<tspan fill="{SERIES_COLORS[i % len(SERIES_COLORS)]}">\u25a0</tspan> {escape(name)}  '
                     for i, (name, _) in enumerate(series))
    parts.append(f'<text x="{left}" y="{top - 12}">{escape(y_label)}:  {legend}</text></svg>')
    return "".join(parts)
