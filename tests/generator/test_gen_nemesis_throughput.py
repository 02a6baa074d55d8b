"""Property tests through the simulator: a nemesis schedule never slows the clients down. Whatever the faults'
times and durations, client throughput stays that of a run without faults, no worker waits longer than the
generator's own stagger while it has ops to give, and a seed gives the same ops on every replay."""

from __future__ import annotations

import bisect
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import generator as gen
from harness.op import INVOKE, NEMESIS, OK, Op
from harness.options import RunOptions
from harness.test import bare_test
from nemeses.schedule import ScheduleEntry, Scripted, periodic

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MS = 1_000_000
RUN_NS = 10_000 * MS


def _test(seed: int, concurrency: int) -> Any:
    return bare_test(options=RunOptions(seed=seed, concurrency=concurrency), concurrency=concurrency)


def _completer(client_ns: int, nemesis_ns: int) -> Any:
    """Client ops take `client_ns`, nemesis ops (injecting a fault) `nemesis_ns`."""

    def complete(ctx: Any, inv: Op) -> Op:
        took = nemesis_ns if inv.process == NEMESIS else client_ns
        return inv.replace(type="info" if inv.process == NEMESIS else OK, time_ns=inv.time_ns + took)

    return complete


@st.composite
def schedules(draw: Any) -> Any:
    """A nemesis schedule: periodic (start/stop every interval from an offset) or scripted (ops at given times)."""
    if draw(st.booleans()):
        interval = draw(st.integers(50, 3000)) * MS
        offset = draw(st.integers(0, 3000)) * MS
        return periodic([{"f": "start"}, {"f": "stop"}], interval / 1e9, offset / 1e9)
    times = sorted(draw(st.lists(st.integers(0, RUN_NS // MS), min_size=1, max_size=30)))
    return Scripted(tuple(ScheduleEntry(at=t / 1000, f=("start", "stop")[i % 2]) for i, t in enumerate(times)))


def _client_invocations(history: list[Any]) -> list[Op]:
    return [o for o in history if isinstance(o, Op) and o.type == INVOKE and o.process != NEMESIS]


def _sim(gen_: Any, seed: int, concurrency: int, complete: Any) -> list[Any]:
    return gen.simulate(gen_, test=_test(seed, concurrency), concurrency=concurrency, complete=complete,
                        max_ops=200_000)


@SETTINGS
@given(schedule=schedules(), concurrency=st.integers(1, 6), client_ms=st.integers(1, 50),
       nemesis_ms=st.integers(0, 2000), seed=st.integers(0, 2**16))
def test_faults_do_not_slow_the_clients(schedule: Any, concurrency: int, client_ms: int, nemesis_ms: int,
                                        seed: int) -> None:
    complete = _completer(client_ms * MS, nemesis_ms * MS)
    clients = gen.repeat({"f": "read"})
    with_faults = _sim(gen.time_limit(RUN_NS / 1e9, gen.clients(clients, schedule)), seed, concurrency, complete)
    without = _sim(gen.time_limit(RUN_NS / 1e9, gen.clients(clients)), seed, concurrency, complete)
    n, base = len(_client_invocations(with_faults)), len(_client_invocations(without))
    assert base > 0
    assert abs(n - base) <= 0.1 * base, (n, base)


@SETTINGS
@given(schedule=schedules(), concurrency=st.integers(1, 6), client_ms=st.integers(0, 20),
       stagger_ms=st.integers(1, 100), seed=st.integers(0, 2**16))
def test_no_worker_idles_longer_than_the_stagger_while_ops_are_pending(
    schedule: Any, concurrency: int, client_ms: int, stagger_ms: int, seed: int
) -> None:
    complete = _completer(client_ms * MS, 500 * MS)
    clients = gen.stagger(stagger_ms / 1000, gen.repeat({"f": "read"}))
    history = _sim(gen.time_limit(RUN_NS / 1e9, gen.clients(clients, schedule)), seed, concurrency, complete)
    invoked = _client_invocations(history)
    done = [o for o in history if isinstance(o, Op) and o.type == OK and o.process != NEMESIS]
    assert invoked
    end = invoked[-1].time_ns
    starts = sorted(o.time_ns for o in invoked)
    # after a worker became free, the next client op follows within the stagger's largest gap (2 * dt)
    for c in done:
        if c.time_ns >= end:
            continue
        nxt = starts[bisect.bisect_left(starts, c.time_ns)]
        assert nxt - c.time_ns <= 2 * stagger_ms * MS, (c, nxt)


@SETTINGS
@given(schedule=schedules(), concurrency=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_a_seed_replays_the_same_ops(schedule: Any, concurrency: int, seed: int) -> None:
    def draw(test: Any, ctx: Any) -> dict[str, Any]:
        return {"f": "write", "value": test.rng.randrange(1000)}

    def once() -> list[tuple[int, Any, str, Any]]:
        g_ = gen.time_limit(2.0, gen.clients(gen.stagger(0.01, draw), schedule))
        h = _sim(g_, seed, concurrency, _completer(3 * MS, 100 * MS))
        return [(o.time_ns, o.process, o.f, o.value) for o in h if isinstance(o, Op) and o.type == INVOKE]

    assert once() == once()
