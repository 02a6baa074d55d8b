"""Where the shared golden data lives (../shared/anchors-data beside the repo), and loading it.

Tests that need the data call `anchors()`, which skips with a clear reason when the folder is absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.op import History, Op

ELLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "anchors-data" / "elle"
CASES = ELLE / "derived-from-elle-tests" / "cases.json"


def anchors() -> Path:
    if not ELLE.is_dir():
        pytest.skip(f"golden Elle data not found at {ELLE} (CI clones shared/ beside the repo)")
    return ELLE


def load_cases() -> list[dict[str, Any]]:
    """The 33 transcribed Elle test cases, or [] when the data is absent (the test then skips)."""
    if not CASES.is_file():
        return []
    data: list[dict[str, Any]] = json.loads(CASES.read_text())
    return data


def case_history(case: dict[str, Any]) -> History:
    return History(
        Op(
            index=o["index"],
            time_ns=o.get("time", 0),
            type=o["type"],
            process=o["process"],
            f=o.get("f", "txn"),
            value=o["value"],
        )
        for o in case["history"]
    )
