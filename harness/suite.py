"""Suites: a declared matrix of runs, run one after another (or N at a time), with one summary and a CI gate.

Owns the suite file (YAML or JSON, validated against `suite.schema.json` shipped with the package, with the
file and line named in every error), expanding the matrix, running each run as `harness run` in a subprocess
(so every run has its own cluster, log and signal handling), and the suite directory:
`results/suites/<name>/<timestamp>/` with `summary.json`, `junit.xml` (a testcase per run and checker) and
`summary.html` (the comparison page of harness.report); each run's entry carries its fault-window coverage and
how many of its faults were not shown to take effect (`harness.evidence`). Does not own runs, checks or reports,
nor the `harness suite` command line (harness.suite_commands) or shards (harness.shards).

Exit code: the worst verdict (1 invalid, 2 unknown); with `--fail-on invalid`, unknown runs do not fail the
gate. A bad suite file exits 254 with one line: `FILE:LINE: problem`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

import jsonschema
import yaml

from harness.checker import Validity
from harness.errors import BadInput
from harness.options import parse_nemeses, parse_opts
from harness.plugins import Registry
from harness.store import read_json, write_json

if TYPE_CHECKING:
    from harness.report.compare import SuiteGate

MATRIX_KEYS = ("system", "version", "workload", "nemesis", "cluster", "seed", "time-limit")
RUN_DEFAULTS: dict[str, object] = {"cluster": "local", "nemesis": "", "time-limit": 30}  # workload: the system's default


def schema() -> dict[str, object]:
    return json.loads(resources.files("harness").joinpath("suite.schema.json").read_text())


# --- loading with line numbers ---------------------------------------------------------------------------

Path_ = tuple[object, ...]


def _to_data(node: yaml.Node, path: Path_, lines: dict[Path_, int], file: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)  # a mapping value keeps its key's line
    if isinstance(node, yaml.MappingNode):
        out: dict[object, object] = {}
        for k, v in node.value:
            key = yaml.safe_load(yaml.serialize(k)) if not isinstance(k, yaml.ScalarNode) else k.value
            if key in out:
                raise BadInput(f"{file}:{k.start_mark.line + 1}: duplicate key {key!r}")
            lines[(*path, key)] = k.start_mark.line + 1
            out[key] = _to_data(v, (*path, key), lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_data(v, (*path, i), lines, file) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _line(lines: dict[Path_, int], path: Path_) -> int:
    p = tuple(path)
    while p and p not in lines:
        p = p[:-1]
    return lines.get(p, 1)


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """One run of the suite: its id and its `harness run` options."""

    id: str
    options: Mapping[str, Any]

    def argv(self, results_dir: str) -> list[str]:
        o = self.options
        system = ["--system-file", str(o["system-file"])] if o.get("system-file") else ["--system", str(o["system"])]
        args = ["run", *system, "--workload", str(o["workload"]),
                "--cluster", str(o["cluster"]), "--time-limit", str(o["time-limit"]), "--results", results_dir]
        args += ["--nemesis", ",".join(_nemeses(o.get("nemesis"))) or "none"]
        for key in ("seed", "concurrency", "rate", "op-timeout", "nemesis-interval", "min-fault-ops"):
            if key in o:
                args += [f"--{key}", str(o[key])]
        if "nodes" in o:
            n = o["nodes"]
            args += ["--nodes", ",".join(n) if isinstance(n, list) else str(n)]
        if o.get("version"):
            args += ["--system-opt", f"version={o['version']}"]
        for kind in ("system", "workload", "nemesis", "cluster"):
            for k, v in (o.get(f"{kind}-opts") or {}).items():
                args += [f"--{kind}-opt", f"{k}={str(v).lower() if isinstance(v, bool) else v}"]
        return args


@dataclass(frozen=True, kw_only=True)
class Suite:
    name: str
    path: str
    parallel: int
    runs: tuple[RunSpec, ...] = field(default_factory=tuple)


def _nemeses(v: object) -> list[str]:
    if isinstance(v, list):
        return [x for x in v if x]
    return list(parse_nemeses(str(v or "")))


def load_suite(path: str, registry: Registry | None = None) -> Suite:
    """Parse and validate a suite file; BadInput names file, line and problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror}") from None
    lines: dict[Path_, int] = {}
    try:
        node = yaml.compose(text)
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark else 1
        raise BadInput(f"{path}:{line}: not valid YAML: {e.problem}") from None
    if node is None:
        raise BadInput(f"{path}:1: the suite file is empty")
    data = _to_data(node, (), lines, path)
    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        first = errors[0]
        line_no = _line(lines, tuple(first.absolute_path))
        loc = "/".join(map(str, first.absolute_path))
        msg = f"{loc}: {first.message}" if loc else first.message
        if first.validator == "additionalProperties":
            extra = [k for k in (first.instance or {}) if k not in (first.schema.get("properties") or {})]
            if extra:
                line_no = _line(lines, (*first.absolute_path, extra[0]))
                msg = f"unknown key {extra[0]!r}" + (f" in {loc}" if loc else "")
        raise BadInput(f"{path}:{line_no}: {msg}")
    registry = registry or Registry()
    defaults = {**RUN_DEFAULTS, **data.get("defaults", {})}
    matrix = data["matrix"]
    combos: list[tuple[dict[str, object], Path_]] = []
    keys = [k for k in MATRIX_KEYS if k in matrix]
    for values in itertools.product(*(matrix[k] for k in keys)):
        combos.append(({**defaults, **dict(zip(keys, values))}, ("matrix",)))
    for i, extra in enumerate(data.get("runs", [])):
        combos.append(({**defaults, **extra}, ("runs", i)))
    specs: list[RunSpec] = []
    seen: set[str] = set()
    for opts, where in combos:
        if opts.get("system-file"):
            _with_system_file(opts, path, lines, where)
        if "system" not in opts:
            raise BadInput(f"{path}:{_line(lines, where)}: a run has no system (set it in matrix, defaults or runs)")
        _check_plugins(opts, path, lines, where, registry)
        nem = "+".join(_nemeses(opts.get("nemesis"))) or "none"
        rid = f"{opts['system']}-{opts['workload']}-{nem}"
        for key, short in (("version", "v"), ("seed", "s"), ("time-limit", "t")):
            if key in opts and (key in matrix or key == "seed"):
                rid += f"-{short}{opts[key]}"
        base, n = rid, 1
        while rid in seen:
            n += 1
            rid = f"{base}-{n}"
        seen.add(rid)
        specs.append(RunSpec(id=rid, options=opts))
    if not specs:
        raise BadInput(f"{path}:{_line(lines, ('matrix',))}: the suite declares no runs")
    name = data.get("name") or os.path.splitext(os.path.basename(path))[0]
    return Suite(name=name, path=path, parallel=data.get("parallel", 1), runs=tuple(specs))


