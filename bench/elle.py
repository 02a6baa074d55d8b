"""Benchmark of the Elle checker: a generated list-append history checked for strict-serializable.

Targets: 100,000 transactions in under 10 s; 1,000,000 in under 100 s and 4 GiB. Prints, per size: time to
generate the history, time to check it (everything the checker does, from ops to Verdict), peak RSS of the
process (history included), graph size, and the verdict, which must be valid: the history comes from a
simulated strict-serializable database (each transaction takes effect atomically at its completion, between
its invocation and its completion), so any anomaly would be a checker bug.

    python bench/elle.py                      # 100,000 transactions
    python bench/elle.py --txns 1000000       # the million (about a minute or two on a shared CPU)
    python bench/elle.py --txns 100000 --txns 1000000

Each size runs in its own forked process so one size's memory does not count against the next. The
workload resembles Jepsen's list-append: 10 clients, 1-4 micro-ops per transaction (reads and appends on
10 active keys, a key retired after 32 appends and replaced by a fresh one), 1% of transactions fail, 0.5%
end info (applied or not, at random; the process is then retired).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from checkers.elle import ElleChecker, ElleOptions
from harness.op import History, Op


def generate(n_txns: int, *, seed: int = 7, concurrency: int = 10, active_keys: int = 10,
             writes_per_key: int = 32) -> History:
    rng = random.Random(seed)
    state: dict[int, list[int]] = {}
    writes: dict[int, int] = {}
    keys = list(range(active_keys))
    next_key = active_keys
    counter = 0
    ops: list[Op] = []
    pending: dict[int, list[list[Any]]] = {}
    idle = list(range(concurrency))
    next_process = concurrency
    started = 0
    rand = rng.random
    while started < n_txns or pending:
        if idle and started < n_txns and (not pending or rand() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            txn: list[list[Any]] = []
            for _ in range(rng.randint(1, 4)):
                k = keys[rng.randrange(active_keys)]
                if rand() < 0.5:
                    txn.append(["r", k, None])
                else:
                    counter += 1
                    txn.append(["append", k, counter])
            pending[p] = txn
            ops.append(Op(index=len(ops), time_ns=len(ops), type="invoke", process=p, f="txn", value=txn))
            started += 1
            continue
        p = rng.choice(list(pending))
        txn = pending.pop(p)
        r = rand()
        if r < 0.01:
            ops.append(Op(index=len(ops), time_ns=len(ops), type="fail", process=p, f="txn", value=txn))
            idle.append(p)
            continue
        info = r < 0.015
        applied = not info or rand() < 0.5
        result: list[list[Any]] = []
        if applied:
            for f, k, v in txn:
                if f == "r":
                    result.append(["r", k, list(state.get(k, ()))])
                else:
                    state.setdefault(k, []).append(v)
                    result.append(["append", k, v])
                    writes[k] = writes.get(k, 0) + 1
                    if writes[k] == writes_per_key and k in keys:
                        keys[keys.index(k)] = next_key
                        next_key += 1
        if info:
            ops.append(Op(index=len(ops), time_ns=len(ops), type="info", process=p, f="txn", value=txn))
            idle.append(next_process)
            next_process += 1
        else:
            ops.append(Op(index=len(ops), time_ns=len(ops), type="ok", process=p, f="txn", value=result))
            idle.append(p)
    return History(ops)


def run(n: int, q: Any) -> None:
    t0 = time.perf_counter()
    h = generate(n)
    t1 = time.perf_counter()
    rss_hist = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    checker = ElleChecker(ElleOptions(workload="list-append", consistency_models=("strict-serializable",)))
    with tempfile.TemporaryDirectory() as d:
        v = checker.check(None, h, d)
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    q.put((n, len(h), t1 - t0, t2 - t1, rss_hist, rss, v.valid, v.summary, v.details))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--txns", type=int, action="append", help="transactions (repeatable; default 100000)")
    args = ap.parse_args()
    sizes = args.txns or [100_000]
    ctx = mp.get_context("fork")
    print(f"{'txns':>9} {'ops':>9} {'gen s':>7} {'check s':>8} {'RSS hist MiB':>13} {'peak RSS MiB':>13} "
          f"{'edges':>9} {'valid':>6}  target")
    ok = True
    for n in sizes:
        q = ctx.Queue()
        p = ctx.Process(target=run, args=(n, q))
        p.start()
        n_, ops, gen, chk, rss_h, rss, valid, summary, details = q.get()
        p.join()
        limit_s = 10.0 if n <= 100_000 else 100.0 * n / 1_000_000
        met = chk < limit_s and rss / 1024 < 4096 and valid is True
        ok &= met
        print(f"{n_:>9} {ops:>9} {gen:>7.1f} {chk:>8.2f} {rss_h / 1024:>13.0f} {rss / 1024:>13.0f} "
              f"{details['edges']:>9} {valid!s:>6}  {'met' if met else 'MISSED'} (<{limit_s:g} s, <4 GiB)")
        if valid is not True:
            print("  ", summary)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
