"""Benchmark of the linearizability checker on the upstream histories of tests/data (Porcupine, Knossos): prints per-family totals, the slowest files,
and peak memory (max resident set size of this process), and whether each target is met.

Targets (issue 3): Porcupine etcd family under 4 s in total with no file over 1 s; kv c50-ok under 1 s;
every Knossos file under 1 s; peak under 1 GiB. (Porcupine in Go: etcd family 0.40 s.)

    python bench/linearizable.py [--data PATH] [--workers N] [--top N]

Times are wall-clock seconds of `LinearizableChecker.check` (HTML page off), parsing excluded, plus CPU
seconds (this process and its workers); wall times depend on the machine's load, so run it once on a quiet
machine. Verdicts are checked against the expected
ones on the way (a wrong verdict is reported and makes the exit code 1).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkers.linearizable import LinearizableChecker
from harness.formats import load_history
from tests.corpora import DATA, PORCUPINE_ETCD_LINEARIZABLE, PORCUPINE_ETCD_UNTESTED


Init = int | dict[str, int] | None  # a model's initial value in these corpora

def _cpu() -> float:
    """CPU seconds of this process and of its reaped workers."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _cases(anchors: Path) -> list[tuple[str, Path, str, Init, bool]]:
    """(family, path, model, init, expected valid)."""
    out: list[tuple[str, Path, str, Init, bool]] = []
    good = PORCUPINE_ETCD_LINEARIZABLE
    for p in sorted((anchors / "porcupine" / "jepsen").glob("etcd_*.log")):
        num = p.stem.split("_")[1]
        if num != PORCUPINE_ETCD_UNTESTED:
            out.append(("porcupine-etcd", p, "etcd", None, num in good))
    for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad"):
        out.append(("porcupine-kv", anchors / "porcupine" / "kv" / f"{name}.txt", "kv", None, name.endswith("-ok")))
    for p in sorted((anchors / "knossos").glob("*/*/*.edn")):
        family, verdict = p.parent.parent.name, p.parent.name
        models: dict[str, tuple[str, Init]] = {"cas-register": ("cas-register", 0),
                                               "multi-register": ("multi-register", {"x": 0, "y": 0}),
                                               "mutex": ("mutex", None)}
        model, init = models[family]
        out.append(("knossos", p, model, init, verdict == "good"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=str(DATA), help="folder holding porcupine/ and knossos/")
    ap.add_argument("--workers", type=int, default=None, help="processes for independent parts (default: CPUs)")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    anchors = Path(args.data)
    if not anchors.is_dir():
        print(f"test data not found at {anchors}", file=sys.stderr)
        return 2
    times: dict[str, list[tuple[float, str]]] = {}
    cpu: dict[str, float] = {}
    wrong = []
    load_total = 0.0
    for family, path, model, init, expected in _cases(anchors):
        t0 = time.perf_counter()
        h = load_history(path, repair=True)  # a few Knossos files have clock steps back; upstream checks them as they are
        t1 = time.perf_counter()
        c1 = _cpu()
        v = LinearizableChecker(model=model, init=init, timeout=120, html=False, workers=args.workers).check(
            None, h, None)
        t2 = time.perf_counter()
        cpu[family] = cpu.get(family, 0.0) + _cpu() - c1
        load_total += t1 - t0
        times.setdefault(family, []).append((t2 - t1, path.name))
        if v.valid is not expected:
            wrong.append(f"{path.name}: {v.valid} (expected {expected}): {v.summary}")
    peak_mib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow with it)")
    print(f"{'family':16} {'files':>5} {'total s':>8} {'cpu s':>7} {'max s':>7}  slowest (wall s)")
    for family, ts in times.items():
        ts.sort(reverse=True)
        slow = ", ".join(f"{n} {t:.3f}" for t, n in ts[: args.top])
        print(f"{family:16} {len(ts):5d} {sum(t for t, _ in ts):8.3f} {cpu[family]:7.3f} {ts[0][0]:7.3f}  {slow}")
    print(f"parsing all files: {load_total:.3f} s")
    print(f"peak memory (max RSS of this process or a worker): {peak_mib:.0f} MiB")
    etcd = times.get("porcupine-etcd", [])
    kv = {n: t for t, n in times.get("porcupine-kv", [])}
    kn = times.get("knossos", [])
    checks = [
        ("etcd total < 4 s", sum(t for t, _ in etcd) < 4.0),
        ("etcd max file < 1 s", max((t for t, _ in etcd), default=0) < 1.0),
        ("kv c50-ok < 1 s", kv.get("c50-ok.txt", 99) < 1.0),
        ("knossos max file < 1 s", max((t for t, _ in kn), default=0) < 1.0),
        ("peak < 1 GiB", peak_mib < 1024),
    ]
    for name, ok in checks:
        print(f"target {name:24} {'met' if ok else 'MISSED'}")
    for w in wrong:
        print(f"WRONG VERDICT {w}")
    print(f"verdicts: {sum(len(v) for v in times.values()) - len(wrong)} of {sum(len(v) for v in times.values())} "
          "as upstream")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
