"""Checking a saved history the way its run did, for `harness check`.

Owns `CheckPlan` (the checker to apply to one file, the Test it gets, and a sentence saying what was chosen and
why), the plans `harness check` applies (`named_plan`: the checker a user named; `default_plan`: the one a file
calls for; `read_jobs`), `run_plan` (a history.jsonl that sits in a run directory: the run's own workload
checker, rebuilt from its test.json with the run's system and workload options, and the run's fault packages)
and `looks_keyed` (every client op's value is a (key, value) tuple, as the harness's keyed workloads record, so
a linearizability check must take each key on its own). Does not own checkers, the CLI or how a run caps its
verdict beyond what the history itself shows (`harness.limits.cap_verdict`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checker import Checker, Verdict
from harness.errors import BadInput
from harness.op import History
from harness.options import expectation_opts, options_from_test_json, parse_opts
from harness.plugins import Registry
from harness.validate import Repair, Validated

if TYPE_CHECKING:  # a run's Test is built only for a run's history (run_plan): `harness check FILE` skips it
    from harness.options import OptionSpec
    from harness.test import Test


@dataclass(frozen=True, kw_only=True)
class CheckPlan:
    """What `harness check` applies to one file: `test` is None for a file without a run."""

    checker: Checker
    test: Test | None
    description: str
    min_fault_ops: int | None = None  # the run's --min-fault-ops, when its fault windows are judged too


def run_plan(history_path: str, registry: Registry) -> CheckPlan | None:
    """The run's own checker for a history.jsonl beside a test.json, or None when the file is not in a run."""
    run_dir = Path(history_path).resolve().parent
    test_json = run_dir / "test.json"
    if Path(history_path).name != "history.jsonl" or not test_json.is_file():
        return None
    from harness.report.rundir import parse_test_info
    from harness.store import read_json

    try:
        info = read_json(str(test_json))
    except (OSError, ValueError) as e:
        raise BadInput(f"{test_json}: cannot read the run's test.json ({e})") from None
    options = options_from_test_json(info, results_dir=str(run_dir.parent.parent), argv=(), replay_of=str(run_dir))
    from harness.build import system_of
    from harness.test import bare_test

    system = system_of(options, registry)
    workload = registry.get("workloads", options.workload)
    system_opts = parse_opts(f"system {system.name}", system.option_specs, options.system_opts)
    workload_opts = parse_opts(f"workload {workload.name}", workload.option_specs, options.workload_opts)
    packages = parse_test_info(info, test_json).packages
    test = bare_test(name=str(info.get("name", options.test_name)), options=options, system=system,
                     workload=workload, system_opts=system_opts, workload_opts=workload_opts, packages=packages,
                     registry=registry)
    checker = workload.checker(test)
    asked = expectation_opts(system.option_specs, system_opts) + _set_opts(workload.option_specs, options.workload_opts)
    said = ", ".join(f"{k}={v}" for k, v in asked)
    description = (f"checked as its run did ({test_json}): system {options.system}, workload {options.workload}"
                   + (f" ({said})" if said else "") + f", checker {_checker_names(checker)}")
    if (run_dir / "minimize.json").is_file():  # RUN/minimal/ (harness.minimize): a few ops kept from the run
        return CheckPlan(checker=checker, test=test, description=description + "; a minimal history: its fault "
                         "windows are not judged")
    return CheckPlan(checker=checker, test=test, description=description, min_fault_ops=options.min_fault_ops)


def _set_opts(specs: Sequence[OptionSpec], raw: Mapping[str, str]) -> list[tuple[str, object]]:
    names = {s.name for s in specs}
    return [(k, v) for k, v in raw.items() if k in names]


def _checker_names(checker: object) -> str:
    parts = getattr(checker, "checkers", None)
    if parts:
        return " + ".join(_checker_names(c) for c in parts)
    return str(getattr(checker, "name", type(checker).__name__))


def looks_keyed(history: History) -> bool:
    """Every client op carries a (key, value) tuple (Jepsen's independent keys, as the harness records them)."""
    values = [op.value for op in history if op.is_client]
    return bool(values) and all(isinstance(v, tuple) and len(v) == 2 for v in values)


def all_verdicts(verdict: Verdict) -> Iterator[Verdict]:
    """A verdict and every verdict composed into it, depth first."""
    yield verdict
    for c in verdict.children:
        yield from all_verdicts(c)


