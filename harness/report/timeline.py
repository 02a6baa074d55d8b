"""The ops of a run as compact columns, for the page's op timeline and its latency scatter.

Owns `timeline_payload` (one entry per op, invocation paired with completion, rows = worker threads, process mod
concurrency as in Jepsen, plus a nemesis row) and its encoding for the page, `OpColumns.encode()`: a small JSON
header and one base64 blob of zlib-compressed int32 columns (start as deltas in microseconds, duration, row,
outcome, f, process, history index as deltas, value) followed by the value table. The page inflates it with the
browser's own DecompressionStream, so a million ops cost a few MB instead of tens of MB of JSON. The client
ops come from the ops table (`frames.ops_frame`, vectorized), the nemesis ops from the history. Does not own
drawing: `templates/timeline.js` draws the ops in view on a <canvas> and `templates/plots.js` draws the latency
scatter from the same columns.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.coverage import FaultInterval
from harness.op import INVOKE, History, Op
from harness.report.frames import value_text
from harness.report.plots import fault_color
from harness.report.templating import script_json

TYPE_CODES = {"ok": 0, "fail": 1, "info": 2}
VALUE_CHARS = 40
COLUMNS = ("ds", "dur", "row", "t", "f", "p", "di", "v")  # int32 each, in this order in the blob
INT32_MAX = 2**31 - 1
ZLIB_LEVEL = 1  # on 100k ops: 15% larger than level 6 (0.91 vs 0.78 MB) and 7x faster (0.03 vs 0.19 s)


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


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
    start_us: np.ndarray = field(default_factory=_empty)
    dur_us: np.ndarray = field(default_factory=_empty)
    row: np.ndarray = field(default_factory=_empty)
    t: np.ndarray = field(default_factory=_empty)
    f: np.ndarray = field(default_factory=_empty)
    p: np.ndarray = field(default_factory=_empty)
    i: np.ndarray = field(default_factory=_empty)
    v: np.ndarray = field(default_factory=_empty)
    faults: list[tuple[str, int, int, str]] = field(default_factory=list)  # label, start ms, end ms, colour
    end: int = 0  # ms

    def __len__(self) -> int:
        return len(self.start_us)

    def encode(self) -> tuple[str, str]:
        """(header JSON for a <script type="application/json">, base64 of the compressed columns)."""
        # Deltas of sorted starts and of history indexes stay small, so zlib packs them to a byte or two; a gap
        # between two invocations over 35 minutes would overflow int32, so it is clamped (a hack: such a run
        # draws that op early; no run here pauses its clients that long).
        ds = np.clip(np.diff(self.start_us, prepend=0), -INT32_MAX, INT32_MAX)
        di = np.diff(self.i, prepend=0)
        cols = [ds, self.dur_us, self.row, self.t, self.f, self.p, di, self.v]
        blob = b"".join(np.asarray(c, dtype="<i4").tobytes() for c in cols)
        blob += "\0".join(v.replace("\0", " ") for v in self.values).encode("utf-8")
        header = {"n": len(self), "columns": list(COLUMNS), "rows": self.rows, "fs": self.fs, "types": self.types,
                  "procs": self.procs, "faults": self.faults, "end": self.end}
        packed = base64.b64encode(zlib.compress(blob, ZLIB_LEVEL)).decode("ascii")
        return script_json(json.dumps(header, separators=(",", ":"), ensure_ascii=False)), packed


@dataclass
class _Nemesis:
    """The nemesis row's entries, built op by op (a few hundred at most)."""

    start_ns: list[int] = field(default_factory=list)
    dur_us: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)
    f: list[str] = field(default_factory=list)
    proc: list[str] = field(default_factory=list)
    i: list[int] = field(default_factory=list)
    v: list[str] = field(default_factory=list)


