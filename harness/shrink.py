"""Shrinking a failing run by replaying it: `harness shrink RUN`.

Owns `ShrinkOptions` (time budget, replays per candidate, failures a candidate needs), `Window` (one fault of the
run: the nemesis op that started it and the one that healed it, as entries of a scripted schedule),
`windows_of` (a run's faults from its history), `Candidate` (which faults, how long a run), `shrink` (delta
debugging over the faults, then over the time limit; each candidate is replayed on fresh clusters with the run's
seed and options and the `schedule=FILE` nemesis option holding exactly its faults, and kept only when at least
`failures` of `replays` replays fail with the run's failure class and kind) and `ShrinkResult`. Writes RUN/shrink/:
`attempts.jsonl` (every candidate, its replays and their verdicts, as they finish), `schedule.json` (the smallest
failing schedule), `shrink.json` (the summary and the one command that reproduces it). Does not own running (each
replay is a `harness run` subprocess: its own process group of faults, heals and teardown, so an interrupted
shrink leaves nothing behind) nor minimizing a history (`harness.minimize`).

The system under test is not deterministic: the seed fixes the generator and the schedule, not the system's
answers. So a candidate that passes may still hide the bug (hence several replays), and a shrink whose first
candidate, the run's own schedule, never fails again says so and shrinks nothing.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checker import Verdict
from harness.errors import BadInput
from harness.minimize import Signature, ddmin, target_of
from harness.op import History
from harness.options import RunOptions
from harness.pacing import op_timeout
from harness.values import encode_value

MARGIN_S = 2.0  # a shortened run still lasts this long past the heal of its last fault
MIN_TIME_S = 0.5  # the shortest run a shrink tries


@dataclass(frozen=True, kw_only=True)
class ShrinkOptions:
    budget_s: float = 900.0
    replays: int = 2  # replays of one candidate at most
    failures: int = 1  # replays that must fail (the same way) for a candidate to be kept


@dataclass(frozen=True, kw_only=True)
class Window:
    """One fault: its label, when it started and was healed (s since the run began), and the schedule entries."""

    label: str
    start_s: float
    end_s: float
    entries: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Candidate:
    windows: tuple[int, ...]
    time_limit: float

    def describe(self, all_windows: Sequence[Window]) -> str:
        faults = ", ".join(f"{all_windows[w].label} {all_windows[w].start_s:.1f}-{all_windows[w].end_s:.1f}s"
                           for w in self.windows) or "no faults"
        return f"{len(self.windows)} faults ({faults}), {self.time_limit:g} s"


@dataclass(frozen=True, kw_only=True)
class Attempt:
    number: int
    candidate: Candidate
    runs: tuple[str, ...]
    exit_codes: tuple[int, ...]
    failed_same: int
    kept: bool
    seconds: float


@dataclass(kw_only=True)
class ShrinkResult:
    run: Path
    signature: Signature
    windows: tuple[Window, ...]
    original: Candidate
    best: Candidate | None = None
    attempts: list[Attempt] = field(default_factory=list)
    budget_ran_out: bool = False
    interrupted: bool = False

    @property
    def reproduced(self) -> bool:
        return self.best is not None


def windows_of(history: History, packages: Sequence[Any]) -> list[Window]:
    """The run's faults, in start order, each as the schedule entries (the invocations, as asked) that started
    and healed it; a fault never healed gets only its start."""
    from harness.coverage import fault_intervals

    by_index = {op.index: op for op in history}
    out = []
    for iv in fault_intervals(history, packages):
        steps = [by_index[iv.start_index]]
        if iv.end_index is not None:
            stop = by_index[iv.end_index]
            asked = history.invocation(stop) if stop.type != "invoke" else stop
            steps.append(asked or stop)
        entries = tuple({"at": round(op.time_ns / 1e9, 3), "f": op.f, "value": encode_value(op.value)}
                        for op in steps)
        out.append(Window(label=iv.label, start_s=iv.start_s, end_s=iv.end_s, entries=entries))
    return out


Replay = Callable[[Candidate, int], tuple[str, int]]  # (candidate, replay number) -> (run directory, exit code)


def shrink(run: Path, signature: Signature, windows: Sequence[Window], time_limit: float, replay: Replay,
           opts: ShrinkOptions, *, on_attempt: Callable[[Attempt], None] = lambda a: None) -> ShrinkResult:
    """Delta debugging over the faults, then over the time limit (see the module doc). `replay` runs one replay
    of a candidate; a replay fails the same way when its exit code is 1 and its verdict shows the signature's
    checker, class and kind. Stops at the budget, or at Ctrl-C, with the smallest failing candidate so far."""
    res = ShrinkResult(run=run, signature=signature, windows=tuple(windows),
                       original=Candidate(tuple(range(len(windows))), time_limit))
    deadline = time.monotonic() + opts.budget_s
    cache: dict[Candidate, bool] = {}

    def fails(c: Candidate) -> bool:
        if c in cache:
            return cache[c]
        if time.monotonic() > deadline or res.interrupted:
            res.budget_ran_out = not res.interrupted
            return False
        try:
            a = _attempt(len(res.attempts) + 1, c, replay, opts, signature)
        except KeyboardInterrupt:
            res.interrupted = True
            return False
        res.attempts.append(a)
        on_attempt(a)
        cache[c] = a.kept
        if a.kept and (res.best is None or _smaller(c, res.best)):
            res.best = c
        return a.kept

    if not fails(res.original):
        return res
    if res.original.windows and not fails(Candidate((), time_limit)):  # the faults may not be needed at all
        ddmin(list(res.original.windows), lambda ws: fails(Candidate(tuple(sorted(w for w in ws if isinstance(w, int))), time_limit)))
    best = res.best or res.original
    for limit in _shorter_limits(best, windows):
        if not fails(Candidate(best.windows, limit)):
            break  # shorter still would mostly pass too: the budget is better kept
    return res


def _smaller(a: Candidate, b: Candidate) -> bool:
    return (len(a.windows), a.time_limit) < (len(b.windows), b.time_limit)


def _shorter_limits(c: Candidate, windows: Sequence[Window]) -> list[float]:
    """Time limits to try, longest first: halving, never below the heal of the last kept fault plus a margin."""
    floor = max((windows[w].end_s + MARGIN_S for w in c.windows), default=MIN_TIME_S)
    out, t = [], c.time_limit
    while t / 2 >= floor:
        t = round(t / 2, 1)
        out.append(t)
    if floor < c.time_limit and (not out or out[-1] > floor):
        out.append(round(floor, 1))
    return out


def _attempt(number: int, c: Candidate, replay: Replay, opts: ShrinkOptions, sig: Signature) -> Attempt:
    started = time.monotonic()
    runs: list[str] = []
    codes: list[int] = []
    same = 0
    for i in range(opts.replays):
        if same >= opts.failures or same + (opts.replays - i) < opts.failures:
            break
        run_dir, code = replay(c, i)
        runs.append(run_dir)
        codes.append(code)
        same += int(code == 1 and fails_same_way(run_dir, sig))
    return Attempt(number=number, candidate=c, runs=tuple(runs), exit_codes=tuple(codes), failed_same=same,
                   kept=same >= opts.failures, seconds=time.monotonic() - started)


def fails_same_way(run_dir: str, sig: Signature) -> bool:
    """The replay's verdict is invalid with a finding of the signature's checker, class and kind."""
    try:
        with open(os.path.join(run_dir, "results.json"), encoding="utf-8") as fh:
            verdict = Verdict.from_json(json.load(fh)["verdict"])
    except (OSError, ValueError, KeyError):
        return False
    from harness.minimize import shows

    return shows(verdict, Signature(sig.checker, sig.failure_class, sig.kind))


# --- the command ------------------------------------------------------------------------------------------

def run_signature(run: Path) -> Signature:
    """The failure a shrink keeps: the first real finding of the run's own verdict (results.json)."""
    try:
        with open(run / "results.json", encoding="utf-8") as fh:
            verdict = Verdict.from_json(json.load(fh)["verdict"])
    except (OSError, ValueError, KeyError) as e:
        raise BadInput(f"{run}: no readable results.json ({e}): only a finished, failing run can be shrunk") from None
    sig = target_of(verdict)
    if sig is None:
        raise BadInput(f"{run}: the run is not invalid: there is no failure to shrink")
    return sig


