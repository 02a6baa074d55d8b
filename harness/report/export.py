"""`harness export`: the ops table of a run as CSV or Parquet.

Owns `export_ops`: one row per client operation (invoke and completion paired; columns of
`harness.report.frames.OPS_COLUMNS`: history indices, process, f, outcome, timeout flag, node, value and error
as short JSON text, invoke/complete times in seconds since the test started, latency in ms). Does not own the
history format (harness.op) nor any statistics.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from harness.errors import BadInput
from harness.report.frames import ops_frame
from harness.report.rundir import RunDir

Format = Literal["csv", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "parquet")


def export_ops(run_dir: str | os.PathLike[str], fmt: str, out: str | os.PathLike[str] | None = None) -> Path:
    """Write the run's ops table to `out` (default: <run_dir>/ops.<fmt>) and return its path."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    run = RunDir.load(run_dir)
    if not (run.path / "history.jsonl").is_file():
        raise BadInput(f"{run.path}: no history.jsonl to export")
    df = ops_frame(run.history())
    dest = Path(out) if out is not None else run.path / f"ops.{fmt}"
    if dest.is_dir():
        dest = dest / f"ops.{fmt}"
    try:
        if fmt == "csv":
            df.to_csv(dest, index=False)
        else:
            df.to_parquet(dest, index=False)
    except OSError as e:
        raise BadInput(f"{dest}: cannot write: {e.strerror}") from None
    return dest
