"""Histories as pandas DataFrames, for reports, comparisons and export.

Owns the tables the report computes on: `ops_frame` (one row per client operation, invoke and completion
paired, with latency), nemesis events, and `per_window` (counts, throughput, availability and latency quantiles per
time window), and `in_interval` (the ops of one time window); fault intervals come from `harness.coverage`. Does not own
judging a history (checkers do) nor drawing (see `harness.report.plots`).

Conventions: times are seconds since the test started (floats); latency is milliseconds. An invocation that
never completed counts as `info` (unknown outcome) with no latency. A timeout is an `info` whose error mentions
"timeout" / "timed out", or an invocation that never completed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.client import is_refusal
from harness.op import INVOKE, History, Op
from harness.report.rundir import PackageInfo

OPS_COLUMNS: tuple[str, ...] = (
    "index", "complete_index", "process", "f", "type", "completed", "timeout", "refused", "node", "value", "error",
    "invoke_s", "complete_s", "latency_ms",
)
VALUE_CHARS = 200  # longer values are cut in the ops table, with an ellipsis


def _show(v: object) -> str:
    tv = type(v)
    if tv is int:
        return str(v)
    if tv is str:
        return json.dumps(v, ensure_ascii=False)
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_show(x) for x in v) + "]"
    if isinstance(v, (set, frozenset)):
        return "#{" + " ".join(sorted(_show(x) for x in v)) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_show(k)} {_show(x)}" for k, x in v.items()) + "}"
    if isinstance(v, bytes):
        return "0x" + v.hex()
    return repr(v)


def value_text(v: object, limit: int = VALUE_CHARS) -> str:
    """A short, readable rendering of an op value or error (EDN-like: [1 2], #{3 4}, {"k" 1}); "" for None."""
    if v is None:
        return ""
    if type(v) is int:
        return str(v)
    s = _show(v)
    return s if len(s) <= limit else s[: limit - 1] + "\u2026"


def error_text(e: object, limit: int = VALUE_CHARS) -> str:
    """An op's error: a string as itself, anything else as `value_text`."""
    if isinstance(e, str):
        return e if len(e) <= limit else e[: limit - 1] + "\u2026"
    return value_text(e, limit)


def _is_timeout(op: Op | None) -> bool:
    if op is None:
        return True
    if op.type != "info" or op.error is None:
        return False
    e = str(op.error).lower()
    return "timeout" in e or "timed out" in e or "timed-out" in e


def ops_frame(history: History) -> pd.DataFrame:
    """One row per client invocation: its completion type (ok/fail/info), times, latency, node, value, error.

    `value` is the completion's value when it has one (reads learn their value on completion), else the
    invocation's. `process` is kept as the history's integer.
    """
    # Column by column over one list of pairs (comprehensions, no per-row appends): a million ops in a few
    # seconds. Client processes are integers, so the pairs of the whole history that have one are
    # client_ops()'s pairs.
    pairs = [pc for pc in history.pairs() if type(pc[0].process) is int]
    invs = [inv for inv, _ in pairs]
    comps = [comp for _, comp in pairs]
    n = len(pairs)
    inv_ns = np.array([inv.time_ns for inv in invs], dtype=np.int64)
    comp_ns = np.array([-1 if c is None else c.time_ns for c in comps], dtype=np.int64)
    done = np.array([c is not None for c in comps], dtype=bool)
    timeout, refused = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    errors = [""] * n  # error_text(None)
    for k in [k for k, c in enumerate(comps) if c is None or c.error is not None]:  # the few with an error
        comp = comps[k]
        timeout[k], refused[k] = _is_timeout(comp), is_refusal(comp)
        errors[k] = "never completed" if comp is None else error_text(comp.error)
    values = [c.value if c is not None and c.value is not None else inv.value for inv, c in pairs]
    # Every column built in its final dtype (pandas then infers and copies nothing): labels and op text as
    # pandas strings (object when empty), flags as numpy bools.
    text = (lambda xs: pd.array(xs, dtype="string")) if n else (lambda xs: np.array(xs, dtype=object))
    cols: dict[str, object] = {
        "index": np.array([inv.index for inv in invs], dtype=np.int64),
        "complete_index": np.array([-1 if c is None else c.index for c in comps], dtype=np.int64),
        "process": np.array([inv.process for inv in invs], dtype=np.int64),
        "f": text([inv.f for inv in invs]),
        "type": text(["info" if c is None else c.type for c in comps]),
        "completed": done,
        "timeout": timeout,
        "refused": refused,
        "node": text([(c.node if c is not None and c.node else None) or inv.node or "" for inv, c in pairs]),
        "value": text([str(v) if type(v) is int else value_text(v) for v in values]),
        "error": text(errors),
        "invoke_s": inv_ns / 1e9,
        "complete_s": np.where(done, comp_ns / 1e9, np.nan),
        "latency_ms": np.where(done, (comp_ns - inv_ns) / 1e6, np.nan),
    }
    return pd.DataFrame(cols, columns=list(OPS_COLUMNS))


def history_end_s(history: History) -> float:
    """Time of the last op, in seconds (0 for an empty history)."""
    return max((op.time_ns for op in history), default=0) / 1e9


# --- faults -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class NemesisEvent:
    """A completed nemesis op, shown as a marker (faults without a stop, or anything else the nemesis did)."""

    time_s: float
    f: str
    value: str
    type: str
    index: int


def infer_packages(history: History) -> tuple[PackageInfo, ...]:
    """Packages guessed from nemesis fs when test.json names none: "start-x"/"stop-x" and "start"/"stop" pairs."""
    fs = list(dict.fromkeys(op.f for op in history.nemesis_ops()))
    out: list[PackageInfo] = []
    for f in fs:
        for a, b in (("start", "stop"), ("start-", "stop-"), ("start_", "stop_")):
            if f.startswith(a):
                stop = b + f[len(a):]
                if stop in fs:
                    name = f[len(a):].strip("-_") or "fault"
                    out.append(PackageInfo(name=name, label=name, start_fs=frozenset({f}), stop_fs=frozenset({stop})))
                    break
    return tuple({p.name: p for p in out}.values())


def nemesis_events(history: History) -> list[NemesisEvent]:
    return [
        NemesisEvent(time_s=op.time_ns / 1e9, f=op.f, value=value_text(op.value, 80), type=op.type, index=op.index)
        for op in history.nemesis_ops()
        if op.type != INVOKE
    ]


# --- windows ------------------------------------------------------------------------------------------------

def choose_window(duration_s: float) -> float:
    """A window length giving at most ~60 windows (readable rates, not noise), a round 1/2/5 x 10^k seconds;
    at least 1 s for runs longer than 30 s, at least 0.1 s otherwise."""
    if duration_s <= 0:
        return 1.0
    raw = max(duration_s / 60.0, 1.0 if duration_s > 30 else 0.1)
    exp = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5):
        if m * exp >= raw - 1e-12:
            return float(round(m * exp, 6))
    return float(round(10 * exp, 6))