def model_note(verdict_details: Mapping[str, Any]) -> str:
    """The consistency model a transactional verdict used and why, if its details name one."""
    models = verdict_details.get("consistency-models")
    if not models:
        return ""
    why = verdict_details.get("consistency-reason") or ""
    return f"consistency model {', '.join(map(str, models))}" + (f" ({why})" if why else "")


@dataclass(frozen=True)
class FileSource:
    """A history file not read yet: the worker that checks it reads it, so that several files are read in
    parallel too (for Knossos' EDN, reading is as long as checking)."""

    path: str
    fmt: str | None
    repair: bool


@dataclass(frozen=True)
class CheckJob:
    """One file of `harness check`: its plan, its history as read (or the file to read it from) and the folder
    its checker writes into."""

    plan: CheckPlan
    source: Validated | FileSource
    out_dir: str

    def weight(self) -> int:
        """How long it will take, roughly: the file's bytes, or the history's ops (one call has one kind)."""
        if isinstance(self.source, FileSource):
            try:
                return os.path.getsize(self.source.path)
            except OSError:
                return 0
        return len(self.source.history)


@dataclass(frozen=True)
class Checked:
    """A job's outcome: its verdict with the file's repairs and warnings, or what reading or checking raised
    (the CLI raises a read error before any verdict, as when every file was read first, and a check error in
    its turn)."""

    verdict: Verdict | None = None
    repairs: tuple[Repair, ...] = ()
    warnings: tuple[str, ...] = ()
    read_error: Exception | None = None
    check_error: Exception | None = None


def check_job(plan: CheckPlan, history: History, out_dir: str) -> Verdict:
    """The plan's verdict; for a run's history also capped as the run capped it (faults not injected, fault
    windows untested, faults without evidence that they took effect), so that re-checking reaches the run's
    verdict; not for its minimal history (`min_fault_ops` None), a few ops that cover no fault window."""
    from harness.checker import safe_check

    os.makedirs(out_dir, exist_ok=True)
    verdict = safe_check(plan.checker, plan.test, history, out_dir, raise_bad_input=True)
    test = plan.test
    if test is None or plan.min_fault_ops is None:
        return verdict
    from harness.coverage import coverage  # a run's history only: a bare file needs none of the run's machinery
    from harness.evidence import fault_records
    from harness.limits import cap_verdict

    failed = [op for op in history.nemesis_ops().completions() if op.error is not None]
    return cap_verdict(verdict, failed, [], coverage(history, test.packages, plan.min_fault_ops),
                       tuple(fault_records(history, test.packages)))


def _checked(job: CheckJob) -> Checked:
    """Read the job's file if it has not been, then check it."""
    validated = job.source
    if isinstance(validated, FileSource):
        from harness.formats import read_history

        src = validated
        try:
            validated = read_history(src.path, src.fmt, repair=src.repair)
        except Exception as e:  # noqa: BLE001 - raised by the CLI before any verdict, as a sequential read would
            return Checked(read_error=e)
    repairs, warnings = validated.repairs, validated.warnings
    try:
        return Checked(check_job(job.plan, validated.history, job.out_dir), repairs, warnings)
    except Exception as e:  # noqa: BLE001 - re-raised in the job's turn, as a sequential check would
        return Checked(repairs=repairs, warnings=warnings, check_error=e)


_REDO = "redo"  # what a worker sends for a job whose outcome does not pickle: the parent checks it again


def _outcomes(jobs: Sequence[CheckJob], indices: Sequence[int]) -> dict[int, Checked]:
    return {i: _checked(jobs[i]) for i in indices}


def _portable(outcomes: dict[int, Checked]) -> bytes:
    import pickle

    safe: dict[int, Checked | str] = {}
    for i, o in outcomes.items():
        try:
            pickle.loads(pickle.dumps(o))
            safe[i] = o
        except Exception:  # noqa: BLE001 - anything that does not travel is checked again by the parent
            safe[i] = _REDO
    return pickle.dumps(safe)


_ENTRY = 8  # bytes of one entry of the job queue: (first position in the order, how many), 4 bytes each
_MAX_ENTRIES = 8000  # 64,000 bytes: the queue is written whole before the fork, within a pipe's 64 KiB


