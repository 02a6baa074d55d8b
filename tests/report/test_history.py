"""ReportHistory pairs exactly as harness.op's History does, and its kept sub-histories equal History's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.op import History, Op
from harness.report.history import ReportHistory

steps = st.lists(st.tuples(st.sampled_from(["invoke", "ok", "fail", "info"]),
                           st.integers(0, 3) | st.sampled_from(["nemesis", "3"])), max_size=30)


def _ops(rows: list[tuple[str, int | str]]) -> list[Op]:
    return [Op(index=i, time_ns=i, type=t, process=p, f="x") for i, (t, p) in enumerate(rows)]  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(steps)
def test_pairs_equal_harness_op(rows: list[tuple[str, int | str]]) -> None:
    ops = _ops(rows)
    plain, report = History(ops), ReportHistory(ops)
    assert list(report.pairs()) == list(plain.pairs())
    assert list(report.pairs()) == list(plain.pairs())  # the kept list, asked again
    for op in ops:
        assert report.completion(op) == plain.completion(op)
        assert report.invocation(op) == plain.invocation(op)
    for mine, theirs in ((report.client_ops(), plain.client_ops()), (report.nemesis_ops(), plain.nemesis_ops())):
        assert mine == theirs
        assert list(mine.pairs()) == list(theirs.pairs())


def test_pairs_of_an_interleaved_history() -> None:
    ops = _ops([("invoke", 0), ("invoke", 1), ("ok", 1), ("invoke", 0), ("info", 0), ("ok", 2), ("invoke", "nemesis"),
                ("info", "nemesis")])
    pairs = [(inv.index, None if comp is None else comp.index) for inv, comp in ReportHistory(ops).pairs()]
    assert pairs == [(0, None), (1, 2), (3, 4), (6, 7)]
