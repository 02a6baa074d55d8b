"""Benchmark of the invariant checkers: each one on a generated 1,000,000-op history (target: under 10 s and
under 2 GiB). Prints one line per checker: generation time, check time, peak RSS of the process that generated
and checked the history (history included), and the verdict (which must be valid: the histories come from
correct sequential models).

    python bench/checkers.py                  # every checker, 1,000,000 ops each
    python bench/checkers.py --ops 200000 set-full bank

Each checker runs in its own forked process, so one checker's memory does not count against the next.
Histories come from the simulator the checkers' property tests use (tests/checkers/sim.py): 10 clients on 3
nodes against a correct sequential model, each op taking effect at one instant between its invocation and its
completion (so the history is correct by construction); 4% of ops fail (no effect), 3% end info (effect or not,
at random; the process is retired; for the queue, info ops never take effect, see `generate`). The models are
set up for size: few reads of whole collections, wide key spaces.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.checker import Checker
from harness.op import History, Op
from tests.checkers import sim


def with_faults(h: History, every: int = 50_000) -> History:
    """A partition (start/stop) every `every` ops, as a nemesis would record it."""
    ops: list[Op] = []
    for i, op in enumerate(h.ops):
        if i % every == every // 2:
            f = "start-partition" if (i // every) % 2 == 0 else "stop-partition"
            ops.append(Op(index=len(ops), time_ns=op.time_ns, type="invoke", process="nemesis", f=f))
            ops.append(Op(index=len(ops) + 1, time_ns=op.time_ns, type="info", process="nemesis", f=f))
        ops.append(op)
    ops.append(Op(type="invoke", process="nemesis", f="stop-partition", time_ns=ops[-1].time_ns))
    ops.append(Op(type="info", process="nemesis", f="stop-partition", time_ns=ops[-1].time_ns))
    return History.indexed(ops)


def _checkers() -> dict[str, tuple[Callable[[int], History], Callable[[], Checker]]]:
    from checkers.invariants import (
        AvailabilityChecker,
        BankChecker,
        CounterChecker,
        IdempotencyChecker,
        MonotonicChecker,
        SetChecker,
        SetFullChecker,
        StatsChecker,
        TotalQueueChecker,
        UniqueIdsChecker,
        UniquenessChecker,
    )

    return {
        "set": (lambda n: generate(sim.SetModel(p_read=0), n), SetChecker),
        "set-full (keyed)": (lambda n: generate(sim.GrowingKeyedSetModel(), n), lambda: SetFullChecker(keyed=True)),
        "counter": (lambda n: generate(sim.CounterModel(low=-2, p_add=0.5), n), CounterChecker),
        "bank": (lambda n: generate(_bank(), n), BankChecker),
        "monotonic": (lambda n: generate(sim.VersionModel(keys=100, p_write=0.3), n), MonotonicChecker),
        "idempotency": (lambda n: generate(sim.IdempotentModel(p_read=0.0001, retry_window=50), n),
                        IdempotencyChecker),
        "unique-ids": (lambda n: generate(sim.IdModel(), n), UniqueIdsChecker),
        "total-queue": (lambda n: generate(sim.QueueModel(), n, indefinite_effects=False), TotalQueueChecker),
        "uniqueness": (lambda n: generate(sim.LockModel(locks=100, p_book=0), n), UniquenessChecker),
        "stats": (lambda n: generate(_bank(), n), StatsChecker),
        "availability": (lambda n: with_faults(generate(sim.CounterModel(low=-2, p_add=0.5), n - 44)),
                         AvailabilityChecker),
    }


def _bank() -> sim.BankModel:
    return sim.BankModel(accounts=8, balance=100, max_transfer=30)


def generate(model: sim.Model, n_ops: int, *, indefinite_effects: bool = True) -> History:
    """About `n_ops` history entries (invocations and completions) of `model`: 10 clients on 3 nodes, 4% of ops
    fail, 3% end info (half of those take effect later, none without `indefinite_effects`)."""
    return sim.simulate(model, seed=1, n_ops=n_ops // 2, concurrency=10, p_fail=0.04, p_info=0.03,
                        nodes=("n1", "n2", "n3"), indefinite_effects=indefinite_effects)


def _one(name: str, n: int, out: Connection) -> None:
    make_history, make_checker = _checkers()[name]
    t0 = time.perf_counter()
    h = make_history(n)
    t1 = time.perf_counter()
    c1 = time.process_time()
    v = make_checker().check(None, h, "/tmp")
    c2 = time.process_time()
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    out.send((len(h), t1 - t0, t2 - t1, c2 - c1, rss, v.valid, v.summary))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("names", nargs="*", help="checkers to run (default: all)")
    args = ap.parse_args()
    names = [k for k in _checkers() if not args.names or k.split()[0] in args.names]
    ctx = mp.get_context("fork")
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs (wall time suffers when the machine is shared; "
          "CPU time is what the check itself costs)")
    print(f"{'checker':<18} {'ops':>9} {'generate s':>10} {'check s':>8} {'check CPU s':>11} {'peak MiB':>9}  verdict")
    worst = 0
    for name in names:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_one, args=(name, args.ops, send))
        proc.start()
        n_ops, gen_s, check_s, cpu_s, rss, valid, summary = recv.recv()
        proc.join()
        print(f"{name:<18} {n_ops:>9} {gen_s:>10.2f} {check_s:>8.2f} {cpu_s:>11.2f} {rss:>9.0f}  {valid} ({summary})",
              flush=True)
        if cpu_s > 10 or rss > 2048 or valid is not True:
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
