"""Data for the op timeline: a compact, columnar JSON payload drawn by the page's canvas script.

Owns `timeline_payload` (rows = worker threads, process mod concurrency as in Jepsen, plus a nemesis row; one
entry per op in parallel integer arrays, times in milliseconds) and `script_json` (safe embedding in a
<script type="application/json"> tag). Does not own drawing: `templates/timeline.js` draws only the ops in view
on a <canvas>, so 100,000 ops cost no DOM nodes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.coverage import FaultInterval
from harness.op import INVOKE, History
from harness.report.frames import value_text
from harness.report.plots import fault_color

TYPE_CODES = {"ok": 0, "fail": 1, "info": 2}
VALUE_CHARS = 40


@dataclass(kw_only=True)
class TimelinePayload:
    """Parallel arrays, one entry per op: row, start and end (ms; end -1 = never completed), outcome code
    (index in `types`), f code (index in `fs`), process, history index and a short value."""

    rows: list[str] = field(default_factory=list)
    fs: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=lambda: list(TYPE_CODES))
    row: list[int] = field(default_factory=list)
    s: list[int] = field(default_factory=list)
    e: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)
    f: list[int] = field(default_factory=list)
    p: list[str] = field(default_factory=list)
    i: list[int] = field(default_factory=list)
    v: list[str] = field(default_factory=list)
    faults: list[tuple[str, int, int, str]] = field(default_factory=list)
    end: int = 0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"), ensure_ascii=False)


def timeline_payload(history: History, concurrency: int | None, intervals: Sequence[FaultInterval],
                     packages: Sequence[str]) -> TimelinePayload:
    out = TimelinePayload()
    f_code: dict[str, int] = {}
    row_of: dict[str, int] = {"nemesis": 0}
    out.rows.append("nemesis")
    clients = sorted({op.process for op in history if isinstance(op.process, int)})
    if concurrency:
        for w in range(concurrency):
            row_of[f"w{w}"] = len(out.rows)
            out.rows.append(f"worker {w}")
    else:
        for p in clients:
            row_of[f"p{p}"] = len(out.rows)
            out.rows.append(f"process {p}")
    pairs = list(history.pairs())
    # nemesis completions without an invocation (some nemeses log only completions) are shown as instants
    paired = {c.index for _, c in pairs if c is not None}
    singles = [op for op in history.nemesis_ops() if op.type != INVOKE and op.index not in paired]
    items = [(inv, comp) for inv, comp in pairs] + [(op, op) for op in singles]
    items.sort(key=lambda ic: ic[0].time_ns)
    for inv, comp in items:
        if isinstance(inv.process, int):
            key = f"w{inv.process % concurrency}" if concurrency else f"p{inv.process}"
        else:
            key = "nemesis"
        out.row.append(row_of[key])
        out.s.append(inv.time_ns // 1_000_000)
        out.e.append(comp.time_ns // 1_000_000 if comp is not None else -1)
        out.t.append(TYPE_CODES.get(comp.type, 2) if comp is not None else 2)
        code = f_code.get(inv.f)
        if code is None:
            code = f_code[inv.f] = len(out.fs)
            out.fs.append(inv.f)
        out.f.append(code)
        out.p.append(str(inv.process))
        out.i.append(inv.index)
        val = comp.value if comp is not None and comp.value is not None else inv.value
        out.v.append(value_text(val, VALUE_CHARS))
    out.faults = [(iv.label, int(iv.start_s * 1000), int(iv.end_s * 1000), fault_color(iv.package, packages))
                  for iv in intervals]
    out.end = max((op.time_ns for op in history), default=0) // 1_000_000
    return out


def script_json(text: str) -> str:
    """JSON text safe inside a <script> element (no "</script>" or "<!--" can end it early)."""
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
