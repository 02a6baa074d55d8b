"""Benchmark of `harness.minimize`: how small the smallest failing history gets, and how long that takes.

Prints, per history: ops before, ops after, the ratio, checker calls, seconds, whether the budget ran out.
Histories: the two real failing runs kept in tests/minimize/runs/ (etcd serializable reads under partitions,
checked for linearizability; Postgres repeatable read, checked by Elle), Knossos's own non-linearizable
cas-register histories (tests/data/knossos, read with --repair's mending), then simulated histories of growing size
with one planted anomaly (a stale read in a register history for the linearizable checker; write skew, G2-item,
in a strict-serializable list-append history for Elle), where the answer is known: exactly the planted ops.

    python bench/minimize.py                 # real runs + 1,000 / 10,000 / 50,000 simulated ops
    python bench/minimize.py --sizes 100000  # larger simulated histories
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from checkers.elle import ElleChecker, ElleOptions
from checkers.linearizable import LinearizableChecker
from harness.checker import Checker, safe_check
from harness.formats import read_history
from harness.minimize import minimize
from harness.op import History
from harness.plugins import Registry
from harness.recheck import run_plan
from harness.test import Test
from tests.corpora import KNOSSOS
from tests.elle import sim as esim
from tests.linearizable import sim as lsim
from tests.minimize.test_minimize import plant_stale_read

RUNS = Path(__file__).resolve().parent.parent / "tests" / "minimize" / "runs"


def row(name: str, checker: Checker, test: Test | None, history: History, budget: float, expect: int | None) -> None:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.monotonic()
        verdict = safe_check(checker, test, history, out)
        check_s = time.monotonic() - t0
    m = minimize(checker, test, history, verdict, budget_s=budget)
    if m is None:
        print(f"{name:<44} {len(history):>8}  not invalid: nothing to minimize")
        return
    ok = "" if expect is None else ("  = planted" if len(m.history) == expect else f"  (planted: {expect})")
    print(f"{name:<44} {len(history):>8} {len(m.history):>6} {m.ratio:>9.4%} {check_s:>8.2f} {m.checks:>7} "
          f"{m.seconds:>8.2f} {'yes' if m.budget_ran_out else 'no':>4}{ok}")


def real_runs(budget: float, tmp: Path) -> None:
    for folder in sorted(p for p in RUNS.iterdir() if p.is_dir()):
        dst = tmp / folder.name
        dst.mkdir()
        (dst / "test.json").write_bytes((folder / "test.json").read_bytes())
        with gzip.open(folder / "history.jsonl.gz", "rb") as fh:
            (dst / "history.jsonl").write_bytes(fh.read())
        plan = run_plan(str(dst / "history.jsonl"), Registry())
        assert plan is not None
        row(f"real: {folder.name}", plan.checker, plan.test, read_history(dst / "history.jsonl").history, budget, None)


def knossos(budget: float) -> None:
    for path in sorted((KNOSSOS / "cas-register" / "bad").glob("*.edn")):
        history = read_history(path, repair=True).history
        row(f"knossos: {path.name}", LinearizableChecker(model="cas-register", workers=1), None, history, budget,
            None)


def simulated(sizes: list[int], budget: float) -> None:
    obj, model, _init, _ = lsim.OBJECTS["register-independent"]
    g2 = next(p for p in esim.PATTERNS if p.kind == "G2-item" and p.workload == "list-append")
    for n in sizes:
        h = History.indexed(lsim.simulate(obj, random.Random(n), n_ops=n // 2, processes=10, crash_rate=0.01,
                                          fail_rate=0.05))
        bad, planted = plant_stale_read(h, len(h) // 2)
        row("simulated register, planted stale read", LinearizableChecker(model=model, independent=True, workers=1),
            None, bad, budget, len(planted))
        txns = esim.simulate(n, workload="list-append", n_txns=n // 2, concurrency=10, n_keys=20)
        bad = esim.plant(txns, g2, len(txns) // 2)
        row("simulated list-append, planted G2-item", ElleChecker(ElleOptions(workload="list-append")), None, bad,
            budget, 2 * len(g2.txns))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 50_000], help="simulated ops")
    ap.add_argument("--budget", type=float, default=120.0, help="seconds per minimization")
    args = ap.parse_args()
    print(f"{'history':<44} {'ops':>8} {'after':>6} {'ratio':>9} {'check s':>8} {'checks':>7} {'min s':>8} "
          f"{'out':>4}")
    with tempfile.TemporaryDirectory() as tmp:
        real_runs(args.budget, Path(tmp))
    knossos(args.budget)
    simulated(args.sizes, args.budget)


if __name__ == "__main__":
    main()
