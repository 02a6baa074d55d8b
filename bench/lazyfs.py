"""Benchmark of the lazy filesystem: etcd register throughput with its data on lazyfs vs on the plain directory.

Two `harness run`s of the same seed, 3 local nodes, clients unthrottled (--rate 0): one with the power-loss
nemesis mounted but never cutting power (its schedule holds one harmless power-on), one with no nemesis. Prints
ok ops/s and the median latency of each and their ratio. Target (issue 17): lazyfs at least half of plain.

    python bench/lazyfs.py [--time-limit 20] [--concurrency 10] [--system etcd] [--workload register]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(args: argparse.Namespace, root: Path, lazy: bool) -> tuple[float, float, str]:
    argv = [sys.executable, "-m", "harness", "run", "--system", args.system, "--workload", args.workload,
            "--cluster", "local", "--time-limit", str(args.time_limit), "--concurrency", str(args.concurrency),
            "--rate", "0", "--seed", "1", "--results", str(root / ("lazy" if lazy else "plain"))]
    if lazy:
        schedule = root / "never.json"
        schedule.write_text(json.dumps([{"at": 0, "f": "power-on"}]))
        argv += ["--nemesis", "power-loss", "--nemesis-opt", f"schedule={schedule}"]
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    found = [r for r in root.glob(f"{'lazy' if lazy else 'plain'}/*/*/history.jsonl") if not r.parent.is_symlink()]
    if not found:
        raise SystemExit(f"run failed (exit {p.returncode}): {p.stderr[-500:]}")
    ops = [json.loads(x) for x in found[0].read_text().splitlines()]
    client = [o for o in ops if o["process"] != "nemesis"]
    invoked = {}
    lat, ok_times = [], []
    for o in client:
        if o["type"] == "invoke":
            invoked[o["process"]] = o["time_ns"]
        elif o["type"] == "ok" and o["time_ns"] <= args.time_limit * 1e9:
            ok_times.append(o["time_ns"])
            lat.append((o["time_ns"] - invoked.get(o["process"], o["time_ns"])) / 1e6)
    verdict = json.loads((found[0].parent / "results.json").read_text())["valid"]
    return len(ok_times) / args.time_limit, statistics.median(lat) if lat else float("nan"), str(verdict)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--system", default="etcd")
    ap.add_argument("--workload", default="register")
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--concurrency", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lazyfs-") as d:
        plain = run(args, Path(d), lazy=False)
        lazy = run(args, Path(d), lazy=True)
    print(f"lazyfs: {args.system} {args.workload}, 3 local nodes, {args.concurrency} clients, unthrottled, "
          f"{args.time_limit:g} s")
    print(f"{'data on':<14} {'ok ops/s':>9} {'median ms':>10}  verdict")
    print(f"{'plain dir':<14} {plain[0]:9.1f} {plain[1]:10.2f}  {plain[2]}")
    print(f"{'lazyfs':<14} {lazy[0]:9.1f} {lazy[1]:10.2f}  {lazy[2]}")
    print(f"lazyfs / plain: {lazy[0] / plain[0]:.2f} (target >= 0.50)")


if __name__ == "__main__":
    main()
