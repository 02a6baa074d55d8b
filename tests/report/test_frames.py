"""The tables and statistics reports compute on: pairing, faults, windows, recovery."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.coverage import fault_intervals
from harness.op import History, Op
from harness.report import frames
from harness.report.rundir import PackageInfo
from harness.report.stats import (
    OpCounts,
    per_fault,
    per_package,
    recovery_after,
    run_stats,
)

MS = 1_000_000
PART = PackageInfo(name="partition", label="partition", start_fs=frozenset({"start-partition"}),
                   stop_fs=frozenset({"stop-partition"}))


def h(*ops: Op) -> History:
    return History.indexed(sorted(ops, key=lambda o: o.time_ns))


def op(t_ms: float, type_: str, p: int | str, f: str, value: object = None, node: str | None = None,
       error: object = None) -> Op:
    return Op(time_ns=int(t_ms * MS), type=type_, process=p, f=f, value=value, node=node, error=error)  # type: ignore[arg-type]


def test_ops_frame_pairs_invocations_with_completions() -> None:
    hist = h(
        op(0, "invoke", 0, "write", 1, "n1"), op(10, "ok", 0, "write", 1, "n1"),
        op(1, "invoke", 1, "read", None, "n2"), op(5, "ok", 1, "read", 1, "n2"),
        op(2, "invoke", 2, "cas", [1, 2], "n3"), op(3, "fail", 2, "cas", [1, 2], "n3", "mismatch"),
        op(4, "invoke", 3, "write", 5, "n3"), op(1004, "info", 3, "write", 5, "n3", "timeout"),
        op(20, "invoke", 4, "read", None, "n1"),  # never completes
        op(6, "invoke", "nemesis", "start-partition"), op(7, "info", "nemesis", "start-partition"),
    )
    df = frames.ops_frame(hist).set_index("process")
    assert len(df) == 5  # client invocations only
    assert df.loc[0, "latency_ms"] == pytest.approx(10.0)
    assert df.loc[1, "value"] == "1"  # a read's value comes from its completion
    assert (df.loc[2, "type"], df.loc[2, "error"]) == ("fail", "mismatch")
    assert bool(df.loc[3, "timeout"]) and df.loc[3, "type"] == "info"
    assert df.loc[4, "type"] == "info" and not df.loc[4, "completed"] and bool(df.loc[4, "timeout"])
    assert math.isnan(df.loc[4, "latency_ms"])
    assert OpCounts.of(df) == OpCounts(ok=2, fail=1, info=2, timeouts=2)


def test_fault_intervals_open_on_start_and_close_on_completed_heal() -> None:
    hist = h(
        op(0, "invoke", 0, "read"), op(1, "ok", 0, "read", 0),
        op(100, "invoke", "nemesis", "stop-partition"), op(101, "info", "nemesis", "stop-partition"),  # nothing open
        op(1000, "invoke", "nemesis", "start-partition"), op(1010, "info", "nemesis", "start-partition"),
        op(1500, "invoke", "nemesis", "start-partition"), op(1501, "info", "nemesis", "start-partition"),  # already open
        op(3000, "invoke", "nemesis", "stop-partition"), op(3020, "info", "nemesis", "stop-partition"),
        op(5000, "invoke", "nemesis", "start-partition"), op(5001, "info", "nemesis", "start-partition"),
        op(9000, "invoke", 1, "read"), op(9001, "ok", 1, "read", 0),
    )
    ivs = fault_intervals(hist, [PART])
    assert [(i.start_s, i.end_s, i.healed) for i in ivs] == [(1.0, 3.02, True), (5.0, 9.001, False)]
    assert frames.infer_packages(hist)[0].start_fs == PART.start_fs


def test_heal_invoked_but_never_completed_counts_at_its_invocation() -> None:
    hist = h(op(0, "invoke", "nemesis", "start-partition"), op(2000, "invoke", "nemesis", "stop-partition"),
             op(3000, "invoke", 0, "read"), op(3001, "ok", 0, "read", 0))
    (iv,) = fault_intervals(hist, [PART])
    assert (iv.start_s, iv.end_s, iv.healed) == (0.0, 2.0, True)


def test_recovery_is_time_to_next_ok_per_node_and_none_when_a_node_never_serves() -> None:
    hist = h(
        op(0, "invoke", 0, "read", node="n1"), op(1, "ok", 0, "read", 0, "n1"),
        op(0, "invoke", 1, "read", node="n2"), op(2, "ok", 1, "read", 0, "n2"),
        op(0, "invoke", 2, "read", node="n3"), op(3, "ok", 2, "read", 0, "n3"),
        op(1000, "invoke", "nemesis", "start-partition"), op(2000, "info", "nemesis", "stop-partition"),
        op(2100, "invoke", 0, "read", node="n1"), op(2250, "ok", 0, "read", 0, "n1"),
        op(2100, "invoke", 1, "read", node="n2"), op(2300, "fail", 1, "read", None, "n2"),
        op(2400, "invoke", 1, "read", node="n2"), op(2900, "ok", 1, "read", 0, "n2"),
        op(2100, "invoke", 2, "read", node="n3"), op(5200, "info", 2, "read", None, "n3", "timeout"),
    )
    ops = frames.ops_frame(hist)
    rec = recovery_after(ops, 2.0)
    assert rec.by_node["n1"] == pytest.approx(0.25)
    assert rec.by_node["n2"] == pytest.approx(0.9)
    assert rec.by_node["n3"] is None and rec.seconds is None and rec.stalled_nodes == ["n3"]
    assert rec.unmeasured == ()
    ivs = fault_intervals(hist, [PART])
    faults = per_fault(ops, ivs)
    assert faults[0].counts == OpCounts()  # nothing completed during the fault
    pk = per_package(ops, faults, ivs)
    assert [p.label for p in pk] == ["partition", "no fault"] and pk[0].unrecovered == 1
    assert pk[1].counts == OpCounts(ok=5, fail=1, info=1, timeouts=1)


def test_recovery_is_not_measured_on_a_node_asked_too_briefly_or_not_at_all() -> None:
    """A node that answered nothing ok after the heal is "not recovered" only if it was watched long enough;
    the run ending 0.5 s after the heal, or a node nobody asked, says nothing about recovery."""
    hist = h(
        op(0, "invoke", 0, "read", node="n1"), op(1, "ok", 0, "read", 0, "n1"),
        op(0, "invoke", 1, "read", node="n2"), op(2, "ok", 1, "read", 0, "n2"),
        op(1000, "invoke", "nemesis", "start-partition"), op(2000, "info", "nemesis", "stop-partition"),
        op(2100, "invoke", 0, "read", node="n1"), op(2600, "info", 0, "read", None, "n1", "timeout"),
    )
    rec = recovery_after(frames.ops_frame(hist), 2.0, ("n1", "n2", "n3"))
    assert rec.by_node == {} and set(rec.unmeasured) == {"n1", "n2", "n3"}
    assert rec.seconds is None and rec.stalled_nodes == [] and not rec.measured


def test_windows_count_by_completion_time() -> None:
    hist = h(op(0, "invoke", 0, "w"), op(500, "ok", 0, "w"), op(600, "invoke", 0, "w"), op(1500, "fail", 0, "w"),
             op(1600, "invoke", 0, "w"), op(2500, "ok", 0, "w"))
    w = frames.per_window(frames.ops_frame(hist), 1.0, 2.5)
    assert w["ok"].tolist() == [1, 0, 1] and w["fail"].tolist() == [0, 1, 0]
    assert w["availability"].tolist() == [1.0, 0.0, 1.0]
    assert w.loc[0, "p50_ms"] == pytest.approx(500.0)


@st.composite
def register_histories(draw: st.DrawFn) -> History:
    """Histories of a register from its sequential model (each op takes effect at its completion), with
    concurrent workers, fails, timeouts and nemesis start/stop ops."""
    n_workers = draw(st.integers(1, 4))
    steps = draw(st.lists(st.tuples(st.integers(0, n_workers - 1), st.sampled_from(["read", "write", "cas"]),
                                    st.integers(0, 4), st.integers(1, 50), st.sampled_from(["ok", "ok", "fail", "info"])),
                          max_size=40))
    t = [0] * n_workers
    proc = list(range(n_workers))
    reg = 0
    ops: list[Op] = []
    for w, f, v, lat, outcome in steps:
        start = t[w] + 1
        end = start + lat
        ops.append(op(start, "invoke", proc[w], f, v if f != "read" else None, f"n{w % 3 + 1}"))
        if outcome == "ok":
            val: object = v
            if f == "read":
                val = reg
            elif f == "write":
                reg = v
            ops.append(op(end, "ok", proc[w], f, val, f"n{w % 3 + 1}"))
        else:
            ops.append(op(end, outcome, proc[w], f, None, f"n{w % 3 + 1}", "timeout" if outcome == "info" else "x"))
            if outcome == "info":
                proc[w] += n_workers
        t[w] = end
    if draw(st.booleans()):
        ops.append(op(draw(st.integers(0, 100)), "info", "nemesis", "start-partition"))
        ops.append(op(draw(st.integers(100, 300)), "info", "nemesis", "stop-partition"))
    return History.indexed(sorted(ops, key=lambda o: o.time_ns))


@settings(max_examples=60, deadline=None)
@given(register_histories())
def test_tables_agree_with_each_other(hist: History) -> None:
    ops = frames.ops_frame(hist)
    assert len(ops) == sum(1 for o in hist.client_ops() if o.type == "invoke")
    assert (ops["latency_ms"].dropna() >= 0).all()
    end = frames.history_end_s(hist)
    window = frames.choose_window(end)
    w = frames.per_window(ops, window, end)
    counts = OpCounts.of(ops)
    assert (int(w["ok"].sum()), int(w["fail"].sum()), int(w["info"].sum())) == (counts.ok, counts.fail, counts.info)
    assert ((w["availability"].dropna() >= 0) & (w["availability"].dropna() <= 1)).all()
    stats = run_stats(ops, end)
    assert stats.counts == counts
    ivs = fault_intervals(hist, [PART])
    assert all(i.end_s >= i.start_s for i in ivs)
    for f in per_fault(ops, ivs):
        assert f.counts.total <= counts.total
        if f.recovery is not None and f.recovery.seconds is not None:
            assert f.recovery.seconds >= 0


values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
    | st.frozensets(st.integers(0, 5), max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=2),
    max_leaves=6,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["invoke", "ok", "fail", "info"]), st.integers(0, 3) | st.just("nemesis"),
                          values, st.none() | values), max_size=20))
def test_fast_history_reader_equals_harness_op(tmp_path_factory: pytest.TempPathFactory,
                                               rows: list[tuple[str, int | str, object, object]]) -> None:
    from harness.op import HistoryWriter
    from harness.report.history import read_history

    path = tmp_path_factory.mktemp("h") / "history.jsonl"
    with HistoryWriter(path) as w:
        for i, (t, p, v, e) in enumerate(rows):
            w.append(Op(index=i, time_ns=i * MS, type=t, process=p, f="x", value=v, error=e))  # type: ignore[arg-type]
    assert read_history(path) == History.from_jsonl(path)
