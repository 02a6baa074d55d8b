"""The runner: the only orchestrator of a run.

Owns the order of a run and its guarantees: faults are healed and nodes torn down in `finally`, also on
SIGINT/SIGTERM; a checker exception becomes "unknown"; a fault that could not be injected, a fault without
evidence that it took effect (`harness.evidence`), a fault window in which too few client ops ran
(`harness.coverage`) or a residue left after teardown makes a valid verdict "unknown". Does not own any step's
details.

Phases (numbered as in docs/architecture.md):
    1 store      run directory, test.json, harness.log
    2 cluster    provision nodes
    3 db         install + start the system on every node, in parallel, all-or-nothing
    4 clients    nemesis setup; client setup
    5 interpret  main phase (workload + faults, time limit), then heal, quiet, final reads
    6 finally    heal every fault, collect node logs, tear down (unless --leave-running), verify no residue
    7 check      checkers read the history
    8 save       results.json, junit.xml, report.html
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import platform
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import harness
from harness.checker import UNKNOWN, Verdict, safe_check, validity_name
from harness.client import HarnessBug
from harness.control import failures_text, on_nodes
from harness.coverage import Coverage, coverage
from harness.db import DB, AwaitsReady, ability, collect_logs, logs_kind, note_logs
from harness.errors import BadInput, HarnessError, ImpossibleHistory, SetupFailed
from harness.evidence import FaultRecord, fault_records
from harness.interpreter import Counters, Interpreter
from harness.limits import cap_verdict
from harness.nemesis import ChecksResidue
from harness.op import History, HistoryWriter, Op, scan_jsonl
from harness.pacing import OpTimeout, op_timeout
from harness.store import Store
from harness.test import Test
from harness.validate import Parsed, validate

log = logging.getLogger("harness")

EXIT_CODES = {True: 0, False: 1, UNKNOWN: 2}


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: stop the run, heal, tear down. The run then exits 128 + the signal's number
    (130 for SIGINT, 143 for SIGTERM), as shells expect, with verdict unknown."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


@dataclass(frozen=True, kw_only=True)
class RunResult:
    """What a run ended with. `coverage` holds the fault windows and the client ops in each; `faults` every
    fault-starting op with the evidence it measured (`harness.evidence`)."""

    store: Store
    verdict: Verdict
    exit_code: int
    errors: tuple[str, ...]
    coverage: Coverage | None = None
    interrupted: str | None = None  # "SIGINT" or "SIGTERM": exit_code is then 128 + its number
    faults: tuple[FaultRecord, ...] = ()


def _on_every_node(nodes: tuple[str, ...], fn: Callable[[str], None], what: str) -> None:
    """fn on every node at once; SetupFailed naming every node that failed, or the first BadInput (a node
    refusing what the user asked, e.g. a setting the system does not have: the user's to fix)."""
    _, failures = on_nodes(nodes, fn)
    refused = [e for e in failures.values() if isinstance(e, BadInput)]
    if refused:
        raise refused[0]
    if failures:
        raise SetupFailed(f"{what} failed on {failures_text(failures)}", failures=failures)


def _set_up(test: Test, store: Store, set_up: dict[str, bool], info: dict[str, Any]) -> None:
    """Phases 2 to 4: the cluster, the system on every node, the nemesis and the clients' setup. A harness
    error on the way is SetupFailed (there is no history to check), a BadInput stays one (the user's to fix)."""
    try:
        # 2 cluster
        log.info("phase 2: provisioning %d nodes on %s", len(test.nodes), test.options.cluster)
        set_up["cluster"] = True
        test.cluster.setup()
        # 3 db
        log.info("phase 3: starting %s on every node", test.options.system)
        set_up["db"] = True
        db = ability(test, DB)
        _on_every_node(test.nodes, lambda n: db.setup(test, n), "database setup")
        if isinstance(test.db, AwaitsReady):
            test.db.await_ready(test, timeout=120.0)
        set_up["logs"] = note_logs(test, _nodes_dir(store)) is not None  # rescued by cleanup after a kill -9
        info["nodes"] = [{"name": n.name, "host": n.host} for n in test.cluster.nodes]  # addresses known now
        try:
            info["versions"].update(test.system.versions(test))
            store.write_test(info)
        except Exception as e:  # noqa: BLE001 - versions are informative only
            log.warning("could not read versions: %s", e)
        # 4 nemesis and clients: the nemesis first, since its setup may restart the system (the power-loss
        # nemesis moves the data onto its filesystem), which must not cost what the clients' setup created
        log.info("phase 4: nemesis and client setup")
        set_up["nemesis"] = True
        test.nemesis.setup(test)
        c = test.client.open(test, test.nodes[0])
        try:
            c.setup(test)
        finally:
            c.close(test)
    except (BadInput, SetupFailed):
        raise
    except HarnessError as e:
        raise SetupFailed(str(e)) from e


class _Signals:
    """Turns SIGINT/SIGTERM into `Interrupted` in the main thread while a run is on; a second signal during
    teardown is noted but does not interrupt the healing."""

    def __init__(self) -> None:
        self.count = 0
        self.healing = False
        self._old: dict[int, signal._HANDLER] = {}  # typeshed's name for what signal.signal returns

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.healing:
            log.warning("signal %d during teardown: finishing the heal first", signum)
            return
        raise Interrupted(signum)

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _op_timeout(test: Test) -> OpTimeout:
    """The op timeout the run uses and the rule that chose it (`harness.pacing`); a test built in code with a
    timeout of its own (unit tests) says so."""
    chosen = op_timeout(test.options)
    if chosen.seconds != test.op_timeout:
        return OpTimeout(seconds=test.op_timeout, rule="given", why="set on the test")
    return chosen


def test_info(test: Test, store: Store) -> dict[str, object]:
    o = test.options
    return {
        "name": test.name,
        "run_id": store.run_id,
        "argv": list(o.argv),
        "options": o,
        "seed": test.seed,
        "versions": {"harness": harness.__version__, "python": platform.python_version()},
        "nodes": [{"name": n.name, "host": n.host} for n in test.cluster.nodes] if test.cluster else list(test.nodes),
        "started": store.started.isoformat(),
        "cluster": o.cluster,
        "replay_of": o.replay_of,
        "op_timeout": _op_timeout(test).to_json(),
        "deterministic": "the generator and nemesis schedule follow the seed; the system under test does not",
        "packages": [
            {"name": p.name, "label": p.label, "start_fs": sorted(p.start_fs), "stop_fs": sorted(p.stop_fs)}
            for p in test.packages
        ],
    }


def run(test: Test, *, counters: Counters | None = None, watchdog: float = 120.0) -> RunResult:
    """Run the test through its phases. Returns the verdict and exit code; raises only on harness bugs."""
    counters = counters or Counters()
    errors: list[str] = []

    # 1 store
    store = Store(test.options.results_dir, test.name, run_id=test.run_id or None, started=test.started)
    store.start_log(log)
    log.setLevel(logging.DEBUG)
    info = test_info(test, store)
    store.write_test(info)
    log.info("run %s, seed %d, directory %s", store.run_id, test.seed, store.path)
    log.info("op timeout %g s: %s", test.op_timeout, _op_timeout(test).why)
    writer = HistoryWriter(store.history_path)
    nemesis_errors: list[Op] = []

    def record(op: Op, completion: bool) -> None:
        writer.append(op, flush=completion)
        if completion and op.is_nemesis:
            _track_faults(test, op, counters)
            if op.error is not None:
                nemesis_errors.append(op)

    set_up: dict[str, bool] = {"cluster": False, "db": False, "nemesis": False, "logs": False}
    bug: HarnessBug | None = None
    interrupted: Interrupted | None = None
    refused: BadInput | None = None
    fatal = False  # the run failed in a way that leaves no history worth checking (setup failed, the harness crashed)
    with _Signals() as signals:
        try:
            counters.active_faults = ()
            _set_up(test, store, set_up, info)
            bug = _interpret(Interpreter(test, record=record, counters=counters, watchdog=watchdog), test, counters,
                             errors)
        except BadInput as e:  # the nodes refused what the user asked: one line and 254, after the teardown
            refused = e  # not logged here: the CLI prints it, as its one line
        except Interrupted as e:
            interrupted = e
            log.warning("interrupted by %s: healing and tearing down", e)
            errors.append(f"interrupted by {e}")
        except HarnessError as e:
            log.error("%s", e)
            errors.append(str(e))
            fatal = fatal or isinstance(e, SetupFailed)
        except Exception as e:  # noqa: BLE001 - a crash still heals and tears down below
            log.exception("run crashed")
            errors.append(f"harness crashed: {type(e).__name__}: {e}")
            fatal = True
        finally:
            # 6 finally
            signals.healing = True
            writer.close()
            errors.extend(_teardown(test, store, set_up))
            signals.healing = False
    if refused is not None:
        store.stop_log(log)
        raise refused

    # 7 check
    history = _recorded_history(store.history_path, errors)
    log.info("phase 7: checking %d ops", len(history))
    if set_up["db"] and not fatal and bug is None:
        verdict = safe_check(test.checker, test, history, store.checks_dir)
    else:
        verdict = Verdict(valid=UNKNOWN, checker="run", summary="the run did not complete: " + "; ".join(errors))
    cov = coverage(history, test.packages, test.options.min_fault_ops, test.concurrency)
    faults = tuple(fault_records(history, test.packages))
    verdict = cap_verdict(verdict, nemesis_errors, errors, cov, faults)
    exit_code = interrupted.exit_code if interrupted else EXIT_CODES[verdict.valid]
    # 8 save
    _save(test, store, verdict, exit_code, len(history), errors, cov, faults)
    failing = verdict.valid is False and not interrupted
    for problem in _minimize(store.path, test, history, verdict) if failing else ():
        log.warning("minimize: %s", problem)
    bundled = failing and not _bundle(store.path)  # the bundle renders the report, which then links it
    for problem in () if bundled else _render(store.path):
        log.warning("report: %s", problem)
    why = f", interrupted by {interrupted}" if interrupted else ""
    log.info("verdict: %s (exit %d%s)", validity_name(verdict.valid), exit_code, why)
    store.stop_log(log)
    return RunResult(store=store, verdict=verdict, exit_code=exit_code, errors=tuple(errors), coverage=cov,
                     interrupted=str(interrupted) if interrupted else None, faults=faults)


def _interpret(interp: Interpreter, test: Test, counters: Counters, errors: list[str]) -> HarnessBug | None:
    """Phase 5: the main generator, then (unless the harness hit a bug of its own) the final one; the bug, if any.
    A watchdog that fired or a bug goes into `errors`."""
    log.info("phase 5: running the workload for %.0f s", test.time_limit)
    counters.started_ns = interp.t0
    res = interp.run(test.generator)
    if res.watchdog_fired:
        errors.append("watchdog: the run stopped making progress and was ended")
    bug = res.bug
    if test.final_generator is not None and bug is None:
        log.info("phase 5b: heal, quiet, final reads")
        res2 = interp.run(test.final_generator, t0=interp.t0)
        if res2.watchdog_fired:
            errors.append("watchdog fired in the final phase")
        bug = res2.bug
    if bug is not None:  # our own programming error: the history says nothing about the system
        log.error("%s\n%s", bug.describe(), bug.traceback)
        errors.append(f"{bug.describe()}; the run was stopped (traceback in harness.log)")
    return bug


def _save(test: Test, store: Store, verdict: Verdict, exit_code: int, n_ops: int, errors: list[str], cov: Coverage,
          faults: tuple[FaultRecord, ...]) -> None:
    """Phase 8: results.json."""
    ended = dt.datetime.now(dt.timezone.utc)
    store.write_results(
        {
            "valid": verdict.valid,
            "exit_code": exit_code,
            "run": {
                "name": test.name,
                "run_id": store.run_id,
                "system": test.options.system,
                "workload": test.options.workload,
                "nemeses": list(test.options.nemeses),
                "cluster": test.options.cluster,
                "seed": test.seed,
                "started": store.started.isoformat(),
                "ended": ended.isoformat(),
                "duration_s": (ended - store.started).total_seconds(),
                "ops": n_ops,
            },
            "verdict": verdict.to_json(),
            "errors": errors,
            "op_timeout": _op_timeout(test).to_json(),
            "coverage": cov.to_json(),
            "evidence": [f.to_json() for f in faults],
        }
    )


def _recorded_history(path: str, errors: list[str]) -> History:
    """The run's history; one that breaks a rule of real histories (harness.validate), or holds no op at all,
    is noted in `errors` (so the verdict cannot be valid) and checked as it is."""
    read = scan_jsonl(path)
    try:
        validate(Parsed(path=path, ops=read.ops, lines=read.lines))
    except ImpossibleHistory as e:
        log.error("the recorded history: %s", e)
        errors.append(f"the recorded history is not a possible one: {e}")
    return History(read.ops)


def _teardown(test: Test, store: Store, set_up: dict[str, bool]) -> list[str]:
    """Heal, collect logs, tear down. Every step runs even if an earlier one failed; returns problems."""
    problems: list[str] = []

    def step(what: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BadInput as e:  # what the run was refused for, met again on the way down: one line, no traceback
            log.error("%s failed: %s", what, e)
            problems.append(f"{what} failed: {e}")
        except Exception as e:  # noqa: BLE001 - keep tearing down
            log.exception("%s failed", what)
            problems.append(f"{what} failed: {e}")

    if set_up["nemesis"]:
        log.info("phase 6: healing every fault")
        step("heal", lambda: test.nemesis.teardown(test))
        if isinstance(test.nemesis, ChecksResidue):
            try:
                left = test.nemesis.residue(test)
            except Exception as e:  # noqa: BLE001 - not being able to look is itself a problem to report
                left = [f"could not verify the heal: {e}"]
            for r in left:
                log.error("fault residue after heal: %s", r)
                problems.append(f"fault residue after heal: {r}")
    if set_up["db"]:
        step("collecting node logs", lambda: _collect_logs(test, store))
    if set_up["logs"] and test.ledger is not None:
        test.ledger.release(logs_kind(test.cluster.provider), _nodes_dir(store))
    if test.options.leave_running:
        if set_up["cluster"]:
            print(f"cluster left running (--leave-running); remove it with `harness cleanup`.\n{test.cluster.access()}")
        return problems
    if set_up["db"]:
        step("database teardown", lambda: _on_every_node(test.nodes, lambda n: ability(test, DB).teardown(test, n), "teardown"))
    if set_up["cluster"]:
        step("cluster teardown", test.cluster.teardown)
    residue = test.ledger.outstanding() if test.ledger is not None else []
    if residue:
        msg = "residue after teardown: " + ", ".join(f"{e.kind} {e.key}" for e in residue)
        log.error("%s; run `harness cleanup`", msg)
        problems.append(msg)
    if test.ledger is not None:
        test.ledger.close()
    return problems


def _collect_logs(test: Test, store: Store) -> None:
    """Node logs into `<run dir>/nodes/`; a log that could not be fetched is noted (harness.log, MISSING.txt),
    never a failed run."""
    for problem in collect_logs(test.cluster, test.db, test, _nodes_dir(store)).problems:
        log.debug("node log not collected: %s", problem)  # noted in MISSING.txt beside the logs


def _nodes_dir(store: Store) -> str:
    return os.path.join(store.path, "nodes")


def _minimize(run_dir: str, test: Test, history: History, verdict: Verdict) -> list[str]:
    """An invalid run's smallest failing history into RUN/minimal/ (harness.bundle), before the report, which
    shows it. Never changes a verdict: a failure here is a warning."""
    try:
        from harness.bundle import minimize_run

        log.info("minimizing the failing history (%d ops)", len(history))
        minimize_run(run_dir, test.checker, test, history, verdict)
        return []
    except Exception as e:  # noqa: BLE001 - minimizing never changes a verdict
        return [f"minimizing the failing history failed: {type(e).__name__}: {e}"]


def _bundle(run_dir: str) -> list[str]:
    """An invalid run's reproduction bundle (RUN/bundle/, RUN/bundle.tar.gz) with its report.html, which the
    bundle renders; the problems met (then the caller renders the report itself)."""
    try:
        from harness.bundle import make_bundle

        for problem in make_bundle(run_dir).report_problems:
            log.warning("report: %s", problem)
        return []
    except Exception as e:  # noqa: BLE001 - bundling never changes a verdict
        log.warning("bundle: writing the reproduction bundle failed: %s: %s", type(e).__name__, e)
        return [f"writing the reproduction bundle failed: {type(e).__name__}: {e}"]


def _render(run_dir: str) -> list[str]:
    try:
        from harness.report import render_run
    except ImportError:
        return []
    try:
        return list(render_run(run_dir))
    except Exception as e:  # noqa: BLE001 - rendering never changes a verdict
        return [f"report rendering failed: {e}"]


def _track_faults(test: Test, op: Op, counters: Counters) -> None:
    active = list(counters.active_faults)
    for p in test.packages:
        if op.f in p.start_fs and p.label not in active:
            active.append(p.label)
        elif op.f in p.stop_fs and p.label in active:
            active.remove(p.label)
    counters.active_faults = tuple(active)
