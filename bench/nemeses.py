"""Benchmark: how long faults take to inject and to heal, and how long a real etcd takes to recover.

    python bench/nemeses.py [--repeat N]

On a 3-node etcd cluster of local namespaces, built as the runner builds it (`build_test` with the
partition, kill, pause, swizzle-clog and packet nemeses), for each fault held `--hold` seconds (longer than
etcd's 1 s election timeout, so it has its effect): the time of the nemesis op that injects it, of the op that
heals it, and the recovery time of the system after the heal (the first committed put through the node that
was hit, the leader at the time). Prints median and max over N repetitions. Targets: inject and heal under
1 s each for partition, kill, pause and packet (a kill includes etcd's restart); recovery under 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusters.etcd.db import EtcdDB
from clusters.etcd.gateway import EtcdError, Gateway
from harness.build import build_test
from harness.op import Op
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import Test


def put_ok(test: Test, node: str) -> bool:
    gw = Gateway(test.node_host(node), 2379, timeout=1.0)
    try:
        gw.put("bench", "x")
        return True
    except (EtcdError, OSError):
        return False
    finally:
        gw.close()


def timed(fn: Callable[[], object]) -> float:
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def invoke(test: Test, f: str, value: object = None) -> Op:
    done = test.nemesis.invoke(test, Op(index=-1, time_ns=0, type="invoke", process="nemesis", f=f, value=value))
    if done.error:
        raise SystemExit(f"{f} failed: {done.error}")
    return done


def recovery(test: Test, node: str, limit: float = 60.0) -> float:
    t = time.monotonic()
    while not put_ok(test, node):
        if time.monotonic() - t > limit:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hold", type=float, default=3.0, help="seconds each fault stays in force")
    args = ap.parse_args()
    options = RunOptions(system="etcd", nemeses=("partition", "kill", "pause", "swizzle-clog", "packet"),
                         nemesis_opts={"packet-rate": "1mbit", "clog-seconds": "0"}, cluster="local")
    test = build_test(options, Registry())
    db, ledger = test.db, test.ledger
    assert isinstance(db, EtcdDB) and ledger is not None, "build_test gives an etcd run its DB and ledger"
    faults = {
        "partition (leader isolated)": ("start-partition", "primaries", "stop-partition", None),
        "kill one": ("kill", None, "start", None),
        "pause one": ("pause", None, "resume", None),
        "packet rate 1mbit": ("start-packet", None, "stop-packet", None),
        "swizzle-clog all": ("start-clog", {"nodes": "all", "seconds": 0}, "stop-clog", {"seconds": 0}),
    }
    rows: dict[str, list[tuple[float, float, float]]] = {k: [] for k in faults}
    try:
        test.cluster.setup()
        with ThreadPoolExecutor(3) as ex:
            list(ex.map(lambda n: db.setup(test, n), test.nodes))
        db.await_ready(test, 60)
        test.nemesis.setup(test)
        for _ in range(args.repeat):
            for name, (start, value, stop, stop_value) in faults.items():
                leader = (db.primaries(test) or [test.nodes[0]])[0]
                v = value if value is not None else [leader]
                t_in = timed(lambda: invoke(test, start, v))
                time.sleep(args.hold)
                t_out = timed(lambda: invoke(test, stop, stop_value))
                rows[name].append((t_in, t_out, recovery(test, leader)))
        print(f"faults on a 3-node local etcd, held {args.hold:g} s, {args.repeat} repetitions (median / max, s)")
        print(f"{'fault':30} {'inject':>15} {'heal':>15} {'recovery':>15}")
        for name, r in rows.items():
            cols = []
            for i in range(3):
                xs = [x[i] for x in r]
                cols.append(f"{statistics.median(xs):6.3f} / {max(xs):6.3f}")
            print(f"{name:30} {cols[0]:>15} {cols[1]:>15} {cols[2]:>15}")
    finally:
        try:
            test.nemesis.teardown(test)
        finally:
            for n in test.nodes:
                db.teardown(test, n)
            test.cluster.teardown()
            ledger.close()


if __name__ == "__main__":
    main()
