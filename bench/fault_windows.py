"""Benchmark of fault coverage: do clients keep working while each fault is in place?

Runs `harness run` once per nemesis (etcd, register, 3 local nodes by default) and prints, for every fault
window, the client invocation rate before the first fault and during the window, their ratio, the longest
stretch without a client invocation, the completed ops, and the run's verdict. Targets (issue 14): in every
window the gap stays under the op timeout + 1 s (the "idle" column is the harness's share of a gap: the longest a
worker waited for its next op after a completion); for faults that leave a majority the rate stays at least half
the rate before the faults. The last column is what the op that started each fault measured on the nodes
(results.json "evidence", harness.evidence): in effect, not in effect, acted on nothing, or no evidence. A
nemesis the system cannot take (clock on etcd) shows the harness's one-line refusal.

    python bench/fault_windows.py [--time-limit 60] [--nemeses partition,kill,...] [--system etcd]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

NEMESES = ("partition", "kill", "pause", "clock", "packet", "disk", "membership", "swizzle-clog", "combined")


def run_one(nemesis: str, args: argparse.Namespace, results: str) -> tuple[int, dict | None, str]:
    argv = [sys.executable, "-m", "harness", "run", "--system", args.system, "--workload", args.workload,
            "--cluster", args.cluster, "--nodes", "3", "--nemesis", nemesis, "--time-limit", str(args.time_limit),
            "--op-timeout", str(args.op_timeout), "--seed", str(args.seed), "--results", results]
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    found = [r for r in Path(results).glob("*/*/results.json") if not r.parent.is_symlink()]
    last_err = (p.stderr.strip().splitlines() or [""])[-1]
    return p.returncode, (json.loads(found[0].read_text()) if found else None), last_err


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", default="etcd")
    ap.add_argument("--workload", default="register")
    ap.add_argument("--cluster", default="local")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--op-timeout", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--nemeses", default=",".join(NEMESES))
    args = ap.parse_args()
    print(f"fault windows: {args.system} {args.workload}, 3 {args.cluster} nodes, {args.time_limit:g} s, "
          f"op timeout {args.op_timeout:g} s, seed {args.seed}")
    print(f"{'nemesis':<13} {'window':<22} {'from-to s':>11} {'before/s':>8} {'during/s':>8} {'ratio':>6} "
          f"{'gap s':>6} {'idle s':>6} {'done':>5}  verdict  evidence")
    for nemesis in args.nemeses.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-fw-") as d:
            code, res, err = run_one(nemesis, args, d)
        if res is None:
            print(f"{nemesis:<13} refused (exit {code}): {err}")
            continue
        cov = res.get("coverage") or {}
        base = cov.get("baseline_rate") or 0.0
        verdict = {True: "valid", False: "invalid"}.get(res["valid"], "unknown")
        windows = cov.get("windows") or []
        if not windows:
            print(f"{nemesis:<13} {'(no fault window)':<22} {'':>11} {'':>8} {'':>8} {'':>6} {'':>6} {'':>5}  {verdict}")
        records = res.get("evidence") or []
        for w in windows:
            ratio = w["invoke_rate"] / base if base else float("nan")
            span = f"{w['start_s']:.1f}-{w['end_s']:.1f}"
            states = [r["state"] for r in records if r["package"] == w["package"]
                      and w["start_s"] <= r["time_s"] <= w["end_s"]]
            print(f"{nemesis:<13} {w['label'][:22]:<22} {span:>11} {base:8.1f} {w['invoke_rate']:8.1f} {ratio:6.2f} "
                  f"{w['longest_gap_s']:6.2f} {_secs(w.get('longest_idle_s')):>6} {w['completed']:5d}  {verdict:<7}  {', '.join(states) or '-'}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
