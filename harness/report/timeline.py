"""The ops of a run as compact columns, for the page's op timeline and its latency scatter.

Owns `timeline_payload` (one entry per op, invocation paired with completion, rows = worker threads, process mod
concurrency as in Jepsen, plus a nemesis row) and its encoding for the page, `OpColumns.encode()`: a small JSON
header and one base64 blob of zlib-compressed int32 columns (start as deltas in microseconds, duration, row,
outcome, f, process, history index as deltas, value) followed by the value table. The page inflates it with the
browser's own DecompressionStream, so a million ops cost a few MB instead of tens of MB of JSON. Does not own drawing: `templates/timeline.js` draws the ops in view on a
<canvas> and `templates/plots.js` draws the latency scatter from the same columns.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from harness.coverage import FaultInterval
from harness.op import INVOKE, History, Op
from harness.report.frames import value_text
from harness.report.plots import fault_color
from harness.report.templating import script_json

TYPE_CODES = {"ok": 0, "fail": 1, "info": 2}
VALUE_CHARS = 40
COLUMNS = ("ds", "dur", "row", "t", "f", "p", "di", "v")  # int32 each, in this order in the blob
INT32_MAX = 2**31 - 1
ZLIB_LEVEL = 6  # level 1 is ~30% larger and hardly faster on these columns (bench/report.py)


@dataclass(kw_only=True)
class OpColumns:
    """Parallel columns, one entry per op in invocation order: start and duration (microseconds since the test
    started; duration -1 = never completed), row, outcome (index in `types`), f (index in `fs`), process (an
    integer; negative -k-1 names `procs[k]`, e.g. the nemesis), history index, and value (index in `values`)."""

    rows: list[str] = field(default_factory=list)
    fs: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=lambda: list(TYPE_CODES))
    procs: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    start_us: list[int] = field(default_factory=list)
    dur_us: list[int] = field(default_factory=list)
    row: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)
    f: list[int] = field(default_factory=list)
    p: list[int] = field(default_factory=list)
    i: list[int] = field(default_factory=list)
    v: list[int] = field(default_factory=list)
    faults: list[tuple[str, int, int, str]] = field(default_factory=list)  # label, start ms, end ms, colour
    end: int = 0  # ms

    def __len__(self) -> int:
        return len(self.start_us)

    def encode(self) -> tuple[str, str]:
        """(header JSON for a <script type="application/json">, base64 of the compressed columns)."""
        start = np.asarray(self.start_us, dtype=np.int64)
        index = np.asarray(self.i, dtype=np.int64)
        # Deltas of sorted starts and of history indexes stay small, so zlib packs them to a byte or two; a gap
        # between two invocations over 35 minutes would overflow int32, so it is clamped (a hack: such a run
        # draws that op early; no run here pauses its clients that long).
        ds = np.clip(np.diff(start, prepend=0), -INT32_MAX, INT32_MAX)
        di = np.diff(index, prepend=0)
        cols = [ds, self.dur_us, self.row, self.t, self.f, self.p, di, self.v]
        blob = b"".join(np.asarray(c, dtype="<i4").tobytes() for c in cols)
        blob += "\0".join(v.replace("\0", " ") for v in self.values).encode("utf-8")
        header = {"n": len(self), "columns": list(COLUMNS), "rows": self.rows, "fs": self.fs, "types": self.types,
                  "procs": self.procs, "faults": self.faults, "end": self.end}
        packed = base64.b64encode(zlib.compress(blob, ZLIB_LEVEL)).decode("ascii")
        return script_json(json.dumps(header, separators=(",", ":"), ensure_ascii=False)), packed


def _row_keys(history: History, concurrency: int | None, out: OpColumns) -> dict[str, int]:
    row_of: dict[str, int] = {"nemesis": 0}
    out.rows.append("nemesis")
    if concurrency:
        for w in range(concurrency):
            row_of[f"w{w}"] = len(out.rows)
            out.rows.append(f"worker {w}")
    else:
        for p in sorted({op.process for op in history if isinstance(op.process, int)}):
            row_of[f"p{p}"] = len(out.rows)
            out.rows.append(f"process {p}")
    return row_of


def _code(table: dict[str, int], names: list[str], key: str) -> int:
    code = table.get(key)
    if code is None:
        code = table[key] = len(names)
        names.append(key)
    return code


def timeline_payload(history: History, concurrency: int | None, intervals: Sequence[FaultInterval],
                     packages: Sequence[str]) -> OpColumns:
    out = OpColumns()
    row_of = _row_keys(history, concurrency, out)
    pairs = list(history.pairs())
    # nemesis completions without an invocation (some nemeses log only completions) are shown as instants
    paired = {c.index for _, c in pairs if c is not None}
    singles: list[tuple[Op, Op | None]] = [(op, op) for op in history.nemesis_ops()
                                           if op.type != INVOKE and op.index not in paired]
    items = pairs + singles
    items.sort(key=lambda ic: ic[0].time_ns)
    f_code: dict[str, int] = {}
    v_code: dict[str, int] = {}
    p_code: dict[str, int] = {}
    for inv, comp in items:
        proc = inv.process
        if isinstance(proc, int):
            out.row.append(row_of[f"w{proc % concurrency}" if concurrency else f"p{proc}"])
            out.p.append(proc)
        else:
            out.row.append(0)
            out.p.append(-1 - _code(p_code, out.procs, str(proc)))
        out.start_us.append(inv.time_ns // 1000)
        out.dur_us.append(min(max(comp.time_ns - inv.time_ns, 0) // 1000, INT32_MAX) if comp is not None else -1)
        out.t.append(TYPE_CODES.get(comp.type, 2) if comp is not None else 2)
        out.f.append(_code(f_code, out.fs, inv.f))
        out.i.append(inv.index)
        val = comp.value if comp is not None and comp.value is not None else inv.value
        out.v.append(_code(v_code, out.values, value_text(val, VALUE_CHARS)))
    out.faults = [(iv.label, int(iv.start_s * 1000), int(iv.end_s * 1000), fault_color(iv.package, packages))
                  for iv in intervals]
    out.end = max((op.time_ns for op in history), default=0) // 1_000_000
    return out
