"""Benchmark of the interpreter: ops/s and hand-off latency per op against a no-op client.

Each op is written to a real history.jsonl through the runner's HistoryWriter (one write(2) per completion,
the same durability as a run). The hand-off latency is completion time minus invocation time as recorded, with
a client that returns at once: the width the interpreter adds to every op's interval in a history (recording
the invocation, the client call, reading the clock). A worker's wait for its turn (the GIL, the interpreter's
lock) falls outside the interval when the interpreter records an invocation right before the call and reads the
completion time right after it (harness/interpreter.py), inside it otherwise: the p99 says whether it does.

Targets (issue 23): >= 30,000 ops/s at 10 workers and >= 20,000 at 100; p99 hand-off < 1 ms at 10 workers.
Each worker count runs --runs times; the best and the median run are printed beside the target, with the load
average, since the figures move with whatever else the machine runs.

    python bench/interpreter.py [--ops 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from harness import generator as g
from harness.interpreter import Interpreter
from harness.nemesis import NoopNemesis
from harness.op import HistoryWriter, Op, Process
from harness.options import RunOptions
from harness.test import Test, bare_test


class NoopClient:
    """Completes every op at once."""

    def open(self, test: Test, node: str) -> "NoopClient":
        return self

    def setup(self, test: Test) -> None: ...
    def teardown(self, test: Test) -> None: ...
    def close(self, test: Test) -> None: ...

    def invoke(self, test: Test, op: Op) -> Op:
        return op.replace(type="ok")


def bench(workers: int, n_ops: int) -> tuple[float, float, float]:
    """(ops/s, median hand-off us, p99 hand-off us) of one run."""
    test = bare_test(options=RunOptions(concurrency=workers), concurrency=workers, client=NoopClient(),
                     nemesis=NoopNemesis(), nodes=("n1", "n2", "n3"))
    invoked: dict[Process, int] = {}
    latencies: list[int] = []
    with tempfile.TemporaryDirectory() as d:
        writer = HistoryWriter(os.path.join(d, "history.jsonl"))

        def record(op: Op, completion: bool) -> None:
            writer.append(op, flush=completion)
            if completion:
                latencies.append(op.time_ns - invoked.pop(op.process))
            else:
                invoked[op.process] = op.time_ns

        interp = Interpreter(test, record=record)
        gen = g.clients(g.limit(n_ops, g.repeat({"f": "read", "value": None})))
        t0 = time.perf_counter()
        interp.run(gen)
        elapsed = time.perf_counter() - t0
        writer.close()
    latencies.sort()
    return n_ops / elapsed, statistics.median(latencies) / 1000, latencies[int(len(latencies) * 0.99)] / 1000


def handoff_floor(workers: int, n: int = 20_000) -> float:
    """Round trips/s of bare queue hand-offs between a main thread and worker threads: the ceiling any
    thread-per-worker interpreter in CPython has on this machine (no generator, no history, no clock)."""
    import queue
    import threading

    outs: queue.SimpleQueue[int] = queue.SimpleQueue()
    ins: list[queue.SimpleQueue[int | None]] = [queue.SimpleQueue() for _ in range(workers)]

    def work(i: int) -> None:
        while ins[i].get() is not None:
            outs.put(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    for q in ins:
        q.put(1)
    for _ in range(n):
        ins[outs.get()].put(1)
    elapsed = time.perf_counter() - t0
    for q in ins:
        q.put(None)
    for t in threads:
        t.join()
    return n / elapsed


RATE_TARGETS = {10: 30_000, 100: 20_000}  # ops/s (issue 23)
P99_TARGETS_US = {10: 1_000.0}


def _target(value: float, target: float | None, higher_is_better: bool) -> str:
    if target is None:
        return "(no target)"
    met = value >= target if higher_is_better else value < target
    return f"({'>=' if higher_is_better else '<'} {target:,.0f}: {'met' if met else 'NOT met'})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3, help="runs per worker count; best and median are printed")
    args = ap.parse_args()
    print(f"interpreter benchmark: {args.ops} ops per run, {args.runs} runs per worker count, no-op client, "
          f"history written to disk; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for workers in (1, 10, 100):
        runs = sorted((bench(workers, args.ops) for _ in range(args.runs)), key=lambda r: -r[0])
        best, med = runs[0], runs[len(runs) // 2]
        p99s = sorted(r[2] for r in runs)
        print(f"{workers:>3} workers: ops/s best {best[0]:>7,.0f} median {med[0]:>7,.0f} "
              f"{_target(best[0], RATE_TARGETS.get(workers), True)}")
        print(f"             hand-off us: median {med[1]:.1f}, p99 best {p99s[0]:,.0f} median {p99s[len(p99s) // 2]:,.0f} "
              f"{_target(p99s[0], P99_TARGETS_US.get(workers), False)}")
        print(f"             bare queue hand-off floor {handoff_floor(workers):,.0f} round trips/s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