def run_args(options: RunOptions, c: Candidate, schedule: str | None, results: str) -> list[str]:
    """`harness run` arguments for one replay of a candidate: the run's options, its seed, the candidate's time
    limit, and exactly its faults (`--nemesis none` without any). The op timeout is the one the original run used
    (given, or derived from its own time limit's fault interval), not one derived again from a shorter limit."""
    o = options
    args = ["run", "--system", o.system, "--workload", o.workload, "--cluster", o.cluster,
            "--nodes", ",".join(o.node_names), "--concurrency", str(o.concurrency), "--rate", str(o.rate),
            "--time-limit", f"{c.time_limit:g}", "--seed", str(o.seed), "--op-timeout", f"{op_timeout(o).seconds:g}",
            "--min-fault-ops", str(o.min_fault_ops), "--results", results]
    if o.nodes_file:
        args += ["--nodes-file", o.nodes_file]
    for flag, kv in (("--system-opt", o.system_opts), ("--workload-opt", o.workload_opts),
                     ("--cluster-opt", o.cluster_opts)):
        args += [a for k, v in kv.items() for a in (flag, f"{k}={v}")]
    if schedule is None:
        return [*args, "--nemesis", "none"]
    args += ["--nemesis", ",".join(o.nemeses)]
    args += [a for k, v in o.nemesis_opts.items() if k != "schedule" for a in ("--nemesis-opt", f"{k}={v}")]
    return [*args, "--nemesis-opt", f"schedule={schedule}"]


