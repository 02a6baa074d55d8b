"""The click commands `report`, `export` and `serve` (as the CLI adds them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.report.commands import export, report, serve


def test_report_one_run(fresh_run: Path) -> None:
    (fresh_run / "report.html").unlink(missing_ok=True)
    r = CliRunner().invoke(report, [str(fresh_run)])
    assert r.exit_code == 0, r.output
    assert (fresh_run / "report.html").is_file() and (fresh_run / "junit.xml").is_file()


def test_report_several_runs_writes_a_comparison(valid_run: Path, fresh_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    r = CliRunner().invoke(report, [str(valid_run), str(fresh_run), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert out.is_file() and str(out) in r.output


def test_report_default_comparison_path(valid_run: Path, fresh_run: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    r = CliRunner().invoke(report, [str(valid_run), str(fresh_run)])
    assert r.exit_code == 0, r.output
    (page,) = list((tmp_path / "results").glob("compare-*.html"))
    assert page.stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["/nonexistent/run"], "not a run directory (no such directory)"),
    (["{tmp}"], "neither test.json nor results.json"),
])
def test_report_bad_input_is_one_line_and_254(args: list[str], message: str, tmp_path: Path) -> None:
    r = CliRunner().invoke(report, [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 254
    assert message in r.output and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(fresh_run: Path, tmp_path: Path, fmt: str) -> None:
    r = CliRunner().invoke(export, [str(fresh_run), "--format", fmt, "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    path = tmp_path / f"ops.{fmt}"
    df = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    invokes = sum(1 for line in (fresh_run / "history.jsonl").read_text().splitlines()
                  if '"type":"invoke"' in line and '"process":"nemesis"' not in line)
    assert len(df) == invokes
    assert {"index", "process", "f", "type", "latency_ms", "invoke_s", "complete_s", "node"} <= set(df.columns)
    assert (df.loc[df["type"] == "ok", "latency_ms"] > 0).all()


def test_export_without_history_is_bad_input(fresh_run: Path) -> None:
    (fresh_run / "history.jsonl").unlink()
    r = CliRunner().invoke(export, [str(fresh_run)])
    assert r.exit_code == 254 and "no history.jsonl" in r.output


def test_serve_missing_results_dir_is_bad_input(tmp_path: Path) -> None:
    r = CliRunner().invoke(serve, ["--results", str(tmp_path / "none"), "--port", "0"])
    assert r.exit_code == 254 and "no such results directory" in r.output


def test_serve_port_in_use_is_bad_input(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    try:
        r = CliRunner().invoke(serve, ["--results", str(tmp_path), "--port", str(s.getsockname()[1])])
        assert r.exit_code == 254 and "cannot listen" in r.output
    finally:
        s.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("args, message", [
    (["report", "/nonexistent/run"], "not a run directory"),
    (["export", "{run}", "--format", "xml"], "'xml' is not one of"),
])
def test_through_the_harness_cli(args: list[str], message: str, fresh_run: Path) -> None:
    """As users call it: `harness ...`, bad input is one line on stderr and exit code 254."""
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "harness", *[a.format(run=fresh_run) for a in args]],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 254
    assert message in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