def _job_queue(jobs: Sequence[CheckJob]) -> tuple[int, list[int]]:
    """A pipe holding the jobs heaviest first, in runs of positions of `order` (one job per entry unless there are
    more than _MAX_ENTRIES jobs), its write end closed: every process reads entries until it is empty, so a
    process done early takes the next job instead of idling while another works through a fixed share.
    A read of one entry is atomic (a pipe is read under its lock), so no job is taken twice."""
    weights = [j.weight() for j in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -weights[i])
    per = -(-len(order) // _MAX_ENTRIES)
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as fh:
        fh.write(b"".join(start.to_bytes(4, "little") + min(per, len(order) - start).to_bytes(4, "little")
                          for start in range(0, len(order), per)))
    return read_fd, order


def _take_jobs(jobs: Sequence[CheckJob], queue_fd: int, order: Sequence[int]) -> dict[int, Checked]:
    """Check the queue's jobs until it is empty."""
    out: dict[int, Checked] = {}
    while len(entry := os.read(queue_fd, _ENTRY)) == _ENTRY:
        start, count = int.from_bytes(entry[:4], "little"), int.from_bytes(entry[4:], "little")
        out.update(_outcomes(jobs, order[start:start + count]))
    return out


def _fork_worker(jobs: Sequence[CheckJob], queue_fd: int, order: Sequence[int]) -> tuple[int, int]:
    """A forked worker that takes jobs from the queue and sends every outcome back in one message when done."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the CLI
        try:
            os.close(read_fd)
            data = _portable(_take_jobs(jobs, queue_fd, order))
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(data)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def _collect(pid: int, read_fd: int) -> dict[int, Checked]:
    """A worker's outcomes (none if it died; an outcome that does not pickle is left out)."""
    import pickle

    with os.fdopen(read_fd, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    try:
        got: dict[int, Checked | str] = pickle.loads(data)
    except Exception:  # noqa: BLE001 - no message (the worker died): the parent checks its jobs itself
        got = {}
    return {i: o for i, o in got.items() if not isinstance(o, str)}


def check_jobs(jobs: Sequence[CheckJob], workers: int) -> list[Checked]:
    """The jobs' outcomes in their order. Several files are independent histories: with `workers` > 1 they
    are checked by that many processes (this one and forked ones, each taking the next heaviest job when it is
    free; each file's verdict is the same as alone, only a time budget sees the shared CPUs). What did not come
    back from a worker (killed, an outcome that does not pickle) is checked here.

    A hand-made fork rather than a process pool: a pool passes each file and verdict through a queue and its
    helper threads, and on a busy machine every such hand-off waits for the scheduler; here a worker reads
    8-byte job entries from one pipe and sends one message when it is done. Fork is safe here: the CLI runs no
    other thread."""
    workers = min(workers, len(jobs))
    if workers < 2:
        return [_checked(j) for j in jobs]
    queue_fd, order = _job_queue(jobs)
    try:
        children = [_fork_worker(jobs, queue_fd, order) for _ in range(workers - 1)]
        outcomes = _take_jobs(jobs, queue_fd, order)
    finally:
        os.close(queue_fd)
    for pid, fd in children:
        outcomes.update(_collect(pid, fd))
    outcomes.update(_outcomes(jobs, [i for i in range(len(jobs)) if i not in outcomes]))
    return [outcomes[i] for i in range(len(jobs))]


# --- what `harness check` applies to each file ----------------------------------------------------------


def named_plan(registry: Registry, checker_name: str | None, raw: dict[str, str], note: str = "") -> CheckPlan:
    """The checker the user named (linearizable if only options were given), its options validated."""
    name = checker_name or "linearizable"
    plugin = registry.get("checkers", name)
    known = {s.name for s in plugin.option_specs}
    opts = {(k.replace("-", "_") if k not in known and k.replace("-", "_") in known else k): v for k, v in raw.items()}
    checker = plugin.make(parse_opts(f"checker {name}", plugin.option_specs, opts))
    return CheckPlan(checker=checker, test=None, description=note)


def default_plan(registry: Registry, path: str, history: History) -> CheckPlan:
    """Nothing named: a run's history.jsonl is checked as its run did; any other file with the linearizable
    checker, each key on its own when every op's value is a (key, value) tuple."""
    plan = run_plan(path, registry)
    if plan is not None:
        return plan
    if looks_keyed(history):
        return named_plan(registry, None, {"independent": "true"},
                          "every op's value is a (key, value) tuple: each key is checked on its own (independent=true)")
    return named_plan(registry, None, {})


def read_jobs(registry: Registry, named: CheckPlan | None, files: tuple[str, ...], fmt: str | None,
               repair: bool, out_dirs: list[str]) -> list[CheckJob]:
    """Every file read here (all before any is checked), then each one's plan: the named one, or the one its
    history calls for."""
    from harness.formats import read_history

    read = [read_history(path, fmt, repair=repair) for path in files]
    return [CheckJob(named or default_plan(registry, path, v.history), v, d)
            for path, v, d in zip(files, read, out_dirs)]
