"""Property tests of the generator DSL through the simulator (hypothesis): counts, time bounds, barriers, thread
routing, and, for random compositions of combinators, a well-formed and reproducible history."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import generator as gen
from harness.errors import BadInput
from harness.op import INFO, NEMESIS, Op
from harness.options import RunOptions
from harness.test import bare_test

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

conc = st.integers(min_value=1, max_value=6)
latency = st.integers(min_value=0, max_value=1000)
outcome = st.sampled_from(["ok", "fail", "info"])
seeds = st.integers(min_value=0, max_value=2**32)


def seeded(seed: int, concurrency: int):  # type: ignore[no-untyped-def]
    return bare_test(options=RunOptions(seed=seed), concurrency=concurrency)


@SETTINGS
@given(n=st.integers(min_value=0, max_value=300), c=conc, lat=latency, kind=outcome)
def test_limit_emits_exactly_n(n: int, c: int, lat: int, kind: str) -> None:
    ops = gen.invocations(gen.simulate(gen.clients(gen.limit(n, gen.repeat({"f": "r"}))), concurrency=c,
                                       latency_ns=lat, complete=kind))  # fmt: skip
    assert len(ops) == n


@SETTINGS
@given(
    limit_s=st.floats(min_value=0, max_value=2e-6),
    dt_s=st.floats(min_value=0, max_value=1e-6),
    start=st.integers(min_value=0, max_value=10**9),
    c=conc,
    lat=st.integers(min_value=10, max_value=1000),
    seed=seeds,
)
def test_time_limit_never_emits_past_its_limit(limit_s: float, dt_s: float, start: int, c: int, lat: int,
                                               seed: int) -> None:  # fmt: skip
    g = gen.clients(gen.time_limit(limit_s, gen.stagger(dt_s, gen.repeat({"f": "r"}))))
    ops = gen.invocations(gen.simulate(g, test=seeded(seed, c), latency_ns=lat, time_ns=start, max_ops=5_000))
    cutoff = start + int(round(limit_s * 1e9))
    assert all(start <= o.time_ns < cutoff for o in ops)
    if cutoff > start:
        assert ops and ops[0].time_ns == start  # the first op goes at once


@SETTINGS
@given(sizes=st.lists(st.integers(min_value=0, max_value=8), min_size=1, max_size=5), c=conc, seed=seeds,
       lat=st.integers(min_value=1, max_value=50))  # fmt: skip
def test_phases_never_overlap(sizes: list[int], c: int, seed: int, lat: int) -> None:
    def complete(ctx, inv):  # type: ignore[no-untyped-def]
        return inv.replace(type="ok", time_ns=inv.time_ns + lat * (1 + hash(inv.process) % 7))

    g = gen.clients(gen.phases(*(gen.limit(n, gen.repeat({"f": "r", "value": k})) for k, n in enumerate(sizes))))
    hist = gen.simulate(g, test=seeded(seed, c), complete=complete)
    invs = gen.invocations(hist)
    assert Counter(o.value for o in invs) == Counter({k: n for k, n in enumerate(sizes) if n})
    last_done: dict[int, int] = {}
    first_start: dict[int, int] = {}
    for o in hist:
        if o.type == "invoke":
            first_start.setdefault(o.value, o.time_ns)
        else:
            last_done[o.value] = max(last_done.get(o.value, 0), o.time_ns)
    phases_run = sorted(first_start)
    for a, b in zip(phases_run, phases_run[1:]):
        assert first_start[b] >= last_done[a]
    # and no op of a later phase is in the history before the last completion of an earlier one
    position_done = {o.value: i for i, o in enumerate(hist) if o.type != "invoke"}
    position_start = {}
    for i, o in enumerate(hist):
        if o.type == "invoke":
            position_start.setdefault(o.value, i)
    for a, b in zip(phases_run, phases_run[1:]):
        assert position_start[b] > position_done[a]


@SETTINGS
@given(k=st.integers(min_value=0, max_value=10), c=conc, kind=outcome)
def test_each_thread_gives_every_thread_its_own_copy(k: int, c: int, kind: str) -> None:
    ops = gen.invocations(gen.simulate(gen.clients(gen.each_thread(gen.limit(k, gen.repeat({"f": "r"})))),
                                       concurrency=c, complete=kind))  # fmt: skip
    per_thread = Counter(o.process % c for o in ops)  # type: ignore[operator]
    assert per_thread == Counter({t: k for t in range(c)} if k else {})


@SETTINGS
@given(counts=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=3), extra=st.integers(0, 3),
       kind=outcome)  # fmt: skip
def test_reserve_keeps_each_generator_on_its_threads(counts: list[int], extra: int, kind: str) -> None:
    c = sum(counts) + extra
    if c == 0:
        return
    args: list[Any] = []
    for i, n in enumerate(counts):
        args += [n, gen.repeat({"f": f"g{i}"})]
    args.append(gen.repeat({"f": "default"}))
    hist = gen.simulate(gen.limit(200, gen.clients(gen.reserve(*args))), concurrency=c, complete=kind)
    bounds = []
    lo = 0
    for n in counts:
        bounds.append((lo, lo + n))
        lo += n
    for o in gen.invocations(hist):
        t = o.process % c  # type: ignore[operator]
        if o.f == "default":
            assert t >= lo
        else:
            a, b = bounds[int(o.f[1:])]
            assert a <= t < b


# --- random compositions -------------------------------------------------------------------------------------


def leaves() -> st.SearchStrategy[Any]:
    fs = st.sampled_from(["r", "w", "cas"])
    op = st.builds(lambda f, v: {"f": f, "value": v}, fs, st.integers(0, 5))
    return st.one_of(
        op,
        st.builds(gen.repeat, op),
        st.builds(gen.limit, st.integers(0, 6), st.builds(gen.repeat, op)),
        st.lists(op, max_size=4),
        st.builds(gen.sleep, st.sampled_from([0, 1e-7, 1e-6])),
        st.builds(gen.log, st.just("note")),
        st.just(lambda test, ctx: {"f": "fn", "value": ctx.time_ns}),
    )


def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    small = st.integers(0, 4)
    dt = st.sampled_from([0, 1e-8, 1e-7, 1e-6])
    return st.one_of(
        st.builds(gen.once, children),
        st.builds(gen.limit, small, children),
        st.builds(lambda n, g: gen.repeat(n, g), small, children),
        st.builds(lambda n, g: gen.cycle(n, g), small, children),
        st.builds(lambda gs: gen.mix(gs), st.lists(children, min_size=1, max_size=3)),
        st.builds(gen.stagger, dt, children),
        st.builds(gen.delay, dt, children),
        st.builds(gen.time_limit, st.sampled_from([0, 1e-7, 1e-6, 1e-5]), children),
        st.builds(lambda gs: gen.phases(*gs), st.lists(children, max_size=3)),
        st.builds(gen.then, children, children),
        st.builds(gen.synchronize, children),
        st.builds(lambda gs: gen.any(*gs), st.lists(children, max_size=3)),
        st.builds(gen.each_thread, children),
        st.builds(gen.until_ok, children),
        st.builds(gen.flip_flop, children, children),
        st.builds(gen.concurrency_limit, st.integers(1, 3), children),
        st.builds(gen.process_limit, st.integers(0, 4), children),
        st.builds(lambda g: gen.filter(lambda o: o.value != 3, g), children),
        st.builds(lambda g: gen.map(lambda o: o.replace(value=(o.value, "m")), g), children),
    )


trees = st.recursive(leaves(), extend, max_leaves=8)


def tops(c: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        trees,
        st.builds(gen.clients, trees),
        st.builds(gen.nemesis, trees),
        st.builds(gen.clients, trees, trees),
        st.builds(lambda a, b: gen.clients(gen.reserve(c // 2, a, b)), trees, trees),
    )


@pytest.mark.timeout(600)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), c=conc, seed=seeds, kind=st.sampled_from(["ok", "fail", "info", "mixed"]))
def test_random_compositions_give_well_formed_reproducible_histories(data: Any, c: int, seed: int,
                                                                     kind: str) -> None:  # fmt: skip
    g = data.draw(tops(c))

    def complete(ctx, inv):  # type: ignore[no-untyped-def]
        if kind != "mixed":
            return kind
        return ("ok", "fail", "info")[inv.time_ns % 3]

    def run(keep_pending: bool) -> list[Any]:
        return gen.simulate(g, test=seeded(seed, c), concurrency=c, complete=complete, max_ops=200, specials=True,
                            keep_pending=keep_pending)  # fmt: skip

    try:
        hist = run(False)
    except BadInput as e:  # the one way a random composition may be refused: a filter that rejects for ever
        assert str(e).startswith("filter:"), e
        return
    assert hist == run(False), "same seed, same history"
    check_well_formed(run(True), c)  # a caller may also keep the state returned with PENDING
    check_well_formed(hist, c)


def check_well_formed(hist: list[Any], c: int) -> None:
    ops = [o for o in hist if isinstance(o, Op)]
    assert sum(o.type == "invoke" for o in ops) <= 200
    times = [o.time_ns for o in hist]
    assert times == sorted(times)
    open_by_thread: dict[object, Op] = {}
    retired: set[object] = set()
    for o in ops:
        thread = o.process if o.process == NEMESIS else o.process % c  # type: ignore[operator]
        if o.type == "invoke":
            assert thread not in open_by_thread, f"{o} while {open_by_thread.get(thread)} runs on the same thread"
            assert o.process not in retired, f"{o} on a retired process"
            open_by_thread[thread] = o
        else:
            inv = open_by_thread.pop(thread)
            assert inv.process == o.process and inv.f == o.f and o.time_ns >= inv.time_ns
            if o.type == INFO and o.process != NEMESIS:
                retired.add(o.process)
    assert not open_by_thread, "every invocation completes"
