"""Fault-window coverage (harness.coverage) and the verdict cap the runner applies to an untested window."""

from __future__ import annotations

from harness.checker import UNKNOWN, Verdict
from harness.coverage import coverage
from harness.nemesis import NoopNemesis, Package
from harness.op import History, Op
from harness.limits import cap_verdict as _cap

MS = 1_000_000
PART = Package(name="partition", nemesis=NoopNemesis(), generator=None, final_generator=None, label="partition",
               start_fs=frozenset({"start-partition"}), stop_fs=frozenset({"stop-partition"}))


def op(t_ms: int, type_: str, p: int | str, f: str, node: str | None = None) -> Op:
    return Op(time_ns=t_ms * MS, type=type_, process=p, f=f, node=node)  # type: ignore[arg-type]


def history(*ops: Op) -> History:
    return History.indexed(sorted(ops, key=lambda o: o.time_ns))


def client_ops(start_ms: int, end_ms: int, every_ms: int, node: str, process: int, outcome: str = "ok") -> list[Op]:
    out = []
    for t in range(start_ms, end_ms, every_ms):
        out += [op(t, "invoke", process, "read", node), op(t + 1, outcome, process, "read", node)]
    return out


def test_counts_the_client_ops_of_each_window_overall_and_per_node() -> None:
    h = history(
        *client_ops(0, 1000, 10, "n1", 0),  # 100 ops/s before the fault
        op(990, "invoke", "nemesis", "start-partition"), op(1000, "info", "nemesis", "start-partition"),
        *client_ops(1000, 2000, 20, "n1", 0),
        *client_ops(1005, 2000, 100, "n2", 1, "fail"),
        op(2000, "invoke", "nemesis", "stop-partition"), op(2100, "info", "nemesis", "stop-partition"),
        *client_ops(2200, 3000, 10, "n1", 0),
        op(3000, "invoke", "nemesis", "start-partition"), op(3500, "info", "nemesis", "start-partition"),
        op(3900, "invoke", "nemesis", "stop-partition"), op(4000, "info", "nemesis", "stop-partition"),
    )
    cov = coverage(h, [PART], 10)
    w, late = cov.windows
    # from the start's invocation to the heal's completion, and surely in place from the start's completion to the
    # stop's invocation: what coverage counts
    iv = w.interval
    assert (iv.start_s, iv.end_s, iv.in_place_from_s, iv.in_place_to_s, iv.healed) == (0.99, 2.1, 1.0, 2.0, True)
    assert w.total.invoked == 60 and w.total.ok == 50 and w.total.fail == 10 and w.total.completed == 60
    assert {n: (t.invoked, t.ok, t.fail) for n, t in w.by_node.items()} == {"n1": (50, 50, 0), "n2": (10, 0, 10)}
    assert cov.baseline_rate == 100.0  # 99 invocations from 0 s to the fault's invocation at 0.99 s
    assert abs(w.longest_gap_s - 0.02) < 1e-9  # from the last invocation at 1.98 s to the heal's invocation
    # ops from 2.2 s to 3 s ran while the second fault was being put in place (until 3.5 s): they do not count
    assert (late.interval.in_place_from_s, late.interval.in_place_to_s, late.total.invoked) == (3.5, 3.9, 0)
    assert cov.untested == (late,)
    assert cov.to_json()["windows"][0]["completed"] == 60


def test_a_window_with_too_few_completed_ops_is_untested_and_caps_a_valid_verdict() -> None:
    h = history(
        *client_ops(0, 1000, 10, "n1", 0),
        op(990, "invoke", "nemesis", "start-partition"), op(1000, "info", "nemesis", "start-partition"),
        op(1100, "invoke", 0, "read", "n1"),  # one op, then the client hangs until the end of the window
        op(3000, "invoke", "nemesis", "stop-partition"), op(3100, "info", "nemesis", "stop-partition"),
        op(3150, "info", 0, "read", "n1"),
    )
    cov = coverage(h, [PART], 10)
    (w,) = cov.untested
    assert w.total.invoked == 1 and w.total.completed == 1 and abs(w.longest_gap_s - 1.9) < 1e-9
    capped = _cap(Verdict(valid=True, checker="x"), [], [], cov)
    assert capped.valid == UNKNOWN
    assert capped.findings[0].kind == "fault-window-untested"
    assert "fault window untested: partition in place from 1.0 s to 3.0 s" in capped.findings[0].diagnosis
    assert _cap(Verdict(valid=False, checker="x"), [], [], cov).valid is False  # invalid stays invalid
    assert coverage(h, [PART], 1).untested == ()  # --min-fault-ops 1: one completed op is enough


def test_no_fault_no_windows() -> None:
    cov = coverage(history(*client_ops(0, 100, 10, "n1", 0)), [PART], 10)
    assert cov.windows == () and cov.baseline_rate is None and cov.untested == ()


def test_worker_idle_time_tells_a_waiting_harness_from_a_system_that_does_not_answer() -> None:
    """Two workers. In the first window worker 1's op hangs for the whole window (the system's doing: gap, no
    idle); in the second worker 0 completes at once and is not given its next op for 0.8 s (the harness's doing:
    idle). A crashed process continues as process + concurrency on the same worker."""
    h = history(
        *client_ops(0, 1000, 10, "n1", 0),
        op(1000, "invoke", "nemesis", "start-partition"), op(1001, "info", "nemesis", "start-partition"),
        *client_ops(1000, 2000, 50, "n1", 0),
        op(1000, "invoke", 1, "read", "n2"), op(1990, "info", 1, "read", "n2"),
        op(2000, "invoke", 3, "read", "n2"), op(2001, "ok", 3, "read", "n2"),  # process 3 = 1 + 2: worker 1
        op(2000, "invoke", "nemesis", "stop-partition"), op(2001, "info", "nemesis", "stop-partition"),
        *client_ops(2000, 3000, 50, "n1", 0),
        op(3000, "invoke", "nemesis", "start-partition"), op(3001, "info", "nemesis", "start-partition"),
        op(3010, "invoke", 0, "read", "n1"), op(3020, "ok", 0, "read", "n1"),
        op(3820, "invoke", 0, "read", "n1"), op(3830, "ok", 0, "read", "n1"),
        op(4000, "invoke", "nemesis", "stop-partition"), op(4001, "info", "nemesis", "stop-partition"),
    )
    first, second = coverage(h, [PART], 1, concurrency=2).windows
    assert first.longest_idle_s is not None and first.longest_idle_s < 0.05
    assert second.longest_idle_s is not None and abs(second.longest_idle_s - 0.8) < 1e-9
    assert coverage(h, [PART], 1).windows[0].longest_idle_s is None  # threads unknown: not measured
    assert coverage(h, [PART], 1, concurrency=2).to_json()["windows"][1]["longest_idle_s"] == second.longest_idle_s