def _with_system_file(opts: dict[str, object], path: str, lines: dict[Path_, int], where: Path_) -> None:
    """Resolve a run's `system-file` against the suite's folder and name its system after the file's `name`; a
    bad system file is the suite's bad input, on the line that names it."""
    from clusters.declarative import load_system

    file = os.path.join(os.path.dirname(os.path.abspath(path)), str(opts["system-file"]))
    line = _line(lines, (*where, "system-file")) if where[0] == "runs" else lines.get(("defaults", "system-file"), 1)
    try:
        opts["system"] = load_system(file).name
    except BadInput as e:
        raise BadInput(f"{path}:{line}: system-file: {e}") from None
    opts["system-file"] = file


def _check_plugins(opts: dict[str, Any], path: str, lines: dict[Path_, int], where: Path_, reg: Registry) -> None:
    def fail(key: str, msg: str) -> None:
        line = _line(lines, (*where, key)) if where[0] == "runs" else _line(lines, ("matrix", key))
        if line == _line(lines, where) and ("defaults", key) in lines:
            line = lines[("defaults", key)]
        raise BadInput(f"{path}:{line}: {msg}")

    try:
        if opts.get("system-file"):
            from clusters.declarative import load_system

            system = load_system(str(opts["system-file"]))
        else:
            system = reg.get("systems", opts["system"])
    except BadInput as e:
        fail("system", str(e))
    if not opts.get("workload"):  # as `harness run` without --workload: one the system serves
        from harness.build import default_workload

        opts["workload"] = default_workload(system.workloads)
    try:
        workload = reg.get("workloads", opts["workload"])
    except BadInput as e:
        fail("workload", str(e))
    try:
        provider = reg.get("clusters", opts["cluster"])
    except BadInput as e:
        fail("cluster", str(e))
    nems = []
    for n in _nemeses(opts.get("nemesis")):
        try:
            nems.append(reg.get("nemeses", n))
        except BadInput as e:
            fail("nemesis", str(e))
    if opts["workload"] not in system.workloads:
        fail("workload", f"system {opts['system']} does not implement workload {opts['workload']}")
    str_opts = lambda d: {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (d or {}).items()}  # noqa: E731 - a one-line helper used in the loop below
    for kind, plugin_specs, owner in (
        ("system", system.option_specs, f"system {opts['system']}"),
        ("workload", workload.option_specs, f"workload {opts['workload']}"),
        ("cluster", provider.option_specs, f"cluster {opts['cluster']}"),
        ("nemesis", [s for p in nems for s in p.option_specs], "nemeses"),
    ):
        try:
            parse_opts(owner, plugin_specs, str_opts(opts.get(f"{kind}-opts")))
        except BadInput as e:
            key = f"{kind}-opts"
            line = _line(lines, (*where, key)) if where[0] == "runs" else lines.get(("defaults", key), _line(lines, where))
            raise BadInput(f"{path}:{line}: {e}") from None


