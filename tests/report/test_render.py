"""report.html and junit.xml of a run directory: content, robustness, and that rendering never changes a verdict."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.report import plots as plots_module
from harness.report import render_comparison, render_run
from harness.report.rundir import RunDir
from harness.report.sample import SampleSpec, write_sample_run


def test_valid_run_page_and_junit(valid_run: Path) -> None:
    assert render_run(valid_run) == []
    html = (valid_run / "report.html").read_text()
    assert 'class="verdict-banner valid"' in html and ">VALID<" in html
    assert 'id="latency-plot"' in html and 'id="throughput-plot"' in html and 'id="ops-header"' in html
    assert "partition n3 | n1 n2" in html  # the fault label
    assert "No findings" in html
    suite = ET.parse(valid_run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["linearizable", "stats"]
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"


def test_invalid_run_page_explains_findings(invalid_run: Path) -> None:
    assert render_run(invalid_run) == []
    html = (invalid_run / "report.html").read_text()
    assert ">INVALID<" in html
    # failing checkers first in the checker table
    order = re.findall(r'class="checker-row" data-verdict="(\w+)"', html)
    assert order == ["invalid", "invalid", "unknown", "valid"]
    for question in ("Which scope was ordered", "Which invariant broke", "What the system did",
                     "Back to correct after the fault"):
        assert question in html
    assert "Stale or non-monotonic read" in html and "Isolation anomaly" in html
    assert 'class="cycle"' in html  # the G-single cycle drawn as a cycle
    assert "srcdoc=" in html and "Linearizability counterexample" in html  # the checker's own page, embedded
    assert 'href="nodes/n1/postgres.log"' in html
    suite = ET.parse(invalid_run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    by_name = {c.get("name"): c for c in suite.findall("testcase")}
    assert by_name["linearizable"].find("failure") is not None
    assert by_name["elle"].find("failure") is not None
    err = by_name["monotonic"].find("error")  # unknown -> <error>, documented in harness.report.junit
    assert err is not None and "crashed" in (err.get("message") or "")
    assert by_name["stats"].find("failure") is None


NETWORK = re.compile(r"""<script[^>]+src=|<link[^>]+href=|<(?:img|iframe|embed|source|audio|video)[^>]+src=["']?"""
                     r"""(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import|\bfetch\(|XMLHttpRequest|WebSocket|EventSource""",
                     re.IGNORECASE)


def _network_references(html: str) -> list[str]:
    """What in a page could make the browser go to the network: script/link/img sources, CSS urls and imports,
    script requests, and any http(s) URL other than uPlot's licence banner and the page's own links to files."""
    found = [m.group(0) for m in NETWORK.finditer(html)]
    urls = re.findall(r"https?://[^\s\"'<>)]+", html)
    return found + [u for u in urls if u != "https://github.com/leeoniya/uPlot"]


def test_page_is_self_contained_and_small(valid_run: Path, tmp_path: Path) -> None:
    """One file, nothing fetched, the plotting library inlined once; a 30 s run's page is well under 1 MB."""
    render_run(valid_run)
    html = (valid_run / "report.html").read_text()
    assert _network_references(html) == []
    assert html.count("/*! https://github.com/leeoniya/uPlot (v1.6.32) */") == 1  # the library, once
    assert html.count('id="ops-blob"') == 1 and html.count('<script type="application/json" class="plot-spec"') == 2
    assert len(html.encode()) < 300_000
    run = write_sample_run(tmp_path / "run30s", SampleSpec(ops=15_000, concurrency=10, rate_per_worker=100.0))
    assert 29 < json.loads((run / "results.json").read_text())["run"]["duration_s"] < 40
    assert render_run(run) == []
    page = (run / "report.html").read_text()
    assert _network_references(page) == [] and len(page.encode()) < 1_000_000


