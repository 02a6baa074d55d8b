"""`harness serve`: the results browser over real HTTP on 127.0.0.1.

MUST SHOW: it is read-only and answers only its own address. Every page of a results directory is fetched (the
list, the JSON, every file of every run, the zips, a report that is not on disk, 404s and path traversals) and the
directory is byte-for-byte what it was; a foreign Host header (DNS rebinding) gets 403."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import shutil
import socket
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

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


# --- read-only, own address only ----------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, str]:
    """Every entry under `root` (directories, files, links) with a hash of its content or link target."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + str(p.readlink())
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def full_results(tmp_path: Path, valid_run: Path, invalid_run: Path, real_run: Path) -> Path:
    root = tmp_path / "results"
    shutil.copytree(valid_run, root / "etcd-register-partition" / "20260101T000000.000Z")
    shutil.copytree(invalid_run, root / "postgres-register-partition" / "20260102T000000.000Z")
    shutil.copytree(real_run, root / real_run.parent.name / real_run.name)
    no_report = root / "etcd-register-partition" / "20260103T000000.000Z"
    shutil.copytree(valid_run, no_report)
    (no_report / "report.html").unlink(missing_ok=True)  # served from memory, never written
    (root / "broken" / "run").mkdir(parents=True)
    (root / "broken" / "run" / "results.json").write_text("{not json")
    (root / "latest").symlink_to("etcd-register-partition/20260101T000000.000Z")
    return root


@pytest.fixture
def server(full_results: Path) -> Iterator[tuple[str, int]]:
    srv = make_server(full_results, 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[0], srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def fetch(address: tuple[str, int], path: str, host: str | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*address, timeout=30)
    headers = {"Host": host} if host is not None else {}
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def pages(results: Path) -> list[str]:
    out = ["/", "/index.html", "/api/runs.json", "/favicon.ico", "/nope", "/runs/../../etc/passwd",
           "/runs/%2e%2e/%2e%2e/etc/passwd", "/zip/..", "/runs/missing/report.html"]
    for run in sorted(d for d in results.glob("*/*") if d.is_dir() and not d.is_symlink()):
        rel = run.relative_to(results).as_posix()
        out += [f"/runs/{rel}/", f"/runs/{rel}/report.html", f"/zip/{rel}", f"/zip/{rel}.zip"]
        out += [f"/runs/{quote(f.relative_to(results).as_posix())}" for f in sorted(run.rglob("*")) if f.is_file()]
    return out


def test_every_page_leaves_the_results_directory_unchanged(full_results: Path, server: tuple[str, int]) -> None:
    before = snapshot(full_results)
    statuses: dict[int, int] = {}
    for path in pages(full_results):
        status, _ = fetch(server, path)
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses.get(200, 0) > 40 and statuses.get(404, 0) >= 3, statuses
    assert snapshot(full_results) == before


def test_a_missing_report_is_rendered_in_memory(full_results: Path, server: tuple[str, int]) -> None:
    run = "etcd-register-partition/20260103T000000.000Z"
    status, body = fetch(server, f"/runs/{run}/")
    assert status == 200 and b"<html" in body.lower() and b"etcd" in body
    assert not (full_results / run / "report.html").exists()


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost.evil.example:{port}",
                                  "0.0.0.0:{port}", ""])
def test_a_foreign_host_header_is_refused(host: str, full_results: Path, server: tuple[str, int]) -> None:
    status, body = fetch(server, "/api/runs.json", host.format(port=server[1]))
    assert status == 403 and b"refused" in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_its_own_address_is_served(host: str, server: tuple[str, int]) -> None:
    status, _ = fetch(server, "/api/runs.json", host.format(port=server[1]))
    assert status == 200


def test_a_request_without_host_is_refused(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=30) as s:
        s.sendall(b"GET /api/runs.json HTTP/1.0\r\n\r\n")
        reply = s.recv(200)
    assert reply.startswith(b"HTTP/1.0 403")