# --- running ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class RunOutcome:
    spec: RunSpec
    exit_code: int
    run_dir: str | None
    valid: Validity
    checkers: tuple[dict[str, Any], ...]
    error: str = ""
    coverage: Mapping[str, object] | None = None  # fault windows, untested ones, fewest completed ops in a window
    evidence: Mapping[str, int] | None = None  # faults started, and how many were not shown to take effect


VALIDITY_OF_EXIT: dict[int, Validity] = {0: True, 1: False, 2: "unknown"}


def never_judged(o: RunOutcome) -> bool:
    """The cell's run ended without a verdict (bad input, a crash, an interruption, a shard that never ran): it
    tested nothing, so it fails the gate whatever --fail-on says (a release gate that passes when no run started,
    e.g. no registry for the images, gates nothing)."""
    return o.exit_code not in VALIDITY_OF_EXIT or o.run_dir is None


def _run_one(spec: RunSpec, results_dir: str, echo: Callable[[str], None]) -> RunOutcome:
    argv = [sys.executable, "-m", "harness", *spec.argv(results_dir)]
    echo(f"suite: {spec.id}: {' '.join(argv[3:])}")
    p = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "CI": "true"})
    run_dir = None
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    if "\t" in last:
        run_dir = last.split("\t")[0]
    checkers: list[dict[str, object]] = []
    cov: Mapping[str, object] | None = None
    evidence: Mapping[str, int] | None = None
    valid: Validity = VALIDITY_OF_EXIT.get(p.returncode, "unknown")
    if run_dir and os.path.exists(os.path.join(run_dir, "results.json")):
        res = read_json(os.path.join(run_dir, "results.json"))
        valid = res["valid"]
        checkers = list(_leaf_verdicts(res["verdict"]))
        cov = _coverage_summary(res.get("coverage"))
        evidence = _evidence_summary(res.get("evidence"))
    err = "" if p.returncode in (0, 1, 2) else (p.stderr.strip().splitlines() or ["?"])[-1]
    notes = [err] if err else []
    if evidence and evidence["not_in_effect"]:
        notes.append(f"{evidence['not_in_effect']} of {evidence['faults']} faults not shown to take effect")
    echo(f"suite: {spec.id}: {'valid' if valid is True else 'invalid' if valid is False else 'unknown'}"
         + (f" ({'; '.join(notes)})" if notes else ""))
    return RunOutcome(spec=spec, exit_code=p.returncode, run_dir=run_dir, valid=valid, checkers=tuple(checkers),
                      error=err, coverage=cov, evidence=evidence)


