"""The command line: `harness run | check | shrink | bundle | report | export | serve | plugins | cleanup | images`.

Owns parsing options into RunOptions and exit codes: 0 valid, 1 invalid, 2 unknown, 254 bad input (click's
usage errors included, one line, no traceback), 255 harness crashed. Does not own any behaviour: each command
calls the module that owns it.

Start-up stays cheap: this module imports click and the error tree only. Every command imports what it needs
when it runs, and the commands other modules own (reports, images, suites) are imported only when named
(`LAZY_COMMANDS`), so `harness --version` and `--help` load no provider, checker or report library
(tests/core/test_startup.py holds that line).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

import click

import harness
from harness.errors import BadInput

if TYPE_CHECKING:  # imported where used, so that `harness --help` starts fast
    from harness.checker import Validity, Verdict
    from harness.coverage import Coverage
    from harness.op import History
    from harness.options import RunOptions
    from harness.recheck import CheckPlan

EXIT_BAD_INPUT = 254
EXIT_CRASH = 255
VERDICT_WORD = {True: "valid", False: "invalid", "unknown": "unknown"}


def _nodes(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value.isdigit():
        n = int(value)
        if n < 1:
            raise BadInput(f"--nodes must be at least 1, not {n}")
        return tuple(f"n{i}" for i in range(1, n + 1))
    names = tuple(x.strip() for x in value.split(",") if x.strip())
    if not names:
        raise BadInput(f"--nodes takes a count or comma-separated node names, not {value!r}")
    return names


# Commands owned by other modules: name -> (module, attribute, the command's one-line help). The help line is
# repeated here so that `harness --help` imports none of them; a test checks it against the command's own.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "report": ("harness.report.commands", "report",
               "Render RUN's report.html and junit.xml again, or compare several RUNs side by side."),
    "export": ("harness.report.commands", "export",
               "Write RUN's ops table (one row per operation, invoke and completion paired, with latency)."),
    "serve": ("harness.report.commands", "serve",
              "Browse the runs in a results directory: list, filter, open reports, download a run as a zip."),
    "images": ("clusters.docker.commands", "images",
               "Node images for --cluster docker (cached; rebuilt only when their recipe changes)."),
    "suite": ("harness.suite_commands", "suite", "Declared test matrices for CI gating."),
    "new": ("harness.scaffold", "new", "Start a plugin package for a new system (harness new system NAME)."),
}


class _LazyGroup(click.Group):
    """A click group whose `LAZY_COMMANDS` are imported when invoked, not when listed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None or cmd_name not in LAZY_COMMANDS:
            return cmd
        module, attr, _help = LAZY_COMMANDS[cmd_name]
        try:
            loaded = getattr(importlib.import_module(module), attr)
        except ImportError as e:  # an optional part that is not installed: the command is absent, and says why
            raise BadInput(f"command {cmd_name!r} is not available: {e}") from None
        return loaded if isinstance(loaded, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(n) for n in self.list_commands(ctx))
        rows = []
        for name in self.list_commands(ctx):
            own = super().get_command(ctx, name)
            if own is not None:
                rows.append((name, own.get_short_help_str(limit)))
            else:
                rows.append((name, click.Command(name, help=LAZY_COMMANDS[name][2]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(harness.__version__, "--version", prog_name="harness")
def main_group() -> None:
    """Jepsen-style chaos testing of real clusters: run, check, report."""
    import logging  # here, not at start-up: --version and --help never get this far

    logging.basicConfig(level=logging.WARNING, format="harness: %(message)s")
    # paramiko's transport thread logs a whole traceback for every connection that fails; the ssh provider turns
    # the failure into one line of its own (Unreachable), so its log stays off the console
    logging.getLogger("paramiko").setLevel(logging.CRITICAL + 1)


@main_group.command()
@click.option("--system", default="etcd", show_default=True, help="system under test (see `harness plugins`)")
@click.option("--system-file", default=None, help="a declarative system (YAML, see docs/systems.md) instead of --system")
@click.option("--workload", default=None,
              help="workload (default: register, or list-append / queue where the system serves no register)")
@click.option("--nemesis", "nemesis", default="", help="faults, comma-separated (e.g. partition,kill); none (the default) for no faults")
@click.option("--cluster", default="local", show_default=True, help="node provider: local, docker, ssh, inprocess")
@click.option("--nodes", default="3", show_default=True, help="node count, or comma-separated node names / hosts")
@click.option("--node", "node_list", multiple=True, help="a node (host) name; repeatable; overrides --nodes")
@click.option("--nodes-file", type=str, default=None, help="file with one host per line (ssh)")
@click.option("--concurrency", default=5, show_default=True, type=int, help="client worker threads")
@click.option("--rate", default=100.0, show_default=True, type=float, help="client ops/s in total (0 = unlimited)")
@click.option("--time-limit", default=30.0, show_default=True, type=float, help="seconds of the main phase")
@click.option("--seed", default=None, type=int, help="seed of the run's RNG (random if not given; printed)")
@click.option("--op-timeout", default=None, type=float,
              help="seconds before an op is info (default: 5; with faults, the fault interval / 4, within 1-5)")
@click.option("--nemesis-interval", default=None, type=float,
              help="seconds each fault lasts and between faults (default: time limit / 6, at most 10)")
@click.option("--min-fault-ops", default=10, show_default=True, type=int,
              help="client ops that must complete in every fault window, else the verdict is unknown (untested)")
@click.option("--system-opt", multiple=True, help="key=value option of the system; repeatable")
@click.option("--workload-opt", multiple=True, help="key=value option of the workload; repeatable")
@click.option("--nemesis-opt", multiple=True, help="key=value option of the nemeses; repeatable")
@click.option("--cluster-opt", multiple=True, help="key=value option of the node provider; repeatable")
@click.option("--leave-running", is_flag=True, help="keep the cluster up after the run (remove: harness cleanup)")
@click.option("--results", "results_dir", default="results", show_default=True, help="results directory")
@click.option("--replay", default=None, help="repeat the seed and options of a stored RUN directory (fresh cluster)")
def run(**kw: Any) -> None:
    """Run a test against a real cluster and check its history."""
    import random

    from harness.build import build_test
    from harness.interpreter import Counters
    from harness.options import RunOptions, parse_kv, parse_nemeses
    from harness.plugins import Registry
    from harness.progress import Progress
    from harness.runner import run as run_test

    seed = kw["seed"] if kw["seed"] is not None else random.SystemRandom().randrange(2**31)
    node_names = tuple(kw["node_list"]) if kw["node_list"] else _nodes(kw["nodes"])
    system, system_file = kw["system"], None
    if kw["system_file"]:
        from clusters.declarative import load_system

        if click.get_current_context().get_parameter_source("system") != click.core.ParameterSource.DEFAULT:
            raise BadInput("--system and --system-file each name the system under test: give one")

        system_file = os.path.abspath(kw["system_file"])
        system = load_system(system_file).name
    options = RunOptions(
        system=system,
        system_file=system_file,
        workload=kw["workload"] or "",  # none named: build_test picks the system's default_workload
        nemeses=parse_nemeses(kw["nemesis"]),
        cluster=kw["cluster"],
        node_names=node_names,
        nodes_file=kw["nodes_file"],
        concurrency=kw["concurrency"],
        rate=kw["rate"],
        time_limit=kw["time_limit"],
        seed=seed,
        op_timeout=kw["op_timeout"],
        nemesis_interval=kw["nemesis_interval"],
        min_fault_ops=kw["min_fault_ops"],
        system_opts=parse_kv(kw["system_opt"], "--system-opt"),
        workload_opts=parse_kv(kw["workload_opt"], "--workload-opt"),
        nemesis_opts=parse_kv(kw["nemesis_opt"], "--nemesis-opt"),
        cluster_opts=parse_kv(kw["cluster_opt"], "--cluster-opt"),
        leave_running=kw["leave_running"],
        results_dir=kw["results_dir"],
        argv=tuple(sys.argv),
    )
    if kw["replay"]:
        _refuse_options_beside_replay(kw)
        options = _replay_options(kw["replay"], kw["results_dir"])
        seed = options.seed
        click.echo(f"harness: replaying {kw['replay']}: same seed, generator and nemesis schedule; "
                   "the system itself is not deterministic, so its answers may differ", err=True)
    test = build_test(options, Registry())
    click.echo(f"harness: {test.name} on {options.cluster} ({len(test.nodes)} nodes), seed {seed}", err=True)
    counters = Counters()
    with Progress(counters):
        result = run_test(test, counters=counters)
    for e in result.errors:
        click.echo(f"harness: {e}", err=True)
    if result.interrupted:
        click.echo(f"harness: interrupted by {result.interrupted}: faults healed, cluster torn down, results "
                   f"written; verdict unknown (exit {result.exit_code})", err=True)
    if result.coverage is not None and result.coverage.windows:
        click.echo(_coverage_lines(result.coverage), err=True)
    if result.faults:
        from harness.evidence import summary_lines

        lines = summary_lines(result.faults)
        click.echo("\n".join([f"harness: {lines[0]}", *lines[1:]]), err=True)
    for f in result.verdict.all_findings()[:20]:
        click.echo(f"  - {f.failure_class.value}: {f.diagnosis}", err=True)
    _reproduction_lines(result.store.path)
    click.echo(f"{result.store.path}\t{VERDICT_WORD[result.verdict.valid]}")
    sys.exit(result.exit_code)


def _reproduction_lines(run_dir: str) -> None:
    """An invalid run's minimal history and bug-report bundle, when the runner wrote them."""
    import json

    try:
        with open(os.path.join(run_dir, "minimal", "minimize.json"), encoding="utf-8") as fh:
            m = json.load(fh)
    except (OSError, ValueError):
        return
    click.echo(f"harness: smallest failing history: {m['ops']} of {m['original_ops']} ops "
               f"({os.path.join(run_dir, 'minimal', 'history.jsonl')})", err=True)
    archive = os.path.join(run_dir, "bundle.tar.gz")
    if os.path.isfile(archive):
        click.echo(f"harness: bug report bundle: {archive}", err=True)


def _coverage_lines(cov: Coverage) -> str:
    """The fault windows and the client ops in each (harness.coverage.Coverage), for the console."""
    base = f"{cov.baseline_rate:.0f} client ops/s before the first fault" if cov.baseline_rate else "no ops before it"
    lines = [f"harness: fault windows, each while surely in place ({base}; each needs {cov.min_ops} completed "
             "client ops):"]
    for w in cov.windows:
        iv, t = w.interval, w.total
        mark = "" if w.tested(cov.min_ops) else "  UNTESTED"
        idle = "" if w.longest_idle_s is None else f"  worker idle {w.longest_idle_s:.1f}s"
        lines.append(f"  {iv.label:<12} {iv.in_place_from_s:7.1f}-{iv.in_place_to_s:<7.1f}s  {t.invoked:5d} invoked  ok {t.ok}  "
                     f"fail {t.fail}  info {t.info}  {w.invoke_rate:.0f}/s  longest gap {w.longest_gap_s:.1f}s"
                     f"{idle}{mark}")
    return "\n".join(lines)


def _refuse_options_beside_replay(kw: dict[str, Any]) -> None:
    """--replay repeats the stored run's options: another run option beside it would be silently ignored."""
    ctx = click.get_current_context()
    given = [p.opts[0] for p in ctx.command.params if p.name not in ("replay", "results_dir", None)
             and ctx.get_parameter_source(p.name) not in (click.core.ParameterSource.DEFAULT, None)]
    if given:
        raise BadInput(f"--replay repeats the stored run's options; {', '.join(given)} cannot be combined with it "
                       "(only --results can)")


def _replay_options(run_dir: str, results_dir: str) -> RunOptions:
    from harness.options import options_from_test_json
    from harness.store import read_json

    path = os.path.join(run_dir, "test.json")
    try:
        info = read_json(path)
    except (OSError, ValueError) as e:
        raise BadInput(f"--replay {run_dir}: no readable test.json ({e})") from None
    return options_from_test_json(info, results_dir=results_dir, argv=sys.argv, replay_of=os.path.abspath(run_dir))


def _history_of_run(path: str) -> str:
    """A run directory given to `harness check` stands for its history.jsonl (checked as its run checked it)."""
    history = os.path.join(path, "history.jsonl")
    return history if os.path.isdir(path) and os.path.isfile(history) else path


@main_group.command()
@click.option("--checker", "checker_name", default=None,
              help="checker plugin (default: a run's own checkers for its history.jsonl, else linearizable)")
@click.option("--model", default=None, help="linearizable: model (cas-register, register, mutex, ...)")
@click.option("--format", "fmt", default=None, help="history format (detected if not given)")
@click.option("--timeout", default=None, help="seconds before the verdict is unknown")
@click.option("--workload", default=None, help="elle: list-append or rw-register")
@click.option("--consistency-models", default=None, help="elle: expected models, comma-separated")
@click.option("--elle-cli", default=None, help="elle: path to an elle-cli executable or jar")
@click.option("--opt", multiple=True, help="key=value option of the checker; repeatable")
@click.option("--out-dir", default=None, help="where checkers write files (default: results/checks/<file>)")
@click.option("--repair", is_flag=True,
              help="mend what breaks a rule of real histories where that is safe (a completion without invocation, "
                   "times stepping back, reused indexes) and say what was changed; off by default")
@click.option("--minimize", is_flag=True,
              help="for an invalid history, also write the smallest sub-history the checker still finds invalid the "
                   "same way (a run's: RUN/minimal/; else OUT-DIR/minimal-NAME/), checkable on its own")
@click.option("--minimize-budget", default=120.0, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds the minimization may take; past them the smallest failing history found so far is kept")
@click.argument("files", nargs=-1, required=True)
def check(checker_name: str | None, fmt: str | None, opt: tuple[str, ...], out_dir: str | None,
          files: tuple[str, ...], repair: bool, minimize: bool, minimize_budget: float, **named: str | None) -> None:
    """Check saved histories without a cluster (FILES: history files, or run directories: their history.jsonl).
    Prints FILE<TAB>valid|invalid|unknown per file."""
    from harness.checker import merge_validity
    from harness.plugins import Registry
    from harness.recheck import CheckJob, FileSource, all_verdicts, check_jobs, model_note, named_plan, read_jobs

    files = tuple(_history_of_run(f) for f in files)
    registry = Registry()
    raw = {k.replace("_", "-"): v for k, v in named.items() if v is not None}
    raw.update(_parse_check_opts(opt))
    plan = named_plan(registry, checker_name, raw) if checker_name or raw else None  # options first
    out_dirs = [out_dir or os.path.join("results", "checks", os.path.basename(path)) for path in files]
    if plan is not None and not minimize:  # each file read by the worker that checks it
        jobs = [CheckJob(plan, FileSource(path, fmt, repair), d) for path, d in zip(files, out_dirs)]
    else:  # the plan depends on the history, or minimizing needs it here
        jobs = read_jobs(registry, plan, files, fmt, repair, out_dirs)
    outcomes = check_jobs(jobs, workers=1 if minimize else (os.cpu_count() or 1))
    for o in outcomes:
        if o.read_error is not None:
            raise o.read_error  # a file that cannot be read stops the check before any verdict
    worst: Validity = True
    for path, job, o in zip(files, jobs, outcomes):
        for w in o.warnings:
            click.echo(f"harness: warning: {w}", err=True)
        for r in o.repairs:
            click.echo(f"harness: {path}: --repair: {r.describe()}", err=True)
        if o.check_error is not None:
            raise o.check_error
        verdict = o.verdict
        assert verdict is not None, "a Checked without error has a verdict"
        if job.plan.description:
            click.echo(f"harness: {path}: {job.plan.description}", err=True)
        for v in all_verdicts(verdict):
            note = model_note(v.details)
            if note:
                click.echo(f"harness: {v.checker}: {note}", err=True)
        worst = merge_validity(worst, verdict.valid)
        click.echo(f"{path}\t{VERDICT_WORD[verdict.valid]}")
        for f in verdict.all_findings()[:10]:
            click.echo(f"  {f.failure_class.value}: {f.diagnosis}", err=True)
        if minimize:
            assert not isinstance(job.source, FileSource), "minimizing reads the files here"
            _minimize_one(job.plan, path, job.source.history, verdict, job.out_dir, minimize_budget,
                          _check_command(checker_name, raw))
    sys.exit({True: 0, False: 1, "unknown": 2}[worst])


def _check_command(checker_name: str | None, raw: dict[str, str]) -> str:
    """The `harness check` command line that checks a minimal history with the same checker; {path} is filled in."""
    import shlex

    if not checker_name and not raw:
        return "harness check {path}"
    parts = ["harness", "check"] + (["--checker", checker_name] if checker_name else [])
    parts += [a for k, v in raw.items() for a in ("--opt", f"{k}={v}")]
    return " ".join(shlex.quote(p) for p in parts) + " {path}"


def _minimize_one(plan: CheckPlan, path: str, history: History, verdict: Verdict, checks_dir: str, budget: float,
                  command: str) -> None:
    """`harness check --minimize` for one file: the minimal history next to the run (RUN/minimal/) or under the
    checks folder, and one line saying what it kept and what it cost."""
    from harness.minimize import minimize, write_minimal

    m = minimize(plan.checker, plan.test, history, verdict, budget_s=budget)
    if m is None:
        click.echo(f"harness: {path}: --minimize: the history is not invalid, nothing to minimize", err=True)
        return
    run_dir = os.path.dirname(os.path.abspath(path))
    in_run = plan.test is not None
    stem = os.path.splitext(os.path.basename(path))[0]  # several files may share one --out-dir
    where = os.path.join(run_dir, "minimal") if in_run else os.path.join(checks_dir, f"minimal-{stem}")
    out = write_minimal(m, where, command, test_json=os.path.join(run_dir, "test.json") if in_run else None)
    click.echo(f"harness: {path}: minimized: {m.describe()}", err=True)
    click.echo(f"harness: minimal history {out}; check it alone: {command.replace('{path}', out)}", err=True)


def _parse_check_opts(opt: tuple[str, ...]) -> dict[str, str]:
    from harness.options import parse_kv

    return parse_kv(opt, "--opt")


@main_group.command()
@click.option("--minimize-budget", default=120.0, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds to minimize the history, when RUN/minimal/ does not hold it yet")
@click.argument("run_dir", metavar="RUN")
def bundle(run_dir: str, minimize_budget: float) -> None:
    """Pack a failing RUN as a bug report: RUN/bundle/ and RUN/bundle.tar.gz (the minimal history, the commands,
    seed, options, versions, faults, the anomaly explained, node log lines around it, report.html)."""
    from harness.bundle import make_bundle

    b = make_bundle(run_dir, budget_s=minimize_budget)
    m = b.facts["minimal"]
    click.echo(f"harness: {m['failure_class']} ({m['kind']}) in {m['ops']} of {m['original_ops']} ops; "
               f"replay: {b.facts['replay']}", err=True)
    click.echo(str(b.archive))


@main_group.command("shrink")
@click.option("--budget", default=900.0, show_default=True, type=click.FloatRange(min=1),
              help="seconds of replays at most; then the smallest failing schedule found so far is kept")
@click.option("--replays", default=2, show_default=True, type=click.IntRange(min=1),
              help="replays of each candidate schedule at most (fresh clusters, the run's seed and options)")
@click.option("--failures", default=1, show_default=True, type=click.IntRange(min=1),
              help="replays that must fail the same way for a candidate to be kept (k of --replays)")
@click.argument("run_dir", metavar="RUN")
def shrink_cmd(run_dir: str, budget: float, replays: int, failures: int) -> None:
    """Replay a failing RUN with fewer faults and a shorter time limit until the smallest schedule that still
    fails; writes RUN/shrink/ and prints the command that reproduces it. Exit 1: it does; 2: it never failed again."""
    from harness.shrink import ShrinkOptions, shrink_run

    if failures > replays:
        raise BadInput(f"--failures {failures} is more than --replays {replays}")
    res, command = shrink_run(run_dir, ShrinkOptions(budget_s=budget, replays=replays, failures=failures),
                              lambda m: click.echo(f"harness: {m}", err=True))
    folder = os.path.join(res.run, "shrink")
    if res.best is None:
        why = "interrupted" if res.interrupted else "the budget ran out" if res.budget_ran_out else "none failed"
        click.echo(f"harness: the run never failed again the same way in {len(res.attempts)} attempts ({why}); "
                   f"nothing shrunk; attempts in {folder}/attempts.jsonl", err=True)
        sys.exit(130 if res.interrupted else 2)
    best, original = res.best, res.original
    note = " (budget ran out: it may shrink further)" if res.budget_ran_out else ""
    note = " (interrupted)" if res.interrupted else note
    click.echo(f"harness: smallest failing schedule: {len(best.windows)} of {len(original.windows)} faults, "
               f"{best.time_limit:g} of {original.time_limit:g} s, after {len(res.attempts)} attempts{note}; "
               f"written to {folder}", err=True)
    from harness.shrink import failing_run

    if (run := failing_run(res)) and os.path.isfile(os.path.join(run, "bundle.tar.gz")):
        click.echo(f"harness: a failing replay of it, with its bug report bundle: {run}/bundle.tar.gz", err=True)
    click.echo(str(command))
    sys.exit(130 if res.interrupted else 1)


@main_group.command()
def plugins() -> None:
    """List every plugin: group, name, module, distribution."""
    from harness.plugins import Registry

    rows = [(e.group, e.name, e.module, e.distribution) for e in Registry().entries()]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(("group", "name", "module", "dist"))]
    for r in [("group", "name", "module", "distribution"), *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    from clusters.declarative.spec import PROTOCOLS, WORKLOAD_OPS, protocol_workloads

    for proto in PROTOCOLS:
        if proto == "etcd":
            served = ", ".join(protocol_workloads(proto)) + " (the etcd plugin's client: no ops to write)"
        else:
            served = ", ".join(f"{w} ({'/'.join(sorted(WORKLOAD_OPS[w]))})" for w in protocol_workloads(proto))
        click.echo(f"--system-file protocol {proto}: workloads {served}")


@main_group.command()
@click.option("--force", is_flag=True, help="also clean runs whose harness process still lives")
def cleanup(force: bool) -> None:
    """Remove every fault and resource a harness run may have left (from the ledger)."""
    from harness.ledger import cleanup as do_cleanup
    from harness.plugins import Registry

    reg = Registry()
    for kind in ("clusters", "systems", "nemeses"):  # importing them registers their undo functions
        for name in reg.names(kind):
            try:
                reg.get(kind, name)
            except BadInput as e:
                click.echo(f"harness: {e}", err=True)
    report = do_cleanup(lambda m: click.echo(m, err=True), force=force)
    for p in report.problems:
        click.echo(f"harness: could not remove {p}", err=True)
    click.echo(f"cleanup: {report.describe()}", err=True)
    if report.problems:
        sys.exit(1)
    click.echo("cleanup done: nothing of ended runs is left"
               + (" (the state directory is set by HARNESS_STATE_DIR)" if not report.undone else ""), err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point: maps errors to exit codes."""
    try:
        rv = main_group.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("harness: aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:  # usage errors: unknown option, bad value
        click.echo(f"harness: {e.format_message()}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except BadInput as e:
        click.echo(f"harness: {e}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:  # outside a run's phases (a run itself ends with its own exit code, see `run`)
        click.echo("harness: interrupted by SIGINT (exit 130)", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - a crash: one line, the traceback in a file
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="harness-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            fh.write(traceback.format_exc())
        click.echo(f"harness crashed: {type(e).__name__}: {e} (traceback in {path})", err=True)
        sys.exit(EXIT_CRASH)
    sys.exit(rv if isinstance(rv, int) else 0)
