"""Benchmark of the interpreter: ops/s and added latency per op against a no-op client.

Each completed op is written to a real history.jsonl (flushed per completion), as in a run. "Added latency" is
completion time minus invocation time as recorded, with a client that returns at once: all of it is the
interpreter's own overhead (dispatch to the worker thread, the client call, the hand-back, the clock reads).
Targets (issue 2): >= 20,000 ops/s with 10 workers; median added latency < 50 us.

    python bench/interpreter.py [--ops 100000]
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
    ins = [queue.SimpleQueue() for _ in range(workers)]

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=100_000)
    args = ap.parse_args()
    print(f"interpreter benchmark: {args.ops} ops per run, no-op client, history written to disk")
    print(f"{'workers':>8} {'ops/s':>10} {'median us':>10} {'p99 us':>10} {'hand-off floor/s':>17}")
    for workers in (1, 10, 100):
        rate, med, p99 = bench(workers, args.ops)
        print(f"{workers:>8} {rate:>10.0f} {med:>10.1f} {p99:>10.1f} {handoff_floor(workers):>17.0f}")


if __name__ == "__main__":
    main()