def _coverage_summary(cov: Mapping[str, Any] | None) -> Mapping[str, object] | None:
    """A run's fault-window coverage (results.json "coverage") in three numbers for the suite summary."""
    if not cov:
        return None
    windows = cov.get("windows") or []
    return {"windows": len(windows), "untested": len(cov.get("untested") or []),
            "fewest_completed": min((w.get("completed", 0) for w in windows), default=None)}


def _evidence_summary(records: object) -> Mapping[str, int] | None:
    """A run's fault evidence (results.json "evidence", see harness.evidence.FaultRecord) in two numbers."""
    if not isinstance(records, list):
        return None
    bad = sum(1 for r in records if not isinstance(r, dict) or r.get("state") != "in effect")
    return {"faults": len(records), "not_in_effect": bad}


def _leaf_verdicts(v: Mapping[str, Any]) -> Iterator[dict[str, object]]:
    children = v.get("children") or []
    if not children:
        yield {"name": v.get("checker") or "checker", "valid": v["valid"], "summary": v.get("summary", ""),
               "findings": [f.get("diagnosis", "") for f in v.get("findings", [])][:20]}
        return
    if v.get("findings"):
        yield {"name": v.get("checker") or "run", "valid": v["valid"], "summary": v.get("summary", ""),
               "findings": [f.get("diagnosis", "") for f in v.get("findings", [])][:20]}
    for c in children:
        yield from _leaf_verdicts(c)


def worst(validities: list[Validity]) -> Validity:
    if any(v is False for v in validities):
        return False
    if any(v is not True for v in validities):
        return "unknown"
    return True


def gate_exit_code(validity: Validity, fail_on: str) -> int:
    if validity is False:
        return 1
    if validity is not True and fail_on == "unknown":
        return 2
    return 0


def write_junit(path: str, suite_name: str, outcomes: Sequence[RunOutcome]) -> None:
    root = ET.Element("testsuites", name=suite_name)
    for o in outcomes:
        ts = ET.SubElement(root, "testsuite", name=o.spec.id, tests=str(max(1, len(o.checkers))))
        cases = o.checkers or ({"name": "run", "valid": o.valid, "summary": o.error or "no results", "findings": []},)
        failures = errors = 0
        for c in cases:
            tc = ET.SubElement(ts, "testcase", classname=f"{suite_name}.{o.spec.id}", name=c["name"])
            text = "\n".join([c.get("summary", ""), *c.get("findings", [])]).strip()
            if c["valid"] is False:
                failures += 1
                ET.SubElement(tc, "failure", message=c.get("summary", "invalid") or "invalid").text = text
            elif c["valid"] is not True:
                errors += 1
                ET.SubElement(tc, "error", message=c.get("summary", "unknown") or "unknown").text = text
        ts.set("failures", str(failures))
        ts.set("errors", str(errors))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def entry_of(o: RunOutcome, suite_dir: str) -> dict[str, object]:
    """A run's entry in summary.json; `run_dir_rel` is its run directory relative to the suite directory, so that
    a merge on another machine finds it in a copy of the whole results directory (a CI artifact)."""
    rel = os.path.relpath(o.run_dir, suite_dir) if o.run_dir else None
    return {"id": o.spec.id, "options": dict(o.spec.options), "run_dir": o.run_dir, "run_dir_rel": rel,
            "valid": o.valid, "exit_code": o.exit_code, "error": o.error, "checkers": list(o.checkers),
            "coverage": o.coverage, "evidence": o.evidence}


