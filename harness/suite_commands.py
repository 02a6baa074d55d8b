"""The `harness suite` commands: run a suite file (whole or one shard), merge shards, validate a file.

Owns the command line only: suites are harness.suite's, shards harness.shards'.
"""

from __future__ import annotations

import sys

import click

from harness.errors import BadInput
from harness.shards import merge_shards, parse_shard, run_shard
from harness.store import read_json
from harness.suite import load_suite, run_suite


@click.group()
def suite() -> None:
    """Declared test matrices for CI gating."""


@suite.command("run")
@click.argument("file")
@click.option("--fail-on", type=click.Choice(["unknown", "invalid"]), default="unknown", show_default=True,
              help="the weakest verdict that fails the gate")
@click.option("--rerun-failed", "previous", default=None, help="summary.json of an earlier suite run: rerun its failed runs")
@click.option("--results", "results_dir", default="results", show_default=True)
@click.option("--shard", "shard_text", default=None, metavar="I/N",
              help="run only the I-th of N disjoint slices of the matrix (the same on every machine); see `suite merge`")
def run_cmd(file: str, fail_on: str, previous: str | None, results_dir: str, shard_text: str | None) -> None:
    """Run every run the suite FILE declares; exit with the worst verdict."""
    shard = parse_shard(shard_text) if shard_text is not None else None
    s = load_suite(file)
    only = None
    if previous:
        try:
            prev = read_json(previous)
            only = {r["id"] for r in prev["runs"] if r["valid"] is not True}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BadInput(f"--rerun-failed {previous}: not a suite summary.json ({e})") from None
        if not only:
            click.echo(f"suite: nothing failed in {previous}", err=True)
            sys.exit(0)
    echo = lambda m: click.echo(m, err=True)  # noqa: E731 - one line, used twice
    if shard is None:
        code, out = run_suite(s, results_dir=results_dir, fail_on=fail_on, only=only, echo=echo)
    else:
        code, out = run_shard(s, shard, results_dir=results_dir, fail_on=fail_on, only=only, echo=echo)
    click.echo(f"{out}\t{ {0: 'passed', 1: 'invalid', 2: 'unknown'}[code] }")
    sys.exit(code)


@suite.command("merge")
@click.argument("dirs", nargs=-1, required=True)
@click.option("--out", "out", required=True, help="directory for the merged summary.json, junit.xml, summary.html")
@click.option("--fail-on", type=click.Choice(["unknown", "invalid"]), default=None,
              help="the weakest verdict that fails the gate (default: as the shards were run)")
def merge_cmd(dirs: tuple[str, ...], out: str, fail_on: str | None) -> None:
    """Merge the shards of one suite (each DIR a shard's suite directory, or a directory holding them, such as
    downloaded CI artifacts) into one verdict and report; a missing or failed shard is named and makes it unknown."""
    code, where = merge_shards(list(dirs), out, fail_on=fail_on, echo=lambda m: click.echo(m, err=True))
    click.echo(f"{where}\t{ {0: 'passed', 1: 'invalid', 2: 'unknown'}[code] }")
    sys.exit(code)


@suite.command("validate")
@click.argument("file")
def validate_cmd(file: str) -> None:
    """Validate a suite file and list its runs."""
    s = load_suite(file)
    for r in s.runs:
        click.echo(r.id)
