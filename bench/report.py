"""Benchmark of the run page (issue 23): page size, render time and the time headless Chromium takes to open it.

Two generated runs (harness.report.sample, a register history with partitions and an injected anomaly):
  - a 30 s run: 30,000 client ops at about 1,000 ops/s (20 workers). Targets: report.html under 1 MB, opens
    in under 1 s.
  - a big run: 1,000,000 client ops (--ops). Targets: rendered in at most 20 s, opens in at most 3 s.

    python bench/report.py [--ops N] [--big-run DIR] [--keep DIR] [--loads N] [--no-browser]

"Opens" is measured in headless Chromium (/usr/bin/chromium through playwright, a new tab per load, the browser
already started): from `page.goto(file://...)` until the page says it has drawn everything (plots.js sets
window.harnessReport.drawn after the plots and the timeline drew, on the next animation frame); the median of
--loads loads, with the page's own navigation-to-drawn time (performance.now()) beside it. Generating the big
run takes minutes: --big-run DIR keeps it there and reuses it the next time. Prints each figure beside its
target; exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.report import render_run
from harness.report.sample import SampleSpec, write_sample_run

SHORT = SampleSpec(ops=30_000, concurrency=20, rate_per_worker=100.0, anomaly=True, seed=11)
SHORT_MB, SHORT_OPEN_S = 1.0, 1.0
BIG_RENDER_S, BIG_OPEN_S = 20.0, 3.0
CHROMIUM = Path("/usr/bin/chromium")


@dataclass
class Figures:
    label: str
    ops: int
    render_s: float
    render_cpu_s: float  # CPU seconds of this process: on a shared machine wall time also counts the others
    size_mb: float
    open_s: float | None = None  # median wall time, goto -> drawn
    page_s: float | None = None  # the page's own navigation -> drawn
    problems: str = ""


def big_spec(ops: int) -> SampleSpec:
    return SampleSpec(ops=ops, concurrency=10, anomaly=True, seed=11, rate_per_worker=100.0,
                      fault_every_s=20.0, fault_len_s=6.0)


def prepare(run_dir: Path, spec: SampleSpec) -> float:
    """Write the run unless run_dir already holds one of `spec.ops` ops; the seconds it took."""
    marker = run_dir / f".bench-ops-{spec.ops}"
    if marker.exists() and (run_dir / "history.jsonl").exists():
        return 0.0
    t0 = time.perf_counter()
    write_sample_run(run_dir, spec)
    marker.touch()
    return time.perf_counter() - t0


def render(label: str, run_dir: Path, ops: int) -> Figures:
    t0, c0 = time.perf_counter(), time.process_time()
    problems = render_run(run_dir)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    size = (run_dir / "report.html").stat().st_size / 1e6
    return Figures(label, ops, took, cpu, size, problems="; ".join(problems))


def open_times(pages: list[tuple[Figures, Path]], loads: int) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        for fig, path in pages:
            walls, own = [], []
            for _ in range(loads):
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                t0 = time.perf_counter()
                page.goto(path.as_uri(), timeout=120_000)
                page.wait_for_function("window.harnessReport && window.harnessReport.drawn", timeout=120_000,
                                       polling=10)
                walls.append(time.perf_counter() - t0)
                own.append(page.evaluate("window.harnessReport.ms") / 1000)
                errors = page.evaluate("window.harnessReport.errors")
                if errors:
                    fig.problems += "; page: " + "; ".join(errors)
                page.close()
            fig.open_s, fig.page_s = statistics.median(walls), statistics.median(own)
        browser.close()


def verdict(value: float | None, target: float) -> str:
    if value is None:
        return "not measured"
    return f"target < {target:g}: {'ok' if value < target else 'MISSED'}"


def report(short: Figures, big: Figures) -> bool:
    def opened(f: Figures) -> str:
        return "-" if f.open_s is None else f"{f.open_s:.2f} s (page's own {f.page_s:.2f} s)"

    rows = [
        (f"30 s run ({short.ops} ops): report.html", f"{short.size_mb:.2f} MB", verdict(short.size_mb, SHORT_MB)),
        ("30 s run: render_run", f"{short.render_s:.2f} s ({short.render_cpu_s:.2f} s CPU)", "(no target)"),
        ("30 s run: open in Chromium", opened(short), verdict(short.open_s, SHORT_OPEN_S)),
        (f"{big.ops} ops: render_run", f"{big.render_s:.2f} s ({big.render_cpu_s:.2f} s CPU)",
         verdict(big.render_s, BIG_RENDER_S)),
        (f"{big.ops} ops: report.html", f"{big.size_mb:.2f} MB", "(no target)"),
        (f"{big.ops} ops: open in Chromium", opened(big), verdict(big.open_s, BIG_OPEN_S)),
    ]
    for name, value, target in rows:
        print(f"{name:<42} {value:<32} {target}")
    for f in (short, big):
        if f.problems:
            print(f"problems ({f.label}): {f.problems}")
    return all("MISSED" not in r[2] for r in rows) and not short.problems and not big.problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=1_000_000, help="client operations of the big run (default 1000000)")
    ap.add_argument("--big-run", type=Path, default=None, help="keep the big run here and reuse it next time")
    ap.add_argument("--keep", type=Path, default=None, help="keep the 30 s run here")
    ap.add_argument("--loads", type=int, default=3, help="page loads per page in Chromium (median; default 3)")
    ap.add_argument("--no-browser", action="store_true", help="skip the Chromium open times")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        short_dir = args.keep or Path(tmp) / "short"
        big_dir = args.big_run or Path(tmp) / "big"
        prepare(short_dir, SHORT)
        gen = prepare(big_dir, big_spec(args.ops))
        print(f"generated the big run in {gen:.1f} s" if gen else f"reusing the big run in {big_dir}")
        short = render("30 s run", short_dir, SHORT.ops)
        big = render("big run", big_dir, args.ops)
        if args.no_browser:
            print("open times not measured (--no-browser)")
        elif not CHROMIUM.exists():
            print(f"open times not measured: no {CHROMIUM}")
        else:
            open_times([(short, short_dir / "report.html"), (big, big_dir / "report.html")], args.loads)
        ok = report(short, big)
        print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()) +
              f" on {os.cpu_count()} CPUs: wall times include everyone's work; CPU seconds are this process's")
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
