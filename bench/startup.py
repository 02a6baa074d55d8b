"""Benchmark of the CLI's start-up, whole process, as a user meets it: `harness --version`, `harness --help` and
`harness check` of a 100-op register history, each run N times (default 10) after one warm-up, beside bare
Python for scale. Prints min / median / max wall seconds and the median CPU seconds of each, and whether the
median meets its target.

Targets (issue 16): `--version` and `--help` at most 0.25 s, `check` of a 100-op history at most 0.5 s.

    python bench/startup.py            # 10 runs each
    python bench/startup.py --runs 30

The harness runs as `python -m harness` with this checkout first on PYTHONPATH (the `harness` script does the
same imports). Wall times grow with the machine's load: the load average is printed; quote medians.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.op import History, Op


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float


def _history(path: Path, invocations: int = 100) -> None:
    """A linearizable single-register history: `invocations` writes and reads by 5 processes, each completed."""
    rng = random.Random(16)
    ops: list[Op] = []
    value = None
    for i in range(invocations):
        process = i % 5
        if rng.random() < 0.5:
            value = rng.randrange(10)
            ops += [Op(type="invoke", process=process, f="write", value=value),
                    Op(type="ok", process=process, f="write", value=value)]
        else:
            ops += [Op(type="invoke", process=process, f="read", value=None),
                    Op(type="ok", process=process, f="read", value=value)]
    History.indexed(ops).to_jsonl(path)


def _once(argv: list[str], env: dict[str, str], cwd: str) -> Sample:
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _pid, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    if p.stderr:
        p.stderr.close()
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {p.returncode}: {err.strip()[-500:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


def _measure(argv: list[str], runs: int, env: dict[str, str], cwd: str) -> list[Sample]:
    _once(argv, env, cwd)  # warm-up: bytecode caches, page cache
    return [_once(argv, env, cwd) for _ in range(runs)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10, help="counted runs of each command (default 10)")
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    with tempfile.TemporaryDirectory(prefix="harness-startup-") as tmp:
        history = Path(tmp) / "history.jsonl"
        _history(history)
        harness = [sys.executable, "-m", "harness"]
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("harness --version", [*harness, "--version"], 0.25),
            ("harness --help", [*harness, "--help"], 0.25),
            ("harness check (100 ops)", [*harness, "check", "--model", "register", "--out-dir",
                                         str(Path(tmp) / "out"), str(history)], 0.5),
        ]
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.runs} runs each, whole process")
        print(f"{'command':26} {'min s':>7} {'median s':>9} {'max s':>7} {'cpu s':>7} {'target s':>9}  met")
        missed = 0
        for label, argv, target in cases:
            samples = _measure(argv, args.runs, env, tmp)
            walls = [s.wall_s for s in samples]
            median = statistics.median(walls)
            cpu = statistics.median(s.cpu_s for s in samples)
            met = "" if target is None else ("yes" if median <= target else "NO")
            missed += met == "NO"
            shown = "" if target is None else f"{target:.2f}"
            print(f"{label:26} {min(walls):7.3f} {median:9.3f} {max(walls):7.3f} {cpu:7.3f} {shown:>9}  {met}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