WINDOW_COLUMNS: tuple[str, ...] = (
    "t_s", "ok", "fail", "info", "timeouts", "refused", "ok_per_s", "ops_per_s", "availability", "p50_ms", "p95_ms",
    "p99_ms", "max_ms",
)


def per_window(ops: pd.DataFrame, window_s: float, end_s: float) -> pd.DataFrame:
    """Per window of `window_s` seconds from 0 to `end_s`: completions by type (by completion time; a never
    completed op counts as info at the end), throughput, availability (answered / all completions, answered
    being ok or refused, see `harness.client`; NaN for a window with none), and latency quantiles of ok ops
    invoked in the window."""
    n = max(math.ceil(end_s / window_s), 1) if end_s > 0 else 1
    t = ops["complete_s"].fillna(end_s).to_numpy(dtype="float64")
    w = np.clip((t // window_s).astype("int64"), 0, n - 1) if len(t) else np.zeros(0, dtype="int64")
    out = pd.DataFrame({"t_s": np.arange(n, dtype="float64") * window_s})
    types = ops["type"].to_numpy(dtype=object)
    for ty in ("ok", "fail", "info"):
        out[ty] = np.bincount(w[types == ty], minlength=n)[:n]
    out["timeouts"] = np.bincount(w[ops["timeout"].to_numpy(dtype=bool)], minlength=n)[:n]
    out["refused"] = np.bincount(w[ops["refused"].to_numpy(dtype=bool)], minlength=n)[:n]
    total = out["ok"] + out["fail"] + out["info"]
    out["ok_per_s"] = out["ok"] / window_s
    out["ops_per_s"] = total / window_s
    answered = out["ok"] + out["refused"]
    out["availability"] = np.where(total > 0, answered / total.where(total > 0, 1), np.nan)
    ok = ops[ops["type"] == "ok"]
    if len(ok):
        wi = np.clip((ok["invoke_s"].to_numpy() // window_s).astype("int64"), 0, n - 1)
        q = ok["latency_ms"].groupby(wi).quantile([0.5, 0.95, 0.99]).unstack()
        mx = ok["latency_ms"].groupby(wi).max()
        out["p50_ms"] = q[0.5].reindex(range(n)).to_numpy()
        out["p95_ms"] = q[0.95].reindex(range(n)).to_numpy()
        out["p99_ms"] = q[0.99].reindex(range(n)).to_numpy()
        out["max_ms"] = mx.reindex(range(n)).to_numpy()
    else:
        for c in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
            out[c] = np.nan
    return out[list(WINDOW_COLUMNS)]


def in_interval(ops: pd.DataFrame, start_s: float, end_s: float) -> pd.DataFrame:
    """Ops that completed (or, never completed, were invoked) within [start_s, end_s]."""
    t = ops["complete_s"].fillna(ops["invoke_s"])
    return ops[(t >= start_s) & (t <= end_s)]
