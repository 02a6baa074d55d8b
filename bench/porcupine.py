"""Benchmark of `harness check` against Porcupine (Go), whole processes side by side in one invocation, on the
upstream histories of tests/data: prints each family's best wall time of N runs for both, the ratio, the CPU
seconds, whether the target is met, and whether the verdicts agree (with each other and with upstream).

Targets (issue 23): every family at or below Porcupine's wall time measured in the same run. A family is
one process per checker over all its files (the Knossos anchors: one per model), as a user checks a corpus:
one process per file would only measure Python's start-up (~0.1 s) against Go's (~5 ms).
- etcd: Porcupine's 102 Jepsen etcd logs, `harness check --model etcd` vs Porcupine's own etcd model and
  log parser (its porcupine_test.go);
- kv: Porcupine's six kv files, `harness check --model kv --format porcupine-kv` vs Porcupine's kv model
  (partitioned by key) and parser;
- knossos: the Knossos anchors, `harness check --model cas-register|multi-register|mutex` vs Porcupine
  with the same models written in Go by this script (Porcupine reads no EDN: the script hands it the ops
  our parser read, one line each; its time includes reading that file).

    python bench/porcupine.py --porcupine /path/to/porcupine [--repeat 3] [--only etcd,kv,knossos]

`--porcupine` is a local checkout of github.com/anishathalye/porcupine (v1.3.0 measured); the script copies
its package into a temporary folder, adds a small test driver (reads a list of files, checks each with
Porcupine's CheckEvents, prints the verdicts) and builds it with `go test -c` (build time not counted).
Without Go or the checkout, the comparison is skipped with one line and only our times are printed.
Ours runs as `python -m harness check` with this checkout first on PYTHONPATH, with its bytecode, as pip leaves an
installed package: PYTHONDONTWRITEBYTECODE is dropped from our processes' environment (the first run writes
__pycache__), else every process compiles the harness's modules from source again (~40 ms here). Each figure is the best of
`--repeat` runs, ours and Porcupine's alternating; the load average is printed, since the machine may be
shared. Exit code 1 when a verdict differs from upstream or between the two checkers.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.porcupine_knossos import KNOSSOS_GO, knossos_cases, write_knossos_input
from tests.corpora import DATA, PORCUPINE_ETCD_LINEARIZABLE, PORCUPINE_ETCD_UNTESTED

# The driver added to Porcupine's package: its test-only etcd/kv models and parsers are in package scope.
DRIVER_GO = """package porcupine

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// Checks every file listed in $HARNESS_BENCH_LIST (lines "<kind>\\t<path>") and prints "<path>\\t<verdict>".
func TestHarnessBench(t *testing.T) {
	list := os.Getenv("HARNESS_BENCH_LIST")
	if list == "" {
		t.Skip("HARNESS_BENCH_LIST not set")
	}
	f, err := os.Open(list)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, path, _ := strings.Cut(sc.Text(), "\\t")
		var ok bool
		switch kind {
		case "etcd":
			ok = CheckEvents(etcdModel, parseJepsenLog(path))
		case "kv":
			ok = CheckEvents(kvModel, parseKvLog(path))
		case "knossos":
			ok = checkKnossos(path)
		default:
			t.Fatalf("unknown kind %q", kind)
		}
		fmt.Fprintf(out, "%s\\t%t\\n", path, ok)
	}
}
"""


@dataclass(frozen=True)
class Case:
    """One file: what both checkers are asked, and the verdict upstream gives."""

    path: Path
    kind: str  # etcd, kv, knossos (the driver's switch)
    model: str
    init: str | None  # --opt init=... for ours
    fmt: str | None
    expected: bool


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float
    verdicts: dict[str, bool]


def _cases(data: Path) -> dict[str, list[list[Case]]]:
    """family -> groups of cases; each group is one process per checker (one model, one format)."""
    etcd = [Case(p, "etcd", "etcd", None, None, p.stem.split("_")[1] in PORCUPINE_ETCD_LINEARIZABLE)
            for p in sorted((data / "porcupine" / "jepsen").glob("etcd_*.log"))
            if p.stem.split("_")[1] != PORCUPINE_ETCD_UNTESTED]
    kv = [Case(data / "porcupine" / "kv" / f"{n}.txt", "kv", "kv", None, "porcupine-kv", n.endswith("-ok"))
          for n in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad")]
    knossos = [[Case(p, "knossos", model, init, None, good) for p, model, init, good in group]
               for group in knossos_cases(data / "knossos")]
    return {"etcd": [etcd], "kv": [kv], "knossos": knossos}


def _timed(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall and CPU seconds (the process and everything it waited for) and stdout of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(list(cmd), capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode not in (0, 1, 2):
        sys.exit(f"{cmd[0]} failed (exit {r.returncode}): {r.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r.stdout


def _parse_verdicts(out: str, words: dict[str, bool]) -> dict[str, bool]:
    verdicts = {}
    for line in out.splitlines():
        path, sep, word = line.rpartition("\t")
        if sep and word in words:
            verdicts[path] = words[word]
    return verdicts


def _run_ours(group: list[Case], out_dir: str) -> Timing:
    first = group[0]
    cmd = [sys.executable, "-m", "harness", "check", "--model", first.model, "--out-dir", out_dir]
    if first.init is not None:
        cmd += ["--opt", f"init={first.init}"]
    if first.fmt is not None:
        cmd += ["--format", first.fmt]
    if first.kind == "knossos":
        cmd.append("--repair")  # a few Knossos files have op times stepping back by microseconds
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    wall, cpu, out = _timed(cmd + [str(c.path) for c in group], env)
    return Timing(wall, cpu, _parse_verdicts(out, {"valid": True, "invalid": False}))


def _run_peer(binary: Path, list_file: Path, files: dict[str, str]) -> Timing:
    env = dict(os.environ, HARNESS_BENCH_LIST=str(list_file))
    wall, cpu, out = _timed([str(binary), "-test.run", "^TestHarnessBench$"], env)
    raw = _parse_verdicts(out, {"true": True, "false": False})
    return Timing(wall, cpu, {files.get(p, p): v for p, v in raw.items()})


def build_peer(checkout: Path, work: Path) -> Path | str:
    """The test binary of Porcupine's package plus the driver, or why there is none."""
    go = shutil.which("go")
    if go is None:
        return "Go is not installed (apt-get install golang-go)"
    if not (checkout / "porcupine_test.go").is_file():
        return f"{checkout} is not a Porcupine checkout (no porcupine_test.go)"
    src = work / "porcupine"
    shutil.copytree(checkout, src, ignore=shutil.ignore_patterns(".git"))
    (src / "harness_bench_test.go").write_text(DRIVER_GO)
    (src / "harness_knossos_test.go").write_text(KNOSSOS_GO)
    binary = work / "porcupine.test"
    env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off")
    r = subprocess.run([go, "test", "-c", "-o", str(binary), "."], cwd=src, capture_output=True, text=True,
                       env=env, check=False)
    if r.returncode != 0:
        return f"go test -c failed: {r.stderr.strip()[-400:]}"
    return binary