def outcome_of(entry: Mapping[str, Any], run_dir: str | None) -> RunOutcome:
    """The inverse of `entry_of`, with the run directory as found by the reader."""
    return RunOutcome(spec=RunSpec(id=str(entry["id"]), options=dict(entry.get("options") or {})),
                      exit_code=int(entry.get("exit_code", 255)), run_dir=run_dir, valid=entry["valid"],
                      checkers=tuple(entry.get("checkers") or ()), error=str(entry.get("error") or ""),
                      coverage=entry.get("coverage"), evidence=entry.get("evidence"))


def write_suite_dir(out: str, *, name: str, outcomes: Sequence[RunOutcome], fail_on: str,
                    header: Mapping[str, object], echo: Callable[[str], None], incomplete: bool = False) -> int:
    """summary.json, junit.xml and summary.html of `outcomes` in `out`; returns the gate's exit code.
    `header` adds keys to summary.json (file, started, shard, merge). `incomplete`: part of the suite never ran
    (a merge with a missing shard): the suite is unknown and the gate fails (2) whatever `fail_on` says; so it does
    when a cell's run ended without a verdict (`never_judged`)."""
    validity = worst([o.valid for o in outcomes] + (["unknown"] if incomplete else []))
    code = gate_exit_code(validity, fail_on)
    if (incomplete or any(never_judged(o) for o in outcomes)) and code == 0:
        code = 2
    write_json(os.path.join(out, "summary.json"), {
        "schema": 1, "suite": name, **header, "fail_on": fail_on, "valid": validity, "exit_code": code,
        "runs": [entry_of(o, out) for o in outcomes],
    })
    write_junit(os.path.join(out, "junit.xml"), name, outcomes)
    dirs = [o.run_dir for o in outcomes if o.run_dir]
    try:
        from harness.report import render_comparison

        gate = _gate(name, code, fail_on, outcomes)
        for problem in render_comparison(dirs, os.path.join(out, "summary.html"), gate):
            echo(f"suite: report: {problem}")
    except ImportError:
        pass
    except Exception as e:  # noqa: BLE001 - the page never changes the gate
        echo(f"suite: summary page failed: {e}")
    return code


def run_suite(suite: Suite, *, results_dir: str, fail_on: str, only: set[str] | None = None,
              header: Mapping[str, object] | None = None, leaf_suffix: str = "",
              echo: Callable[[str], None] = print) -> tuple[int, str]:
    """Run the suite's runs (those in `only`, if given); returns (exit code, suite directory). `header` is added
    to summary.json's and `leaf_suffix` to the directory's name (a shard's: harness.shards.run_shard)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    full_header: dict[str, Any] = {"file": os.path.abspath(suite.path), "started": stamp, **(header or {})}
    specs = [s for s in suite.runs if only is None or s.id in only]
    out = os.path.abspath(os.path.join(results_dir, "suites", suite.name, stamp + leaf_suffix))
    os.makedirs(out, exist_ok=True)
    with ThreadPoolExecutor(max_workers=suite.parallel) as pool:
        outcomes = list(pool.map(lambda s: _run_one(s, results_dir, echo), specs))
    code = write_suite_dir(out, name=suite.name, outcomes=outcomes, fail_on=fail_on, header=full_header, echo=echo)
    return code, out


def _gate(name: str, code: int, fail_on: str, outcomes: Sequence[RunOutcome]) -> SuiteGate:
    """The suite's pass/fail for its summary page: each cell with why it is not valid."""
    from harness.report.compare import GateCell, SuiteGate

    def why(o: RunOutcome) -> str:
        bad = [c for c in o.checkers if c["valid"] is not True]
        return o.error or "; ".join(f"{c['name']}: {c['summary']}" for c in bad[:3])

    cells = tuple(GateCell(id=o.spec.id, valid=o.valid, why=why(o) if o.valid is not True else "", run_dir=o.run_dir,
                           judged=not never_judged(o)) for o in outcomes)
    return SuiteGate(suite=name, exit_code=code, fail_on=fail_on, cells=cells)
