"""Click commands of the report package, for the CLI to add with `main.add_command(...)`:

    harness report RUN [RUN...] [--out PATH]   re-render one run's report.html + junit.xml, or compare several
    harness export RUN --format csv|parquet [--out PATH]   write the run's ops table
    harness serve [--port N] [--results DIR]   browse results/ at http://127.0.0.1:N/

Owns argument handling only. Bad input (not a run directory, unreadable history, port in use) is printed as one
line on stderr with exit code 254, whether or not the top-level CLI also maps BadInput. Report problems (a plot
that failed) are warnings: the page is still written and says so; the exit code is 0.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from harness.errors import BadInput

P = ParamSpec("P")
R = TypeVar("R")


def _bad_input_exits(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except BadInput as e:
            click.echo(f"harness: {e}", err=True)
            raise SystemExit(BadInput.exit_code) from None

    return wrapper


def _warn(problems: list[str]) -> None:
    for p in problems:
        click.echo(f"harness: warning: {p}", err=True)


def default_compare_path(results_dir: str = "results") -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path(results_dir) / f"compare-{stamp}.html"


@click.command("report")
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the comparison page of several runs (default results/compare-<timestamp>.html).")
@_bad_input_exits
def report(runs: tuple[Path, ...], out: Path | None) -> None:
    """Render RUN's report.html and junit.xml again, or compare several RUNs side by side."""
    from harness.report.compare import render_comparison
    from harness.report.page import render_run
    from harness.report.rundir import RunDir

    for r in runs:
        RunDir.load(r)  # BadInput, one line, before anything is written
    if len(runs) == 1:
        _warn(render_run(runs[0]))
        click.echo(os.fspath(runs[0] / "report.html"))
        return
    for r in runs:
        if not (r / "report.html").is_file():  # the comparison links every run's page
            _warn(render_run(r))
    dest = out or default_compare_path()
    problems = render_comparison(list(runs), dest)
    _warn(problems)
    if not dest.is_file():
        raise BadInput(f"{dest}: the comparison page could not be written")
    click.echo(str(dest))


@click.command("export")
@click.argument("run", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="Table format.")
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Output file or directory (default <RUN>/ops.<format>).")
@_bad_input_exits
def export(run: Path, fmt: str, out: Path | None) -> None:
    """Write RUN's ops table (one row per operation, invoke and completion paired, with latency)."""
    from harness.report.export import export_ops

    click.echo(str(export_ops(run, fmt, out)))


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port on 127.0.0.1.")
@click.option("--results", "results_dir", type=click.Path(path_type=Path), default=Path("results"),
              show_default=True, help="Results directory to browse.")
@_bad_input_exits
def serve(port: int, results_dir: Path) -> None:
    """Browse the runs in a results directory: list, filter, open reports, download a run as a zip."""
    from harness.report.serve import make_server

    server = make_server(results_dir, port)
    real_port = server.server_address[1]
    click.echo(f"serving {results_dir} at http://127.0.0.1:{real_port}/ (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = (report, export, serve)