def _nemesis(history: History) -> _Nemesis:
    out = _Nemesis()
    nemesis = history.nemesis_ops()
    pairs = list(nemesis.pairs())
    # completions without an invocation (some nemeses log only completions) are shown as instants
    paired = {c.index for _, c in pairs if c is not None}
    singles: list[tuple[Op, Op | None]] = [(op, op) for op in nemesis if op.type != INVOKE and op.index not in paired]
    for inv, comp in pairs + singles:
        out.start_ns.append(inv.time_ns)
        out.dur_us.append(min(max(comp.time_ns - inv.time_ns, 0) // 1000, INT32_MAX) if comp is not None else -1)
        out.t.append(TYPE_CODES.get(comp.type, 2) if comp is not None else 2)
        out.f.append(inv.f)
        out.proc.append(str(inv.process))
        out.i.append(inv.index)
        val = comp.value if comp is not None and comp.value is not None else inv.value
        out.v.append(value_text(val, VALUE_CHARS))
    return out


def _rows(ops: pd.DataFrame, concurrency: int | None, out: OpColumns) -> np.ndarray:
    """Each client op's row (worker thread = process mod concurrency, or its process), naming the rows."""
    out.rows.append("nemesis")
    procs = ops["process"].to_numpy(dtype=np.int64)
    if concurrency:
        out.rows.extend(f"worker {w}" for w in range(concurrency))
        return np.asarray(1 + procs % concurrency, dtype=np.int64)
    known = np.unique(procs)
    out.rows.extend(f"process {p}" for p in known.tolist())
    return np.asarray(1 + np.searchsorted(known, procs), dtype=np.int64)


def _short(values: pd.Series) -> list[str]:
    """The ops table's values (cut at frames.VALUE_CHARS) cut to VALUE_CHARS: the same text value_text gives."""
    return [s if len(s) <= VALUE_CHARS else s[: VALUE_CHARS - 1] + "\u2026" for s in values.astype(object).tolist()]


def timeline_payload(history: History, ops: pd.DataFrame, concurrency: int | None,
                     intervals: Sequence[FaultInterval], packages: Sequence[str]) -> OpColumns:
    """The op columns of a run: its client ops from the ops table (`frames.ops_frame`, vectorized) and its
    nemesis ops from the history, sorted by invocation time."""
    out = OpColumns()
    row = _rows(ops, concurrency, out)
    nem = _nemesis(history)
    f_codes, f_names = pd.factorize(pd.Series(ops["f"].astype(object).tolist() + nem.f, dtype=object))
    v_codes, v_names = pd.factorize(pd.Series(_short(ops["value"]) + nem.v, dtype=object))
    out.fs, out.values = [str(f) for f in f_names], [str(v) for v in v_names]
    out.procs = list(dict.fromkeys(nem.proc))
    done = ops["completed"].to_numpy(dtype=bool)
    client_start = np.rint(ops["invoke_s"].to_numpy(dtype=np.float64) * 1e6).astype(np.int64)
    client_dur = np.where(done, np.clip(np.rint(np.nan_to_num(ops["latency_ms"].to_numpy(dtype=np.float64)) * 1e3),
                                        0, INT32_MAX), -1).astype(np.int64)
    types = ops["type"].astype(object).to_numpy()
    client_t = np.select([types == "ok", types == "fail"], [0, 1], 2).astype(np.int64)
    start = np.concatenate([client_start, np.asarray(nem.start_ns, dtype=np.int64) // 1000])
    order = np.argsort(start, kind="stable")
    out.start_us = start[order]
    out.dur_us = np.concatenate([client_dur, np.asarray(nem.dur_us, dtype=np.int64)])[order]
    out.row = np.concatenate([row, np.zeros(len(nem.i), dtype=np.int64)])[order]
    out.t = np.concatenate([client_t, np.asarray(nem.t, dtype=np.int64)])[order]
    out.f, out.v = f_codes.astype(np.int64)[order], v_codes.astype(np.int64)[order]
    nem_p = np.asarray([-1 - out.procs.index(p) for p in nem.proc], dtype=np.int64)
    out.p = np.concatenate([ops["process"].to_numpy(dtype=np.int64), nem_p])[order]
    out.i = np.concatenate([ops["index"].to_numpy(dtype=np.int64), np.asarray(nem.i, dtype=np.int64)])[order]
    out.faults = [(iv.label, int(iv.start_s * 1000), int(iv.end_s * 1000), fault_color(iv.package, packages))
                  for iv in intervals]
    out.end = max((op.time_ns for op in history), default=0) // 1_000_000
    return out
