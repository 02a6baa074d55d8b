"""The stream checker (checkers/invariants/stream.py): histories of a correct sequential log, run concurrently with
definite and indefinite failures (tests/checkers/sim.py's StreamModel), are never invalid; each finding has a
small hand-made history that shows it, with its failure class; malformed values are one clear error."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.invariants import StreamChecker
from harness.checker import UNKNOWN, FailureClass, Verdict
from harness.errors import MalformedHistory
from harness.op import History, Op

from . import sim

SETTINGS = settings(max_examples=int(os.environ.get("CHECKER_EXAMPLES", "60")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def check(h: History) -> Verdict:
    return StreamChecker().check(None, h, "/nonexistent")


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 150), c=st.integers(1, 6),
       p_info=st.sampled_from([0.0, 0.1, 0.3]))
def test_histories_of_a_correct_stream_are_valid(seed: int, n: int, c: int, p_info: float) -> None:
    h = sim.simulate(sim.StreamModel(), seed, n, concurrency=c, p_info=p_info)
    v = check(h)
    assert v.valid is True, (v.summary, [f.diagnosis for f in v.findings])


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(5, 120), c=st.integers(1, 5))
def test_an_acknowledged_append_dropped_from_the_final_read_is_lost(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.StreamModel(), seed, n, concurrency=c)
    acked = {op.value[1] for op in h.ops if op.f == "append" and op.type == "ok"}
    final = [op for op in h.ops if op.f == "read-all" and op.type == "ok"][-1]
    victims = [m for m in final.value if m[1] in acked]
    if not victims:
        return
    ops = list(h.ops)
    ops[final.index] = final.replace(value=[m for m in final.value if m != victims[-1]])
    v = check(History(ops))
    assert v.valid is False
    assert FailureClass.LOST_WRITE in {f.failure_class for f in v.findings}


# --- hand-made histories, one per finding ------------------------------------------------------------------

def history(*steps: tuple[Any, ...]) -> History:
    """(process, f, invoke value, type, completion value) per op: invoke and completion back to back, in order."""
    ops: list[Op] = []
    for process, f, value, type_, result in steps:
        for t, v in (("invoke", value), (type_, result)):
            ops.append(Op(index=len(ops), time_ns=len(ops), type=t, process=process, f=f, value=v))  # type: ignore[arg-type]
    return History(ops)


def kinds(v: Verdict) -> dict[str, FailureClass]:
    return {f.kind: f.failure_class for f in v.findings}


def test_a_clean_history_is_valid_and_says_so() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1]), (1, "append", 2, "ok", [2, 2]),
                      (0, "read", [1, 5], "ok", [[1, 1], [2, 2]]), (2, "read-all", None, "ok", [[1, 1], [2, 2]])))
    assert v.valid is True and not v.findings
    assert "all 2 acknowledged appends" in v.summary


def test_lost() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1]), (0, "append", 2, "ok", [2, 2]),
                      (1, "read-all", None, "ok", [[1, 1]])))
    assert v.valid is False
    assert kinds(v) == {"lost": FailureClass.LOST_WRITE}
    assert v.findings[0].diagnosis == ("lost acknowledged write: append 2 was ok at offset 2 (op #3) but the final "
                                       "read-all (op #5) lacks it")


def test_an_append_acknowledged_after_the_final_read_began_is_not_owed_to_it() -> None:
    ops = [Op(index=0, time_ns=0, type="invoke", process=0, f="append", value=1),
           Op(index=1, time_ns=1, type="invoke", process=1, f="read-all", value=None),
           Op(index=2, time_ns=2, type="ok", process=0, f="append", value=[1, 1]),
           Op(index=3, time_ns=3, type="ok", process=1, f="read-all", value=[])]
    assert check(History(ops)).valid is True


def test_no_final_read_is_unknown() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1])))
    assert v.valid == UNKNOWN
    assert kinds(v) == {"not-read": FailureClass.INCOMPLETE}


def test_reused_offset() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1]), (1, "append", 2, "info", None),
                      (2, "read", [1, 3], "ok", [[1, 2]]), (3, "read-all", None, "ok", [[1, 1]])))
    assert v.valid is False
    assert kinds(v) == {"reused": FailureClass.SPLIT_BRAIN}
    assert v.findings[0].diagnosis == "split brain: offset 1 holds 2 different elements: 1 (op #1), 2 (op #5)"


def test_duplicated_element() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1]), (1, "read-all", None, "ok", [[1, 1], [2, 1]])))
    assert v.valid is False
    assert kinds(v) == {"duplicated": FailureClass.DUPLICATE_EFFECT}


def test_reordered_read() -> None:
    v = check(history((0, "append", 1, "info", None), (0, "append", 2, "info", None),
                      (1, "read", [1, 5], "ok", [[2, 2], [1, 1]]), (2, "read-all", None, "ok", [[1, 1], [2, 2]])))
    assert v.valid is False
    assert kinds(v) == {"reordered": FailureClass.BROKEN_INVARIANT}
    assert "offset 1 follows 2" in v.findings[0].diagnosis


def test_a_read_starting_before_its_from_is_reordered() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1]), (1, "read", [2, 5], "ok", [[1, 1]]),
                      (2, "read-all", None, "ok", [[1, 1]])))
    assert kinds(v) == {"reordered": FailureClass.BROKEN_INVARIANT}


def test_an_append_acknowledged_below_an_earlier_acknowledged_one_is_reordered() -> None:
    v = check(history((0, "append", 1, "ok", [5, 1]), (0, "append", 2, "ok", [3, 2]),
                      (2, "read-all", None, "ok", [[3, 2], [5, 1]])))
    assert v.valid is False
    assert kinds(v) == {"reordered": FailureClass.BROKEN_INVARIANT}
    assert "already had offset 5" in v.findings[0].diagnosis


def test_gap_between_messages_and_after_the_start() -> None:
    steps = ((0, "append", 1, "ok", [1, 1]), (0, "append", 2, "ok", [2, 2]), (0, "append", 3, "ok", [3, 3]),
             (1, "read", [1, 5], "ok", [[1, 1], [3, 3]]), (1, "read", [1, 5], "ok", [[2, 2], [3, 3]]),
             (2, "read-all", None, "ok", [[1, 1], [2, 2], [3, 3]]))
    v = check(history(*steps))
    assert v.valid is False
    assert [f.kind for f in v.findings] == ["gap", "gap"]
    assert {f.failure_class for f in v.findings} == {FailureClass.BROKEN_INVARIANT}
    assert "skipped offset 2 (between 1 and 3)" in v.findings[0].diagnosis
    assert "skipped offset 1 (after its start 1)" in v.findings[1].diagnosis


def test_a_read_may_return_fewer_than_its_limit() -> None:
    v = check(history((0, "append", 1, "ok", [1, 1]), (0, "append", 2, "ok", [2, 2]),
                      (1, "read", [1, 5], "ok", [[1, 1]]), (2, "read-all", None, "ok", [[1, 1], [2, 2]])))
    assert v.valid is True


def test_unexpected_elements() -> None:
    v = check(history((0, "append", 1, "fail", None), (1, "read-all", None, "ok", [[1, 1], [2, 9]])))
    assert v.valid is False
    assert [f.kind for f in v.findings] == ["unexpected", "unexpected"]
    assert v.findings[0].failure_class is FailureClass.UNEXPECTED_VALUE
    assert "its append failed" in v.findings[0].diagnosis and "never appended" in v.findings[1].diagnosis


def test_an_indefinite_append_may_show_up_or_not() -> None:
    for final in ([[1, 1]], []):
        assert check(history((0, "append", 1, "info", None), (1, "read-all", None, "ok", final))).valid is True


@pytest.mark.parametrize("value", ["x", [[1]], [["a", 1]], [[True, 1]]])
def test_malformed_read_values_are_one_clear_error(value: Any) -> None:
    with pytest.raises(MalformedHistory, match="a read must return a list of"):
        check(history((1, "read-all", None, "ok", value)))
