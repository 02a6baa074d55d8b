"""The pages in headless Chromium: verdict, plots and timeline render without console errors.

Screenshots are saved in the test's tmp dir and copied to results/screenshots/ (git-ignored)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.report import render_comparison, render_run
from harness.report.serve import make_server

Keep = Callable[[Path], None]


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.goto(url)
    page.wait_for_load_state("load")
    return page, errors


def check_run_page(browser: Any, run: Path, verdict: str, shot: Path, keep_screenshot: Keep) -> Any:
    assert render_run(run) == []
    page, errors = open_page(browser, (run / "report.html").as_uri())
    assert page.inner_text("#verdict .big").strip() == verdict
    page.wait_for_function("window.harnessReport && window.harnessReport.drawn", timeout=20_000)
    assert page.evaluate("window.harnessReport.errors") == []
    for plot, charts in (("#latency-plot", 1), ("#throughput-plot", 2)):  # throughput: ops/s and availability
        assert page.locator(f"{plot}[data-drawn] .uplot canvas").count() == charts
    assert page.locator("#latency-plot .point-legend input").count() >= 3  # one per (f, outcome) of the points
    page.wait_for_function("window.harnessTimeline && window.harnessTimeline.drawn > 0", timeout=20_000)
    tl = page.evaluate("({drawn: window.harnessTimeline.drawn, total: window.harnessTimeline.total})")
    assert 0 < tl["drawn"] <= tl["total"]
    assert page.locator("#timeline canvas").count() == 1
    assert "ops drawn" in page.inner_text("#timeline-status")
    # scattergl draws on WebGL; with --disable-gpu Chromium falls back to software GL, which logs no errors
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    assert errors == []
    return page


def test_valid_run_in_chromium(browser: Any, valid_run: Path, tmp_path: Path, keep_screenshot: Keep) -> None:
    page = check_run_page(browser, valid_run, "VALID", tmp_path / "report-valid.png", keep_screenshot)
    assert page.locator(".finding").count() == 0
    # hovering an op on the canvas shows it; zooming in draws fewer ops
    canvas = page.locator("#timeline canvas")
    box = canvas.bounding_box()
    assert box is not None
    canvas.hover(position={"x": box["width"] / 2, "y": 22 + 18 * 1.5})  # worker 0's row, mid-run
    tip = page.locator(".tl-tip")
    tip.wait_for(state="visible", timeout=5_000)
    assert tip.inner_text().startswith("#")
    whole = page.evaluate("window.harnessTimeline.drawn")
    # hovering the latency scatter names the op under the pointer (searched up a column early in the run)
    over = page.locator("#latency-plot .u-over").first
    obox = over.bounding_box()
    assert obox is not None
    for y in range(int(obox["height"]) - 2, 0, -3):
        over.hover(position={"x": obox["width"] * 0.1, "y": y})
        if page.locator(".plot-tip").is_visible():
            break
    assert page.locator(".plot-tip").inner_text().startswith("#")
    for _ in range(4):
        page.click("#tl-in")
    page.wait_for_timeout(200)
    assert 0 < page.evaluate("window.harnessTimeline.drawn") < whole
    page.close()


def test_invalid_run_in_chromium(browser: Any, invalid_run: Path, tmp_path: Path, keep_screenshot: Keep) -> None:
    page = check_run_page(browser, invalid_run, "INVALID", tmp_path / "report-invalid.png", keep_screenshot)
    assert page.locator(".finding").count() == 3
    frames = [f for f in page.frames if f.url == "about:srcdoc"]
    assert len(frames) == 1 and "Linearizability counterexample" in frames[0].inner_text("body")
    # an op number in the diagnosis zooms the timeline onto that op
    before = page.evaluate("window.harnessTimeline.view.t1 - window.harnessTimeline.view.t0")
    page.locator(".finding a[data-tl-op]").first.click()
    page.wait_for_timeout(200)
    after = page.evaluate("window.harnessTimeline.view.t1 - window.harnessTimeline.view.t0")
    assert after < before
    page.close()


def test_comparison_in_chromium(browser: Any, valid_run: Path, invalid_run: Path, tmp_path: Path, keep_screenshot: Keep) -> None:
    out = tmp_path / "compare-two-runs.html"
    assert render_comparison([valid_run, invalid_run], out) == []
    page, errors = open_page(browser, out.as_uri())
    badges = page.locator("#compare-table tr:nth-child(2) .badge").all_inner_texts()
    assert badges == ["valid", "invalid"]
    page.wait_for_function("window.harnessReport && window.harnessReport.drawn", timeout=20_000)
    assert page.locator("#cmp-throughput[data-drawn] .uplot canvas").count() == 1
    for bars in ("#cmp-latency", "#cmp-availability"):
        assert page.locator(f"svg{bars} rect").count() >= 2
    shot = tmp_path / "compare-two-runs.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    assert errors == []
    page.close()


def test_results_browser_filters(browser: Any, valid_run: Path, invalid_run: Path, tmp_path: Path, keep_screenshot: Keep) -> None:
    root = tmp_path / "results"
    shutil.copytree(valid_run, root / "a" / "1")
    shutil.copytree(invalid_run, root / "b" / "2")
    server = make_server(root, 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        page, errors = open_page(browser, f"http://{host}:{port}/")
        assert page.locator("tr.run:not(.hidden)").count() == 2
        page.fill("#filter", "postgres")
        assert page.locator("tr.run:not(.hidden)").count() == 1
        page.fill("#filter", "")
        page.select_option("#verdict-filter", "valid")
        assert page.locator("tr.run:not(.hidden)").all_inner_texts()[0].startswith("valid")
        shot = tmp_path / "serve-index.png"
        page.screenshot(path=str(shot), full_page=True)
        keep_screenshot(shot)
        assert errors == []
        page.close()
    finally:
        server.shutdown()
        server.server_close()


def test_real_run_in_chromium(browser: Any, real_run: Path, tmp_path: Path, keep_screenshot: Keep) -> None:
    import json

    verdict = {True: "VALID", False: "INVALID"}.get(json.loads((real_run / "results.json").read_text())["valid"],
                                                    "UNKNOWN")
    page = check_run_page(browser, real_run, verdict, tmp_path / "report-real-memory-run.png", keep_screenshot)
    page.close()
