"""`harness serve`: browse a results directory in a web browser (stdlib http.server, bound to 127.0.0.1).

Owns `find_runs` (run directories under results/, newest first, with verdict, system, workload, nemeses and
time), the request handler and `make_server`. Routes:
    /                      the list of runs, with a filter
    /api/runs.json         the same list as JSON
    /runs/<run>/<file>     any file of a run directory (a missing report.html is rendered in memory)
    /zip/<run>             the whole run directory as a zip download
No open doors: the server only reads (it never writes into the results directory, not even a report), paths are
resolved and must stay inside the results directory, and a request whose Host header is not the address it
listens on (127.0.0.1 or localhost with its port) is refused with 403, so a web page the user visits cannot read
the results through DNS rebinding. Does not own rendering pages (see page/compare).
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import zipfile
from dataclasses import asdict, dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.errors import BadInput
from harness.report.rundir import RunDir
from harness.report.templating import render, verdict

HOST = "127.0.0.1"
MAX_DEPTH = 4
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
           b'<circle cx="8" cy="8" r="7" fill="#c92a2a"/></svg>')


@dataclass(frozen=True, kw_only=True)
class RunEntry:
    path: str  # relative to the results directory, with "/"
    name: str
    run_id: str
    verdict: str
    system: str
    workload: str
    nemeses: str
    started: str
    duration_s: float | None
    has_report: bool
    problem: str = ""


def _entry(root: Path, d: Path) -> RunEntry:
    rel = d.relative_to(root).as_posix()
    try:
        run = RunDir.load(d)
    except BadInput as e:
        return RunEntry(path=rel, name=d.parent.name, run_id=d.name, verdict="unreadable", system="", workload="",
                        nemeses="", started="", duration_s=None, has_report=(d / "report.html").is_file(),
                        problem=str(e))
    s = run.summary
    opt = run.test.options
    return RunEntry(
        path=rel, name=run.title, run_id=run.run_id, verdict=verdict(run.valid),
        system=s.system or opt.get("system", ""), workload=s.workload or opt.get("workload", ""),
        nemeses=", ".join(s.nemeses) or opt.get("nemeses", "") or "none", started=s.started or run.test.started,
        duration_s=s.duration_s, has_report=(d / "report.html").is_file(),
    )


def find_runs(results_dir: str | os.PathLike[str]) -> list[RunEntry]:
    """Every run directory (one holding test.json or results.json) under `results_dir`, newest first."""
    root = Path(results_dir).resolve()
    if not root.is_dir():
        raise BadInput(f"{results_dir}: no such results directory")
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        if (d / "test.json").is_file() or (d / "results.json").is_file():
            found.append(d)
            return
        if depth >= MAX_DEPTH:
            return
        try:
            subs = sorted(x for x in d.iterdir()
                          if x.is_dir() and not x.is_symlink() and not x.name.startswith("."))  # skip "latest" links
        except OSError:
            return
        for x in subs:
            walk(x, depth + 1)

    walk(root, 0)
    entries = [_entry(root, d) for d in found if d != root]
    entries.sort(key=lambda e: (e.started, e.run_id), reverse=True)
    return entries


def _inside(root: Path, rel: str) -> Path | None:
    p = (root / rel).resolve()
    return p if p == root or root in p.parents else None


def zip_run(run_dir: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(run_dir.rglob("*")):
            if f.is_file() and not f.is_symlink():
                z.write(f, arcname=f"{run_dir.name}/{f.relative_to(run_dir).as_posix()}")
    return buf.getvalue()


class ResultsHandler(BaseHTTPRequestHandler):
    """Serves one results directory, read-only: a missing report.html is rendered in memory, never written."""

    root: Path = Path("results")
    allowed_hosts: frozenset[str] = frozenset()
    server_version = "harness-serve"

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the browser shows what happened

    def _send(self, status: HTTPStatus, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self, what: str) -> None:
        self._send(HTTPStatus.NOT_FOUND, f"not found: {what}\n".encode(), "text/plain; charset=utf-8")

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.allowed_hosts:
            self._send(HTTPStatus.FORBIDDEN, f"refused: Host {host or '(none)'!r} is not this server's address\n"
                       .encode(), "text/plain; charset=utf-8")
            return
        path = unquote(urlsplit(self.path).path)
        try:
            if path in ("/", "/index.html"):
                body = render("index.html.j2", runs=find_runs(self.root), root=str(self.root))
                self._send(HTTPStatus.OK, body.encode(), "text/html; charset=utf-8")
            elif path == "/favicon.ico":
                self._send(HTTPStatus.OK, FAVICON, "image/svg+xml")
            elif path == "/api/runs.json":
                body = json.dumps([asdict(e) for e in find_runs(self.root)], indent=1)
                self._send(HTTPStatus.OK, body.encode(), "application/json")
            elif path.startswith("/zip/"):
                d = _inside(self.root, path[len("/zip/"):].removesuffix(".zip"))
                if d is None or d == self.root or not d.is_dir():
                    return self._not_found(path)
                self._send(HTTPStatus.OK, zip_run(d), "application/zip",
                           {"Content-Disposition": f'attachment; filename="{d.parent.name}-{d.name}.zip"'})
            elif path.startswith("/runs/"):
                p = _inside(self.root, path[len("/runs/"):])
                if p is None:
                    return self._not_found(path)
                if p.is_dir():
                    p = p / "report.html"
                if p.name == "report.html" and not p.exists() and p.parent.is_dir():
                    from harness.report.page import run_html

                    html, _problems = run_html(p.parent)  # in memory: the results directory stays as it is
                    return self._send(HTTPStatus.OK, html.encode(), "text/html; charset=utf-8")
                if not p.is_file():
                    return self._not_found(path)
                ctype = mimetypes.guess_type(p.name)[0] or "text/plain"
                if ctype.startswith("text/") or p.suffix in (".log", ".jsonl", ".txt", ".edn"):
                    ctype = (ctype if ctype.startswith("text/") else "text/plain") + "; charset=utf-8"
                self._send(HTTPStatus.OK, p.read_bytes(), ctype)
            else:
                self._not_found(path)
        except BadInput as e:
            self._send(HTTPStatus.BAD_REQUEST, f"{e}\n".encode(), "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError):
            pass


def make_server(results_dir: str | os.PathLike[str], port: int = 8000) -> ThreadingHTTPServer:
    """A server for `results_dir` bound to 127.0.0.1:`port` (0 = any free port); not yet serving."""
    root = Path(results_dir).resolve()
    if not root.is_dir():
        raise BadInput(f"{results_dir}: no such results directory")
    handler: type[ResultsHandler] = type("BoundResultsHandler", (ResultsHandler,), {"root": root})
    try:
        server = ThreadingHTTPServer((HOST, port), handler)
    except OSError as e:
        raise BadInput(f"cannot listen on {HOST}:{port}: {e.strerror}") from None
    bound = server.server_address[1]
    handler.allowed_hosts = frozenset(f"{name}:{bound}" for name in (HOST, "localhost")) | (
        frozenset((HOST, "localhost")) if bound == 80 else frozenset())
    server.daemon_threads = True
    return server