def _peer_list(group: list[Case], work: Path, tag: str) -> tuple[Path, dict[str, str]]:
    """The driver's input list for a group; knossos files are first written as the driver's op lines.
    Returns the list and a map from the path the driver prints to the original path."""
    lines = []
    names = {}
    for i, c in enumerate(group):
        path = str(c.path)
        if c.kind == "knossos":
            converted = work / f"{tag}-{i}.ops"
            write_knossos_input(c.path, c.model, converted)
            names[str(converted)] = path
            path = str(converted)
        lines.append(f"{c.kind}\t{path}")
    list_file = work / f"{tag}.list"
    list_file.write_text("\n".join(lines) + "\n")
    return list_file, names


@dataclass
class FamilyResult:
    files: int = 0
    ours: float = 0.0
    ours_cpu: float = 0.0
    peer: float = 0.0
    peer_cpu: float = 0.0
    worse: int = 0  # groups where ours was slower than Porcupine


def _measure_group(group: list[Case], binary: Path | None, work: Path, tag: str, repeat: int,
                   problems: list[str]) -> tuple[Timing, Timing | None]:
    best_ours: Timing | None = None
    best_peer: Timing | None = None
    peer_in = _peer_list(group, work, tag) if binary is not None else None
    for _ in range(repeat):
        t = _run_ours(group, str(work / "out"))
        best_ours = t if best_ours is None or t.wall_s < best_ours.wall_s else best_ours
        if binary is not None and peer_in is not None:
            p = _run_peer(binary, *peer_in)
            best_peer = p if best_peer is None or p.wall_s < best_peer.wall_s else best_peer
    assert best_ours is not None
    for c in group:
        ours = best_ours.verdicts.get(str(c.path))
        if ours is not c.expected:
            problems.append(f"{c.path.name}: ours {ours}, upstream {c.expected}")
        if best_peer is not None and best_peer.verdicts.get(str(c.path)) is not ours:
            problems.append(f"{c.path.name}: ours {ours}, Porcupine {best_peer.verdicts.get(str(c.path))}")
    return best_ours, best_peer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--porcupine", default=None, help="local checkout of github.com/anishathalye/porcupine")
    ap.add_argument("--data", default=str(DATA), help="folder holding porcupine/ and knossos/")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each process; the best wall time counts")
    ap.add_argument("--only", default="etcd,kv,knossos", help="families, comma-separated")
    args = ap.parse_args()
    families = _cases(Path(args.data))
    wanted = [f for f in args.only.split(",") if f]
    unknown = [f for f in wanted if f not in families]
    if unknown:
        print(f"unknown family {', '.join(unknown)} (known: {', '.join(families)})", file=sys.stderr)
        return 254
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-porcupine-") as tmp:
        work = Path(tmp)
        built = build_peer(Path(args.porcupine), work) if args.porcupine else "no --porcupine checkout given"
        binary = built if isinstance(built, Path) else None
        if binary is None:
            print(f"Porcupine comparison skipped: {built}; timing ours alone")
        problems: list[str] = []
        results: dict[str, FamilyResult] = {}
        for family in wanted:
            res = results.setdefault(family, FamilyResult())
            for i, group in enumerate(families[family]):
                ours, peer = _measure_group(group, binary, work, f"{family}{i}", args.repeat, problems)
                res.files += len(group)
                res.ours += ours.wall_s
                res.ours_cpu += ours.cpu_s
                if peer is not None:
                    res.peer += peer.wall_s
                    res.peer_cpu += peer.cpu_s
                    res.worse += ours.wall_s > peer.wall_s
        _report(results, binary is not None, args.repeat, families)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times grow with it)")
    for p in problems:
        print(f"VERDICT MISMATCH {p}")
    print(f"verdicts: {'all agree' if not problems else f'{len(problems)} mismatch(es)'}")
    return 1 if problems else 0


def _report(results: dict[str, FamilyResult], with_peer: bool, repeat: int,
            families: dict[str, list[list[Case]]]) -> None:
    print(f"best of {repeat}; wall s (cpu s); a family of several processes sums each process's best")
    print(f"{'family':8} {'files':>5} {'procs':>5} {'ours':>16} {'porcupine':>16} {'ours/peer':>9}  target")
    for family, r in results.items():
        procs = len(families[family])
        ours = f"{r.ours:.3f} ({r.ours_cpu:.2f})"
        if not with_peer:
            print(f"{family:8} {r.files:5d} {procs:5d} {ours:>16} {'-':>16} {'-':>9}  not judged (no Porcupine)")
            continue
        peer = f"{r.peer:.3f} ({r.peer_cpu:.2f})"
        ratio = r.ours / r.peer if r.peer else float("inf")
        met = "met" if r.worse == 0 else f"MISSED in {r.worse} of {procs} process(es)"
        print(f"{family:8} {r.files:5d} {procs:5d} {ours:>16} {peer:>16} {ratio:9.2f}  <= Porcupine: {met}")


if __name__ == "__main__":
    sys.exit(main())
