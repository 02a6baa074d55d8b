"""Benchmark of the Elle checker: a generated list-append or rw-register history checked for strict-serializable.

Targets (issue 23): 1,000,000 transactions checked in at most 20 s (stretch: 10 s, Elle's own figure) with a
peak RSS of at most 2 GiB, for list-append and for rw-register; smaller sizes get the same rate (20 s per
million, at least 2 s) and the same memory bound. Prints, per size: time to generate the history, time to
check it (everything the checker does, from ops to Verdict), RSS once the history is built, peak RSS of the
process (history included), graph size, the verdict, which must be valid, and each figure beside its target.
The history comes from a simulated strict-serializable database (each transaction takes effect atomically at
one instant between its invocation and its completion), so any anomaly would be a checker bug.

    python bench/elle.py                                   # 100,000 list-append transactions
    python bench/elle.py --txns 1000000                    # the million
    python bench/elle.py --workload rw-register --txns 100000 --txns 1000000
    python bench/elle.py --txns 1000000 --repeat 3         # best and median of 3 checks (a shared machine)

Each size (and repeat) runs in its own forked process so one run's memory does not count against the next.
The workload resembles Jepsen's: 10 clients, 1-4 micro-ops per transaction (reads and appends / writes on 10
active keys, a key retired after 32 writes and replaced by a fresh one), 1% of transactions fail, 0.5% end
info (applied or not, at random; the process is then retired). rw-register is checked as the rw-register
workload checks it (wfr-keys: a transaction that read v1 and then wrote v2 installed v2 after v1); every
written value is unique.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from multiprocessing.context import ForkContext
from multiprocessing.queues import Queue
from typing import cast

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from checkers.elle import ElleChecker, ElleOptions
from harness.op import History, Op

MicroOp = list[object]  # [f, key, value], as a client records it
# (ops, generate s, check s, history MiB, peak MiB, validity, summary, edges, check CPU s)
Figures = tuple[int, float, float, float, float, object, str, object, float]
TARGET_S_PER_MILLION = 20.0
STRETCH_S_PER_MILLION = 10.0
TARGET_MIB = 2048


class _Db:
    """The simulated database's committed state and the workload's key rotation."""

    def __init__(self, workload: str, active_keys: int, writes_per_key: int) -> None:
        self.append = workload == "list-append"
        self.lists: dict[int, list[int]] = {}
        self.regs: dict[int, int] = {}
        self.writes: dict[int, int] = {}
        self.keys = list(range(active_keys))
        self.next_key = active_keys
        self.writes_per_key = writes_per_key

    def apply(self, txn: list[MicroOp]) -> list[MicroOp]:
        result: list[MicroOp] = []
        for f, k, v in txn:
            key = cast(int, k)  # this bench's own transactions: integer keys, and integer values to write
            if f == "r":
                result.append(["r", key, list(self.lists.get(key, ())) if self.append else self.regs.get(key)])
                continue
            if self.append:
                self.lists.setdefault(key, []).append(cast(int, v))
            else:
                self.regs[key] = cast(int, v)
            result.append([f, key, v])
            n = self.writes[key] = self.writes.get(key, 0) + 1
            if n == self.writes_per_key and key in self.keys:
                self.keys[self.keys.index(key)] = self.next_key
                self.next_key += 1
        return result


def generate(n_txns: int, *, workload: str = "list-append", seed: int = 7, concurrency: int = 10,
             active_keys: int = 10, writes_per_key: int = 32) -> History:
    """A history of `n_txns` transactions from the simulated database (random.random only: randrange and
    choice cost more than the rest of the loop)."""
    rand = random.Random(seed).random
    db = _Db(workload, active_keys, writes_per_key)
    write_f = "append" if workload == "list-append" else "w"
    counter = 0
    ops: list[Op] = []
    pending: dict[int, list[MicroOp]] = {}
    idle = list(range(concurrency))
    next_process = concurrency
    started = 0
    while started < n_txns or pending:
        if idle and started < n_txns and (not pending or rand() < 0.5):
            p = idle.pop(int(rand() * len(idle)))
            txn: list[MicroOp] = []
            for _ in range(1 + int(rand() * 4)):
                k = db.keys[int(rand() * active_keys)]
                if rand() < 0.5:
                    txn.append(["r", k, None])
                else:
                    counter += 1
                    txn.append([write_f, k, counter])
            pending[p] = txn
            ops.append(Op(index=len(ops), time_ns=len(ops), type="invoke", process=p, f="txn", value=txn))
            started += 1
            continue
        procs = list(pending)
        p = procs[int(rand() * len(procs))]
        txn = pending.pop(p)
        r = rand()
        if r < 0.01:
            ops.append(Op(index=len(ops), time_ns=len(ops), type="fail", process=p, f="txn", value=txn))
            idle.append(p)
            continue
        info = r < 0.015
        result = db.apply(txn) if not info or rand() < 0.5 else []
        if info:
            ops.append(Op(index=len(ops), time_ns=len(ops), type="info", process=p, f="txn", value=txn))
            idle.append(next_process)
            next_process += 1
        else:
            ops.append(Op(index=len(ops), time_ns=len(ops), type="ok", process=p, f="txn", value=result))
            idle.append(p)
    return History(ops)


def run(n: int, workload: str, q: Queue[Figures]) -> None:
    t0 = time.perf_counter()
    h = generate(n, workload=workload)
    t1 = time.perf_counter()
    rss_hist = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c1 = time.process_time()
    checker = ElleChecker(ElleOptions(workload=workload, consistency_models=("strict-serializable",),
                                      wfr_keys=workload == "rw-register"))
    with tempfile.TemporaryDirectory() as d:
        v = checker.check(None, h, d)
    t2 = time.perf_counter()
    cpu = time.process_time() - c1
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    q.put((len(h), t1 - t0, t2 - t1, rss_hist / 1024, rss / 1024, v.valid, v.summary, v.details["edges"], cpu))


def _one(ctx: ForkContext, n: int, workload: str) -> Figures:
    q = ctx.Queue()
    p = ctx.Process(target=run, args=(n, workload, q))
    p.start()
    out = q.get()
    p.join()
    return tuple(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txns", type=int, action="append", help="transactions (repeatable; default 100000)")
    ap.add_argument("--workload", choices=("list-append", "rw-register"), default="list-append")
    ap.add_argument("--repeat", type=int, default=1, help="runs per size; best and median are printed")
    args = ap.parse_args()
    sizes = args.txns or [100_000]
    ctx = mp.get_context("fork")
    print(f"workload {args.workload}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    ok = True
    for n in sizes:
        runs = [_one(ctx, n, args.workload) for _ in range(args.repeat)]
        limit = max(2.0, TARGET_S_PER_MILLION * n / 1e6)
        stretch = max(1.0, STRETCH_S_PER_MILLION * n / 1e6)
        checks = sorted(r[2] for r in runs)
        best, median = checks[0], statistics.median(checks)
        peak = max(r[4] for r in runs)
        valid = all(r[5] is True for r in runs)
        met = median <= limit and peak <= TARGET_MIB and valid
        ok &= met
        ops, gen, _, rss_h, _, _, summary, edges, _ = runs[0]
        cpus = sorted(r[8] for r in runs)
        print(f"{n:,} txns ({ops:,} ops, {edges:,} edges), generated in {gen:.1f} s")
        print(f"  check  best {best:6.2f} s  median {median:6.2f} s   target <= {limit:g} s "
              f"({'met' if median <= limit else 'MISSED'}), stretch <= {stretch:g} s "
              f"({'met' if median <= stretch else 'not met'})")
        print(f"  check CPU time  best {cpus[0]:6.2f} s  median {statistics.median(cpus):6.2f} s   (what a quiet "
              "core would take; wall time above counts the machine's other load)")
        print(f"  memory peak RSS {peak:6.0f} MiB (history alone {rss_h:.0f} MiB)   target <= {TARGET_MIB} MiB "
              f"({'met' if peak <= TARGET_MIB else 'MISSED'})")
        print(f"  verdict {'valid' if valid else 'NOT VALID: ' + summary}   target valid "
              f"({'met' if valid else 'MISSED'})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
