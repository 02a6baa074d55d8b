"""Benchmark of the rules every history is held to before a checker sees it (`harness.validate`): what they add to
reading a file. For histories of the interpreter's shape (register ops on keys, and list-append transactions, the
heaviest values) at several sizes, prints the seconds to parse the JSONL, the seconds the rules take and ops per
second of the rules; and the same for the largest upstream history of tests/data (Elle's huge-scc, 20,602 ops,
with --repair since Jepsen's op times step back).

    python bench/validate.py               # 10k and 100k ops
    python bench/validate.py --sizes 1000000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.formats import parse_history
from harness.op import History, Op
from harness.validate import validate


def history(n: int, txn: bool, seed: int = 1) -> History:
    """`n` ops of 8 processes, each an invocation and its completion, times increasing."""
    rng = random.Random(seed)
    ops: list[Op] = []
    t = 0
    while len(ops) < n:
        p = rng.randrange(8)
        value: object
        done: object
        if txn:
            append = ["append", rng.randrange(10), len(ops)]
            read_key = rng.randrange(10)
            value = [append, ["r", read_key, None]]
            done = [append, ["r", read_key, list(range(rng.randrange(6)))]]
        else:
            value = done = (rng.randrange(50), rng.randrange(5))
        f = "txn" if txn else "write"
        t += rng.randrange(1000, 50_000)
        ops.append(Op(index=len(ops), time_ns=t, type="invoke", process=p, f=f, value=value))
        t += rng.randrange(1000, 50_000)
        ops.append(Op(index=len(ops), time_ns=t, type="ok", process=p, f=f, value=done))
    return History(ops)


def measure(path: Path, repair: bool = False) -> tuple[int, float, float]:
    t0 = time.perf_counter()
    parsed = parse_history(path)
    t1 = time.perf_counter()
    validate(parsed, repair=repair)
    t2 = time.perf_counter()
    return len(parsed.ops), t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args()
    print(f"{'history':<34} {'ops':>8} {'parse s':>9} {'rules s':>9} {'rules ops/s':>12} {'rules/parse':>11}")
    with tempfile.TemporaryDirectory() as d:
        for n in (int(x) for x in args.sizes.split(",")):
            for txn in (False, True):
                path = Path(d) / f"h{n}{txn}.jsonl"
                history(n, txn).to_jsonl(path)
                ops, parse_s, rules_s = measure(path)
                name = f"{'list-append' if txn else 'register'} jsonl"
                print(f"{name:<34} {ops:>8} {parse_s:>9.3f} {rules_s:>9.3f} {ops / rules_s:>12,.0f} "
                      f"{rules_s / parse_s:>10.0%}")
    huge = ROOT / "tests" / "data" / "elle" / "histories" / "huge-scc.edn"
    if huge.exists():
        ops, parse_s, rules_s = measure(huge, repair=True)
        print(f"{'elle huge-scc.edn (--repair)':<34} {ops:>8} {parse_s:>9.3f} {rules_s:>9.3f} "
              f"{ops / rules_s:>12,.0f} {rules_s / parse_s:>10.0%}")


if __name__ == "__main__":
    main()
