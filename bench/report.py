"""Benchmark of report rendering: a generated run of 100,000 client operations (200,000 history lines plus
nemesis ops) rendered by `harness.report.render_run`. Targets: under 10 s, report.html under 15 MB.

    python bench/report.py [--ops N] [--keep DIR] [--browser]

Prints the figures; exits 1 if a target is missed. `--browser` also times loading the page in headless
Chromium (until the timeline has drawn) -- informative, not a target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from harness.report import render_run
from harness.report.sample import SampleSpec, write_sample_run

TARGET_S = 10.0
TARGET_MB = 15.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000, help="client operations (default 100000)")
    ap.add_argument("--keep", type=Path, default=None, help="write the run here and keep it")
    ap.add_argument("--browser", action="store_true", help="also time loading the page in headless Chromium")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.keep or Path(tmp) / "run"
        t0 = time.perf_counter()
        write_sample_run(run_dir, SampleSpec(ops=args.ops, concurrency=10, anomaly=True, seed=11,
                                             rate_per_worker=100.0, fault_every_s=20.0, fault_len_s=6.0))
        gen_s = time.perf_counter() - t0
        lines = (run_dir / "history.jsonl").read_bytes().count(b"\n")
        t0 = time.perf_counter()
        problems = render_run(run_dir)
        render_s = time.perf_counter() - t0
        size_mb = (run_dir / "report.html").stat().st_size / 1e6
        print(f"client ops:           {args.ops}")
        print(f"history lines:        {lines}")
        print(f"history.jsonl:        {(run_dir / 'history.jsonl').stat().st_size / 1e6:.1f} MB")
        print(f"generate run:         {gen_s:.2f} s")
        print(f"render_run:           {render_s:.2f} s   (target < {TARGET_S:g} s)")
        print(f"report.html:          {size_mb:.2f} MB   (target < {TARGET_MB:g} MB)")
        print(f"problems:             {problems or 'none'}")
        if args.browser:
            print(f"chromium load+draw:   {browser_load_s(run_dir / 'report.html'):.2f} s")
        ok = render_s < TARGET_S and size_mb < TARGET_MB and not problems
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1


def browser_load_s(page_path: Path) -> float:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = b.new_page(viewport={"width": 1300, "height": 900})
        t0 = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_function("window.harnessTimeline && window.harnessTimeline.drawn > 0", timeout=120_000)
        took = time.perf_counter() - t0
        b.close()
    return took


if __name__ == "__main__":
    sys.exit(main())
