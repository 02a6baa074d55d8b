"""Loading Elle's transcribed test cases (tests/data/elle/derived/cases.json) as our histories."""

from __future__ import annotations

import json
from typing import Any

from harness.op import History, Op
from tests.corpora import ELLE_CASES


def load_cases() -> list[dict[str, Any]]:
    """The 33 transcribed Elle test cases."""
    data: list[dict[str, Any]] = json.loads(ELLE_CASES.read_text())
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