def write_schedule(path: Path, c: Candidate, windows: Sequence[Window]) -> str | None:
    """The candidate's faults as a scenario file (None when it has none)."""
    entries = sorted((e for w in c.windows for e in windows[w].entries if e["at"] < c.time_limit),
                     key=lambda e: e["at"])
    if not entries:
        return None
    path.write_text(json.dumps(entries, indent=2) + "\n", encoding="utf-8")
    return str(path)


def subprocess_replay(run: Path, options: RunOptions, windows: Sequence[Window]) -> Replay:
    """A Replay that runs `harness run` in a subprocess, its runs under RUN/shrink/runs/."""
    folder = run / "shrink"

    def replay(c: Candidate, i: int) -> tuple[str, int]:
        key = "-".join(map(str, c.windows)) or "none"
        schedule = write_schedule(folder / f"schedule-{key}-{c.time_limit:g}s.json", c, windows)
        proc = subprocess.Popen([sys.executable, "-m", "harness", *run_args(options, c, schedule, str(folder / "runs"))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate()
        except KeyboardInterrupt:
            # Never kill a replay: it heals its faults and tears its cluster down on SIGINT, as any run does.
            # (A second Ctrl-C while it does so leaves what `harness cleanup` removes.)
            proc.send_signal(signal.SIGINT)
            proc.communicate()
            raise
        lines = out.strip().splitlines()
        if proc.returncode == 254:
            raise BadInput(f"a replay was refused: {err.strip().splitlines()[-1] if err.strip() else ''}")
        return (lines[-1].split("\t")[0] if lines and "\t" in lines[-1] else ""), proc.returncode

    return replay


def command_of(options: RunOptions, c: Candidate, schedule: str | None) -> str:
    return "harness " + shlex.join(run_args(options, c, schedule, options.results_dir))


def summary_json(res: ShrinkResult, options: RunOptions, schedule: str | None) -> dict[str, object]:
    best = res.best
    return {
        "run": str(res.run),
        "failure_class": res.signature.failure_class.value,
        "kind": res.signature.kind,
        "checker": res.signature.checker,
        "reproduced": res.reproduced,
        "original": {"faults": len(res.original.windows), "time_limit": res.original.time_limit},
        "minimal": None if best is None else {"faults": len(best.windows), "time_limit": best.time_limit,
                                              "windows": [res.windows[w].label for w in best.windows]},
        "attempts": len(res.attempts),
        "replays": sum(len(a.runs) for a in res.attempts),
        "seconds": round(sum(a.seconds for a in res.attempts), 1),
        "budget_ran_out": res.budget_ran_out,
        "interrupted": res.interrupted,
        "command": None if best is None else command_of(options, best, schedule),
        "failing_run": failing_run(res),
    }


def failing_run(res: ShrinkResult) -> str | None:
    """A replay of the smallest failing candidate that failed the same way (its own minimal history and bundle
    are in its run directory, as for every invalid run)."""
    for a in res.attempts:
        if a.kept and a.candidate == res.best:
            bad = [r for r, code in zip(a.runs, a.exit_codes) if code == 1]
            return bad[-1] if bad else None
    return None


def attempt_json(a: Attempt, windows: Sequence[Window]) -> dict[str, object]:
    return {"attempt": a.number, "candidate": a.candidate.describe(windows), "faults": list(a.candidate.windows),
            "time_limit": a.candidate.time_limit, "runs": list(a.runs), "exit_codes": list(a.exit_codes),
            "failed_same_way": a.failed_same, "kept": a.kept, "seconds": round(a.seconds, 1)}


def shrink_run(run_dir: str, opts: ShrinkOptions, echo: Callable[[str], None]) -> tuple[ShrinkResult, str | None]:
    """`harness shrink RUN`: read the run, shrink it with subprocess replays, write RUN/shrink/ as it goes; the
    result and the command that reproduces the smallest failing candidate (None if it never failed again)."""
    from harness.formats import read_history
    from harness.options import options_from_test_json
    from harness.report.rundir import parse_test_info
    from harness.store import read_json, write_json

    run = Path(run_dir).resolve()
    if not (run / "test.json").is_file() or not (run / "history.jsonl").is_file():
        raise BadInput(f"{run}: not a run directory (no test.json and history.jsonl)")
    sig = run_signature(run)
    info = read_json(str(run / "test.json"))
    options = options_from_test_json(info, results_dir=str(run / "shrink" / "runs"), argv=(), replay_of=str(run))
    history = read_history(run / "history.jsonl").history
    windows = windows_of(history, parse_test_info(info, run / "test.json").packages)
    folder = run / "shrink"
    folder.mkdir(exist_ok=True)
    log = folder / "attempts.jsonl"
    log.write_text("", encoding="utf-8")

    def on_attempt(a: Attempt) -> None:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(attempt_json(a, windows)) + "\n")
        word = "fails" if a.kept else "passes"
        echo(f"attempt {a.number}: {a.candidate.describe(windows)}: {word} "
             f"({a.failed_same} of {len(a.runs)} replays failed the same way, {a.seconds:.0f} s)")

    echo(f"shrinking {sig.describe()}: {len(windows)} faults, {options.time_limit:g} s; "
         f"each candidate replayed up to {opts.replays} times, kept when {opts.failures} fail")
    res = shrink(run, sig, windows, options.time_limit, subprocess_replay(run, options, windows), opts,
                 on_attempt=on_attempt)
    schedule = None if res.best is None else write_schedule(folder / "schedule.json", res.best, windows)
    command = None if res.best is None else command_of(options, res.best, schedule)
    write_json(str(folder / "shrink.json"), summary_json(res, options, schedule))
    from harness.report import render_run

    for problem in render_run(run):  # the run's report shows what the shrink found; never raises
        echo(f"report: {problem}")
    return res, command
