"""Plotly figures of a run: latency over time and throughput/availability, with fault intervals shaded.

Owns turning the tables of `harness.report.frames` into plotly figures and into HTML fragments without
plotly.js (the page embeds plotly.js once). Does not own computing the tables nor the page layout.
Large arrays are float32 numpy arrays, which plotly serializes as compact base64 typed arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from harness.coverage import FaultInterval
from harness.report.frames import NemesisEvent

TYPE_COLORS = {"ok": "#2b8a3e", "fail": "#c92a2a", "info": "#e67700"}
FAULT_COLORS = ("#845ef7", "#1c7ed6", "#f08c00", "#d6336c", "#0ca678", "#5c940d", "#495057")
SYMBOLS = ("circle", "diamond", "square", "triangle-up", "x", "cross", "star", "hexagon")
MAX_SHAPES = 400
MAX_EVENT_LINES = 200
CONFIG = {"displaylogo": False, "responsive": True}


def fault_color(package: str, packages: Sequence[str]) -> str:
    i = list(packages).index(package) if package in packages else 0
    return FAULT_COLORS[i % len(FAULT_COLORS)]


def _shade(fig: go.Figure, intervals: Sequence[FaultInterval], events: Sequence[NemesisEvent],
           packages: Sequence[str]) -> None:
    """Fault intervals as shaded rectangles over the whole plot, each labelled; other nemesis ops as lines."""
    labelled: set[str] = set()
    for iv in intervals[:MAX_SHAPES]:
        color = fault_color(iv.package, packages)
        fig.add_shape(type="rect", xref="x", yref="paper", x0=iv.start_s, x1=iv.end_s, y0=0, y1=1,
                      fillcolor=color, opacity=0.13, line_width=0, layer="below")
        text = iv.label if iv.healed else iv.label + " (never healed)"
        fig.add_annotation(x=iv.start_s, y=1.0, xref="x", yref="paper", text=text, showarrow=False,
                           xanchor="left", yanchor="bottom", font={"size": 10, "color": color})
        labelled.add(iv.package)
    for ev in events[:MAX_EVENT_LINES]:
        fig.add_shape(type="line", xref="x", yref="paper", x0=ev.time_s, x1=ev.time_s, y0=0, y1=1,
                      line={"color": "#868e96", "width": 1, "dash": "dot"}, layer="below")


def latency_figure(ops: pd.DataFrame, windows: pd.DataFrame, intervals: Sequence[FaultInterval],
                   events: Sequence[NemesisEvent], packages: Sequence[str]) -> go.Figure:
    """Latency of every completed op (points by f and outcome) against invocation time, log scale, with the
    p50/p95/p99 of ok ops per window as lines."""
    fig = go.Figure()
    done = ops[ops["completed"]]
    fs = sorted(done["f"].dropna().unique().tolist())
    for fi, f in enumerate(fs):
        for ty in ("ok", "fail", "info"):
            sub = done[(done["f"] == f) & (done["type"] == ty)]
            if not len(sub):
                continue
            fig.add_trace(go.Scattergl(
                x=sub["invoke_s"].to_numpy(dtype=np.float32), y=np.maximum(sub["latency_ms"].to_numpy(dtype=np.float32), 1e-3),
                mode="markers", name=f"{f} {ty}", legendgroup=ty,
                marker={"color": TYPE_COLORS[ty], "symbol": SYMBOLS[fi % len(SYMBOLS)], "size": 4, "opacity": 0.55},
                hovertemplate=f"{f} {ty}<br>t=%{{x:.3f}} s<br>%{{y:.2f}} ms<extra></extra>",
            ))
    for col, dash in (("p50_ms", "solid"), ("p95_ms", "dash"), ("p99_ms", "dot")):
        if windows[col].notna().any():
            fig.add_trace(go.Scatter(
                x=windows["t_s"].to_numpy(dtype=np.float32), y=windows[col].to_numpy(dtype=np.float32),
                mode="lines", line={"color": "#212529", "dash": dash, "width": 1.5, "shape": "hv"},
                name=col.removesuffix("_ms"), connectgaps=False,
                hovertemplate=col.removesuffix("_ms") + " %{y:.2f} ms<extra></extra>",
            ))
    _shade(fig, intervals, events, packages)
    fig.update_layout(template="plotly_white", height=420, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      legend={"orientation": "v"}, xaxis_title="time since test start (s)",
                      yaxis_title="latency (ms)", yaxis_type="log", yaxis_dtick=1, uirevision="latency")
    return fig


def throughput_figure(windows: pd.DataFrame, window_s: float, intervals: Sequence[FaultInterval],
                      events: Sequence[NemesisEvent], packages: Sequence[str]) -> go.Figure:
    """Completions per second by outcome (top) and availability (ok / all completions, bottom), per window."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.06)
    x = windows["t_s"].to_numpy(dtype=np.float32)
    for ty in ("ok", "fail", "info"):
        fig.add_trace(go.Scatter(x=x, y=(windows[ty] / window_s).to_numpy(dtype=np.float32), name=f"{ty}/s",
                                 mode="lines", line={"color": TYPE_COLORS[ty], "shape": "hv", "width": 1.5},
                                 hovertemplate=f"{ty} %{{y:.1f}}/s<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=windows["availability"].to_numpy(dtype=np.float32), name="availability",
                             mode="lines", line={"color": "#1971c2", "shape": "hv", "width": 1.5},
                             hovertemplate="availability %{y:.1%}<extra></extra>"), row=2, col=1)
    _shade(fig, intervals, events, packages)
    fig.update_layout(template="plotly_white", height=420, margin={"l": 60, "r": 20, "t": 40, "b": 40},
                      uirevision="throughput")
    fig.update_yaxes(title_text=f"ops/s ({window_s:g} s windows)", row=1, col=1)
    fig.update_yaxes(title_text="availability", range=[0, 1.05], tickformat=".0%", row=2, col=1)
    fig.update_xaxes(title_text="time since test start (s)", row=2, col=1)
    return fig


def fragment(fig: go.Figure, div_id: str) -> str:
    """The figure as an HTML <div> + inline script, without plotly.js."""
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CONFIG))
