"""Benchmark: an etcd run on N ssh hosts (real sshd in local namespaces, clusters.ssh.sandbox), with setup time.

    python bench/ssh_cluster.py [--hosts 9] [--time-limit 30] [--seed 9]

Starts N sandbox hosts (before the clock: they stand in for existing machines), then one `harness run` of etcd
under partition (majorities-ring) and kill over them, and prints, from the run's own harness.log:
provision (workdirs on every host), etcd up (installed and started on every node, in parallel), clients
(clients and nemesis set up), setup (from the run's first log line to the workload; every host was connected and
checked before it), the whole run's wall time (process start to exit), its verdict and the faults performed.
Needs root, sshd and etcd.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clusters.ssh.sandbox import SSHSandbox
from harness.ledger import Ledger

PHASES = ("run ", "phase 2:", "phase 3:", "phase 4:", "phase 5:")


def phase_times(log: str) -> dict[str, float]:
    """Seconds since the epoch of the first line of each phase in a run's harness.log."""
    at: dict[str, float] = {}
    for line in log.splitlines():
        m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO harness: (.*)", line)
        if not m:
            continue
        for p in PHASES:
            if m.group(2).startswith(p) and p not in at:
                at[p] = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return at


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=9)
    ap.add_argument("--time-limit", type=float, default=30)
    ap.add_argument("--seed", type=int, default=9)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ssh-cluster-"))
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    ledger = Ledger(run_id, directory=str(work / "ledger"))
    t = time.monotonic()
    sb = SSHSandbox(run_id=run_id, directory=str(work / "hosts"), ledger=ledger,
                    node_names=tuple(f"n{i}" for i in range(1, args.hosts + 1))).start()
    print(f"{args.hosts} sandbox hosts (sshd) up in {time.monotonic() - t:.1f} s (not counted: existing machines)")
    try:
        t0 = time.monotonic()
        p = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--system", "etcd", "--workload", "register", "--cluster", "ssh",
             "--nodes-file", sb.nodes_file, "--cluster-opt", f"key={sb.key}", "--cluster-opt", "known_hosts=ignore",
             "--cluster-opt", f"workdir={work / 'workdirs'}", "--nemesis", "kill,partition", "--nemesis-opt",
             "partition-grudge=majorities-ring", "--time-limit", f"{args.time_limit:g}", "--seed", str(args.seed),
             "--results", str(work / "results")],
            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.monotonic() - t0
    finally:
        sb.stop()
        ledger.close()
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    if "\t" not in last:
        print(f"the run failed (exit {p.returncode}): {p.stderr.strip()[-500:]}")
        return 1
    run_dir = Path(last.split("\t")[0])
    at = phase_times((run_dir / "harness.log").read_text())
    res = json.loads((run_dir / "results.json").read_text())
    faults = [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines() if '"nemesis"' in x]
    done = sorted({f["f"] for f in faults if f["type"] == "info"})
    print(f"{'hosts':>5} {'provision':>9} {'etcd up':>8} {'clients':>8} {'setup':>7} {'run wall':>9}  verdict")
    print(f"{args.hosts:5d} {at['phase 3:'] - at['phase 2:']:8.1f}s "
          f"{at['phase 4:'] - at['phase 3:']:7.1f}s {at['phase 5:'] - at['phase 4:']:7.1f}s "
          f"{at['phase 5:'] - at['run ']:6.1f}s {wall:8.1f}s  {res['valid']} (exit {p.returncode})")
    print(f"faults performed: {', '.join(done)}; run directory {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
