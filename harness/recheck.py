"""Checking a saved history the way its run did, for `harness check`.

Owns `CheckPlan` (the checker to apply to one file, the Test it gets, and a sentence saying what was chosen and
why), `run_plan` (a history.jsonl that sits in a run directory: the run's own workload checker, rebuilt from
its test.json with the run's system and workload options, and the run's fault packages) and `looks_keyed`
(every client op's value is a (key, value) tuple, as the harness's keyed workloads record, so a linearizability
check must take each key on its own). Does not own checkers, the CLI or how a run caps its verdict beyond what
the history itself shows (`harness.runner.cap_verdict`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.checker import Checker, Verdict
from harness.errors import BadInput
from harness.op import History
from harness.options import expectation_opts, options_from_test_json, parse_opts
from harness.plugins import Registry
from harness.test import Test, bare_test


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
    return CheckPlan(checker=checker, test=test, description=description, min_fault_ops=options.min_fault_ops)


def _set_opts(specs: Any, raw: Mapping[str, str]) -> list[tuple[str, object]]:
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
