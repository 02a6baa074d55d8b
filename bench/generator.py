"""Benchmark of the generator DSL: the cost of asking a generator for an op and telling it of the invocation
and the completion, as the interpreter does for every op, without threads or clients.

The interpreter's target (issue 2) is 20,000 ops/s with 10 workers, i.e. 50 us per op for everything; the
generator's share should be a few microseconds for a simple generator. Printed: microseconds per op (one
`op` + two `update`s + the context changes) and ops/s of the generator alone, for a simple and a composed
generator, the deterministic simulator's ops/s, the cost of choosing a free process (a draw from test.rng)
and the share of ops each thread gets under stagger (fair choice: about 20% each of 5).

    python bench/generator.py [--ops 100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness import generator as g
from harness.generator.threads import OnThreads
from harness.op import INVOKE, Op
from harness.options import RunOptions
from harness.test import bare_test


def drive(gen: g.GenLike, ops: int, concurrency: int) -> tuple[int, float]:
    """The interpreter's generator calls with zero-latency completions: ask, dispatch (busy + update), complete
    (free + update). Returns (invocations, seconds)."""
    test = bare_test(options=RunOptions(seed=1), concurrency=concurrency)
    ctx = g.Context.initial(concurrency)
    outstanding: list[tuple[g.Thread, g.Event]] = []
    n = 0
    now = 0
    t0 = time.perf_counter()
    while n < ops:
        now += 1000
        ctx = ctx.with_time(now)
        r = g.op(gen, test, ctx)
        if r is None:
            break
        e, gen2 = r
        if e is g.PENDING or e.time_ns > now:
            if outstanding:  # complete the oldest op
                thread, inv = outstanding.pop(0)
                ctx = ctx.free(thread)
                gen = g.update(gen, test, ctx, inv.replace(type="ok", time_ns=now) if isinstance(inv, Op) else inv)
            else:
                now = max(now, e.time_ns if e is not g.PENDING else now)
            continue
        chosen = ctx.thread_of(e.process)
        assert chosen is not None, e  # the generator emits only for a free process
        ctx = ctx.busy(chosen)
        gen = g.update(gen2, test, ctx, e)
        outstanding.append((chosen, e))
        if isinstance(e, Op) and e.type == INVOKE:
            n += 1
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=10)
    a = ap.parse_args()
    cases = {
        "clients(limit(n, repeat(read)))": g.clients(g.limit(a.ops, g.repeat({"f": "read"}))),
        "clients(mix(read, write fn)) + nemesis cycle, time_limit": g.time_limit(
            3600,
            g.clients(
                g.limit(a.ops, g.mix([g.repeat({"f": "read"}),
                                      lambda test, ctx: {"f": "write", "value": test.rng.randrange(5)}])),
                g.cycle([g.sleep(1e-4), {"f": "start"}, g.sleep(1e-4), {"f": "stop"}]),
            ),
        ),  # fmt: skip
        "clients(reserve(2, cas, each_thread(repeat(read))))": g.clients(
            g.limit(a.ops, g.reserve(2, g.repeat({"f": "cas"}), g.each_thread(g.repeat({"f": "read"}))))
        ),
    }
    print(f"generator cost per op (ask + 2 updates + context changes), {a.concurrency} workers, {a.ops} ops")
    for name, gen in cases.items():
        n, dt = drive(gen, a.ops, a.concurrency)
        print(f"  {name:60s} {dt / n * 1e6:6.2f} us/op  {n / dt:10,.0f} ops/s")
    # the parts, for the simple generator: one ask that emits, one that is pending, one update
    test = bare_test(options=RunOptions(seed=1), concurrency=a.concurrency)
    simple = g.clients(g.limit(10**9, g.repeat({"f": "read"})))
    ctx = g.Context.initial(a.concurrency)
    busy = ctx
    for t in range(a.concurrency):
        busy = busy.busy(t)
    first = g.op(simple, test, ctx)
    assert first is not None, "repeat(read) on free client threads emits"
    emitted, after = first
    assert isinstance(emitted, Op), emitted
    reps = max(1000, a.ops)
    parts = {
        "ask -> op": lambda: g.op(simple, test, ctx),
        "ask -> PENDING": lambda: g.op(simple, test, busy),
        "update": lambda: g.update(after, test, ctx, emitted),
    }
    for label, fn in parts.items():
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        print(f"  simple generator, {label:15s} {(time.perf_counter() - t0) / reps * 1e6:6.2f} us")
    # the choice of a free process (a uniform draw from test.rng): its cost with 1, half and all threads free
    view = g.clients(lambda test, ctx: None)  # only for its thread filter
    assert isinstance(view, OnThreads), view
    clients_ctx = view.filter(ctx)
    for k in sorted({1, max(1, a.concurrency // 2), a.concurrency}):
        c = clients_ctx
        for t in range(a.concurrency - k):
            c = c.busy(t)
        rng = test.rng
        t0 = time.perf_counter()
        for _ in range(reps):
            c.some_free_process(rng)
        us = (time.perf_counter() - t0) / reps * 1e6
        print(f"  choice of a free process, {k:3d} of {a.concurrency} free  {us:6.2f} us")
    # fairness: the share of each thread under stagger when threads are mostly free (issue: lowest-free gave
    # thread 0 nearly everything)
    ops = g.invocations(g.simulate(g.clients(g.stagger(0.01, g.limit(5000, g.repeat({"f": "read"})))),
                                   test=test, concurrency=5, latency_ns=1_000_000, max_ops=5000))  # fmt: skip
    shares = sorted(sum(1 for o in ops if o.process % 5 == t) / len(ops) for t in range(5))
    print(f"  stagger(10 ms), 1 ms ops, 5 threads: share of ops per thread, min {shares[0]:.1%} max {shares[-1]:.1%}")
    n_sim = a.ops // 5
    t0 = time.perf_counter()
    hist = g.simulate(g.clients(g.limit(n_sim, g.repeat({"f": "read"}))), concurrency=a.concurrency,
                      max_ops=n_sim)  # fmt: skip
    dt = time.perf_counter() - t0
    print(f"simulator: {len(hist) // 2} ops (invoke+ok) in {dt:.2f} s = {len(hist) // 2 / dt:,.0f} ops/s")


if __name__ == "__main__":
    main()