def test_network_check_finds_references() -> None:
    for bad in ('<script src="x.js"></script>', '<link rel="stylesheet" href="a.css">',
                '<img src="https://example.org/a.png">', "<style>a { background: url(//cdn.example/x.png) }</style>",
                "<script>fetch('/x')</script>", "see http://example.org"):
        assert _network_references(bad), bad


def test_vendored_library_matches_its_provenance() -> None:
    """static/README.md lists each vendored file's sha256; the files in the package are those."""
    import hashlib
    from importlib import resources

    static = resources.files("harness.report") / "static"
    rows = re.findall(r"^\| (\S+) \|.*\| ([0-9a-f]{64}) \|$", (static / "README.md").read_text(), re.MULTILINE)
    assert {name for name, _ in rows} == {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE.uPlot"}
    for name, digest in rows:
        assert hashlib.sha256((static / name).read_bytes()).hexdigest() == digest, name


def _snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in (run / "results.json", run / "history.jsonl", run / "test.json")}


def test_a_failing_plot_is_reported_and_the_verdict_stays(fresh_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(fresh_run)

    def broken(*a: object, **k: object) -> None:
        raise RuntimeError("plotly exploded")

    monkeypatch.setattr(plots_module, "latency_figure", broken)
    problems = render_run(fresh_run)
    assert problems == ["latency plot failed: RuntimeError: plotly exploded"]
    html = (fresh_run / "report.html").read_text()
    assert ">INVALID<" in html and "plotly exploded" in html and "The latency plot could not be drawn" in html
    assert 'id="throughput-plot"' in html
    assert _snapshot(fresh_run) == before


def test_a_malformed_history_still_gives_a_page_with_the_verdict(fresh_run: Path) -> None:
    lines = (fresh_run / "history.jsonl").read_text().splitlines(keepends=True)
    lines[5] = "{not json\n"
    (fresh_run / "history.jsonl").write_text("".join(lines))
    problems = render_run(fresh_run)
    assert len(problems) == 1 and "reading history.jsonl failed" in problems[0] and ":6:" in problems[0]
    html = (fresh_run / "report.html").read_text()
    assert ">INVALID<" in html and "reading history.jsonl failed" in html
    assert (fresh_run / "junit.xml").is_file()


def test_a_run_without_results_is_unknown(fresh_run: Path) -> None:
    (fresh_run / "results.json").unlink()
    assert render_run(fresh_run) == []
    assert ">UNKNOWN<" in (fresh_run / "report.html").read_text()
    suite = ET.parse(fresh_run / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1"


def test_render_run_never_raises(tmp_path: Path) -> None:
    assert render_run(tmp_path / "nope")[0].startswith("cannot read the run directory")
    problems = render_run(tmp_path)
    assert "neither test.json nor results.json" in problems[0]
    assert "could not be rendered" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("change, message", [
    ({"schema": 2}, "schema 2 is not supported"),
    ({"valid": "maybe"}, "valid must be true, false or \"unknown\""),
    ({"verdict": {"checker": "x"}}, "malformed results.json"),
])
def test_bad_results_json_is_bad_input(fresh_run: Path, change: dict[str, object], message: str) -> None:
    d = json.loads((fresh_run / "results.json").read_text())
    d.update(change)
    (fresh_run / "results.json").write_text(json.dumps(d))
    with pytest.raises(BadInput, match=re.escape(message)):
        RunDir.load(fresh_run)
    problems = render_run(fresh_run)
    assert problems[0].startswith("cannot read the run directory") and message in problems[0]


def test_comparison_of_two_runs(valid_run: Path, invalid_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp" / "compare.html"
    assert render_comparison([valid_run, invalid_run], out) == []
    html = out.read_text()
    assert html.count('class="badge valid"') >= 1 and 'class="badge invalid"' in html
    assert "etcd 3.5.15" in html and "postgres 16.4" in html
    assert "stale or non-monotonic read" in html and "partition n3 | n1 n2" in html
    assert 'id="cmp-latency"' in html and 'id="cmp-availability"' in html and 'id="cmp-throughput"' in html
    assert "../../" in html  # links to each run's report.html, relative to the comparison page


def test_comparison_skips_unreadable_runs(valid_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    problems = render_comparison([valid_run, tmp_path / "missing"], out)
    assert len(problems) == 1 and "missing" in problems[0]
    assert "Comparison of 1 runs" in out.read_text()


def test_real_run_of_the_harness(real_run: Path) -> None:
    """The runner's own run directory: test.json nodes as objects, options as a RunOptions dict, checker pages."""
    results = json.loads((real_run / "results.json").read_text())
    assert (real_run / "report.html").is_file()  # written by the runner
    assert render_run(real_run) == []
    html = (real_run / "report.html").read_text()
    verdict = {True: "VALID", False: "INVALID"}.get(results["valid"], "UNKNOWN")
    assert f">{verdict}<" in html
    assert "n1, n2, n3" in html  # node names, not the runner's {"name", "host"} objects
    assert json.loads((real_run / "results.json").read_text()) == results  # rendering never changes results.json
    run = RunDir.load(real_run)
    suite = ET.parse(real_run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names and set(names) <= {c.checker for c in _leaves(run.verdict)} | {"run"}


def _leaves(v):  # type: ignore[no-untyped-def]
    yield v
    for c in v.children:
        yield from _leaves(c)


def test_runner_wrapped_verdict_gets_its_own_row_and_testcase(fresh_run: Path) -> None:
    """The runner wraps the checkers' verdict in a "run" verdict with findings when a fault was not injected."""
    d = json.loads((fresh_run / "results.json").read_text())
    inner = d["verdict"]
    d["verdict"] = {"valid": False, "checker": "run", "summary": inner["summary"], "details": {}, "files": [],
                    "findings": [{"kind": "fault-not-injected", "failure_class": "incomplete check",
                                  "diagnosis": "1 fault(s) could not be injected", "ops": [], "explanation": [],
                                  "scope": "global"}],
                    "children": [inner]}
    (fresh_run / "results.json").write_text(json.dumps(d))
    assert render_run(fresh_run) == []
    html = (fresh_run / "report.html").read_text()
    rows = re.findall(r'class="checker-row" data-verdict="(\w+)">\s*<td[^>]*>(\w+)<', html)
    assert rows[0] == ("invalid", "run") and ("invalid", "linearizable") in rows
    assert "1 fault(s) could not be injected" in html and "Incomplete check" in html
    suite = ET.parse(fresh_run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert next(c.get("name") for c in suite.findall("testcase")) == "run"


def test_a_comparison_of_latest_links_names_the_runs_they_point_at(valid_run: Path, tmp_path: Path) -> None:
    # `harness report results/latest RUN2`: a link through `latest` would show another run after the next one
    latest = tmp_path / "latest"
    latest.symlink_to(valid_run)
    out = tmp_path / "cmp.html"
    assert render_comparison([latest], out) == []
    html = out.read_text()
    assert 'href="latest/' not in html and str(valid_run) in html
    assert os.path.relpath(valid_run / "report.html", tmp_path) in html


def test_the_diagnosis_counts_findings_a_checker_counted_past_max_findings() -> None:
    # "11 lost" in the checker table once came with "Lost acknowledged write (10)" in the diagnosis
    import pandas as pd

    from harness.checker import FailureClass, Finding, Verdict
    from harness.op import History
    from harness.report.diagnosis import diagnose

    lost = tuple(Finding(kind="lost", failure_class=FailureClass.LOST_WRITE, diagnosis=f"add {i} lost")
                 for i in range(10))
    child = Verdict(valid=False, checker="set", summary="11 lost", findings=lost,
                    details={"finding_counts": {"lost": 11}})
    [group] = diagnose(Verdict(valid=False, checker="compose", children=(child,)), History([]), pd.DataFrame(), [])
    assert len(group.findings) == 10 and group.hidden == 0 and group.uncollected == 1
