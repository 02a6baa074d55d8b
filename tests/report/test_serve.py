"""`harness serve`: the results browser over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import json
import shutil
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.report.serve import find_runs, make_server


@pytest.fixture
def results(tmp_path: Path, valid_run: Path, invalid_run: Path) -> Path:
    root = tmp_path / "results"
    shutil.copytree(valid_run, root / "etcd-register-partition" / "20261123T100700", ignore=shutil.ignore_patterns("report.html"))
    shutil.copytree(invalid_run, root / "postgres-register-partition" / "20261123T100800")
    (root / "README.md").write_text("results\n")
    return root


@pytest.fixture
def base_url(results: Path) -> Iterator[str]:
    server = make_server(results, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), ""


def test_find_runs_lists_newest_first(results: Path) -> None:
    runs = find_runs(results)
    assert [r.verdict for r in runs] == ["invalid", "valid"]
    assert runs[0].system == "postgres" and runs[0].nemeses == "partition" and runs[1].workload == "register"


def test_index_and_api(base_url: str) -> None:
    status, body, ctype = get(base_url + "/")
    assert status == 200 and ctype.startswith("text/html")
    html = body.decode()
    assert "postgres-register-partition" in html and "etcd-register-partition" in html
    assert html.count('class="run"') == 2 and 'id="filter"' in html
    status, body, _ = get(base_url + "/api/runs.json")
    runs = json.loads(body)
    assert status == 200 and {r["verdict"] for r in runs} == {"valid", "invalid"}


def test_report_is_rendered_on_demand_and_files_are_served(base_url: str, results: Path) -> None:
    run = "etcd-register-partition/20261123T100700"
    assert not (results / run / "report.html").exists()
    status, body, _ = get(f"{base_url}/runs/{run}/report.html")
    assert status == 200 and b">VALID<" in body
    status, body, ctype = get(f"{base_url}/runs/{run}/nodes/n1/etcd.log")
    assert status == 200 and b"started etcd" in body and ctype.startswith("text/plain")


def test_zip_download(base_url: str) -> None:
    status, body, ctype = get(base_url + "/zip/postgres-register-partition/20261123T100800.zip")
    assert status == 200 and ctype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert "20261123T100800/history.jsonl" in names and "20261123T100800/results.json" in names


@pytest.mark.parametrize("path", ["/runs/../../../etc/passwd", "/runs/%2e%2e/%2e%2e/etc/passwd", "/zip/..", "/nope"])
def test_paths_outside_results_are_not_served(base_url: str, path: str) -> None:
    status, _, _ = get(base_url + path)
    assert status == 404
