"""The interpreter with stub clients (named as such: the subject is the interpreter, not a system)."""

from __future__ import annotations

import threading
import time
from typing import Any

from harness import generator as g
from harness.interpreter import Interpreter
from harness.nemesis import NoopNemesis
from harness.op import History, Op
from harness.options import RunOptions
from harness.test import bare_test


class StubClient:
    """A stub client: behaviour per op value ("ok", "fail", "info", "raise", "hang")."""

    def __init__(self, opened: list[str] | None = None, fail_open: bool = False) -> None:
        self.opened = opened if opened is not None else []
        self.fail_open = fail_open
        self.release = threading.Event()

    def open(self, test: Any, node: str) -> StubClient:
        if self.fail_open:
            raise ConnectionRefusedError("stub refuses")
        self.opened.append(node)
        c = StubClient(self.opened)
        c.release = self.release
        return c

    def setup(self, test: Any) -> None: ...
    def teardown(self, test: Any) -> None: ...
    def close(self, test: Any) -> None: ...

    def invoke(self, test: Any, op: Op) -> Op:
        what = op.value
        if what == "raise":
            raise RuntimeError("boom")
        if what == "hang":
            self.release.wait(5)
            return op.replace(type="ok")
        return op.replace(type=what)


def run(gen: Any, *, concurrency: int = 2, op_timeout: float = 5.0, client: Any = None, watchdog: float = 30.0):
    test = bare_test(options=RunOptions(concurrency=concurrency, op_timeout=op_timeout), concurrency=concurrency,
                     op_timeout=op_timeout, client=client or StubClient(), nemesis=NoopNemesis(),
                     nodes=("n1", "n2"))
    ops: list[Op] = []
    interp = Interpreter(test, record=lambda op, done: ops.append(op), watchdog=watchdog)
    res = interp.run(gen)
    return History(ops), res


def test_every_invocation_completes_and_indices_are_positions() -> None:
    h, res = run(g.clients(g.limit(50, g.repeat({"f": "read", "value": "ok"}))))
    assert len(h) == 100 and res.ops == 100
    assert [o.index for o in h] == list(range(100))
    assert all(c is not None and c.type == "ok" for _, c in h.pairs())
    times = [o.time_ns for o in h]
    assert times == sorted(times)


def test_info_and_exceptions_retire_the_process() -> None:
    gen = g.clients([{"f": "w", "value": "info"}, {"f": "w", "value": "raise"}, {"f": "w", "value": "ok"}])
    h, _ = run(gen, concurrency=1)
    completions = [o for o in h if o.type != "invoke"]
    assert [o.type for o in completions] == ["info", "info", "ok"]
    assert "RuntimeError: boom" in completions[1].error
    # concurrency 1: process 0 crashes, becomes 1, crashes, becomes 2
    assert [o.process for o in completions] == [0, 1, 2]


def test_an_op_past_its_deadline_is_info_and_the_thread_moves_on() -> None:
    client = StubClient()
    gen = g.clients([{"f": "w", "value": "hang"}, {"f": "w", "value": "ok"}, {"f": "w", "value": "ok"}])
    t0 = time.monotonic()
    h, res = run(gen, concurrency=1, op_timeout=0.3, client=client)
    client.release.set()
    assert time.monotonic() - t0 < 3
    completions = [o for o in h if o.type != "invoke"]
    assert completions[0].type == "info" and completions[0].error == "timeout"
    assert completions[0].time_ns - h[0].time_ns >= 300_000_000
    assert [o.type for o in completions[1:]] == ["ok", "ok"]
    assert completions[1].process == 1  # a new process on a fresh thread and client
    assert res.timeouts == 1


def test_a_client_that_cannot_open_fails_the_op_definitely() -> None:
    h, _ = run(g.clients([{"f": "read", "value": "ok"}]), concurrency=1, client=StubClient(fail_open=True))
    assert h[1].type == "fail" and "no client" in h[1].error


class Forever(g.Gen):
    """Never emits anything: a generator that stopped making progress."""

    def op(self, test: Any, ctx: Any) -> Any:
        return (g.PENDING, self)


def test_the_watchdog_ends_a_run_that_makes_no_progress() -> None:
    t0 = time.monotonic()
    h, res = run(Forever(), watchdog=0.5)
    assert res.watchdog_fired
    assert 0.4 < time.monotonic() - t0 < 5
    assert len(h) == 0


def test_workers_talk_to_nodes_round_robin() -> None:
    client = StubClient()
    run(g.clients(g.each_thread({"f": "r", "value": "ok"})), concurrency=4, client=client)
    assert sorted(client.opened) == ["n1", "n1", "n2", "n2"]


def test_phases_continue_indices_and_never_reuse_a_retired_process() -> None:
    test = bare_test(options=RunOptions(concurrency=1), concurrency=1, client=StubClient(), nemesis=NoopNemesis(),
                     nodes=("n1",))
    ops: list[Op] = []
    interp = Interpreter(test, record=lambda op, done: ops.append(op))
    interp.run(g.clients([{"f": "w", "value": "info"}]))
    interp.run(g.clients([{"f": "r", "value": "ok"}]), t0=interp.t0)
    assert [o.index for o in ops] == [0, 1, 2, 3]
    assert [o.process for o in ops] == [0, 0, 1, 1]


class SlowCallClient(StubClient):
    """Every call takes 20 ms (the op's real duration)."""

    def open(self, test: Any, node: str) -> SlowCallClient:
        return self

    def invoke(self, test: Any, op: Op) -> Op:
        time.sleep(0.02)
        return op.replace(type="ok")


def test_an_op_interval_is_its_call_not_the_wait_for_the_lock() -> None:
    # While one worker holds the interpreter's lock for 300 ms (its record of an invocation is slow), the other
    # worker's call returns: its completion is recorded with the time the call returned (or the last recorded
    # op's, if later), not with the time the lock came free, so its interval is about its 20 ms call.
    test = bare_test(options=RunOptions(concurrency=2), concurrency=2, client=SlowCallClient(), nemesis=NoopNemesis(),
                     nodes=("n1", "n2"))
    ops: list[Op] = []
    slow: list[Op] = []

    def record(op: Op, completion: bool) -> None:
        ops.append(op)
        if not completion and not slow and len(ops) > 4:
            slow.append(op)
            time.sleep(0.3)  # under the lock

    Interpreter(test, record=record).run(g.clients(g.limit(12, g.repeat({"f": "read", "value": None}))))
    h = History(ops)
    (s,) = slow
    pairs = [(inv, c) for inv, c in h.pairs() if c is not None]
    assert len(pairs) == 12
    assert any(inv.index < s.index < c.index and inv.process != s.process for inv, c in pairs), \
        "no op of the other worker was in flight during the slow record"
    spans = [c.time_ns - inv.time_ns for inv, c in pairs if inv.index != s.index]
    assert max(spans) < 150_000_000, spans  # the slow op itself spans the record: it is invoked before the call
    assert [o.time_ns for o in h] == sorted(o.time_ns for o in h)
