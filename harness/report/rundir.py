"""Reading a run directory for reports.

Owns the typed, read-only view of what the store and runner wrote into `results/<test>/<timestamp>/`:
`test.json` (`TestInfo`, with the nemesis `PackageInfo`s), `results.json` (`Results`, schema 1, holding the
run summary and the composed `Verdict`), `history.jsonl` (loaded lazily as a `History`), and the lists of
checker files and node logs. Does not own writing any of these (the store and runner do), nor rendering.

A missing or malformed run directory raises `BadInput` with one line. A run directory whose results.json is
missing (the harness was killed before checking) still loads: `results` is None and reports say the verdict
is unknown.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.checker import UNKNOWN, Validity, Verdict
from harness.errors import BadInput
from harness.op import History
from harness.report.history import ReportHistory, read_history

RESULTS_SCHEMA = 1
TEST_SCHEMA = 1


@dataclass(frozen=True, kw_only=True)
class PackageInfo:
    """A nemesis package as reports see it: which nemesis op fs open and close a fault interval, and its label."""

    name: str
    label: str
    start_fs: frozenset[str] = frozenset()
    stop_fs: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class TestInfo:
    """test.json: what was asked. `options` holds RunOptions fields rendered as display strings."""

    name: str
    run_id: str
    argv: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    nodes: tuple[str, ...] = ()
    started: str = ""
    packages: tuple[PackageInfo, ...] = ()

    @property
    def concurrency(self) -> int | None:
        raw = self.options.get("concurrency")
        try:
            n = int(raw) if raw is not None else None
        except ValueError:
            return None
        return n if n and n > 0 else None


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """The "run" object of results.json."""

    name: str = ""
    run_id: str = ""
    system: str = ""
    workload: str = ""
    nemeses: tuple[str, ...] = ()
    cluster: str = ""
    seed: int | None = None
    started: str = ""
    ended: str = ""
    duration_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Results:
    """results.json (schema 1)."""

    valid: Validity
    exit_code: int | None
    run: RunSummary
    verdict: Verdict
    errors: tuple[str, ...] = ()


def _display(v: object) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return ", ".join(_display(x) for x in v) if v else "-"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_display(x)}" for k, x in v.items()) if v else "-"
    if v is None:
        return "-"
    return json.dumps(v)


def _node_name(n: object) -> str:
    """A node of test.json: a name, or an object with a "name" (the runner also records the host)."""
    return str(n.get("name", n)) if isinstance(n, dict) else str(n)


def _load_json(path: Path) -> Mapping[str, object]:
    try:
        with open(path, encoding="utf-8") as fh:
            d = json.load(fh)
    except OSError as e:
        raise BadInput(f"{path}: cannot read: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"{path}: not JSON: {e.msg} (line {e.lineno})") from None
    if not isinstance(d, dict):
        raise BadInput(f"{path}: expected a JSON object")
    return d


def _validity(v: object, path: Path) -> Validity:
    if v is True or v is False or v == UNKNOWN:
        return v
    raise BadInput(f"{path}: valid must be true, false or \"unknown\", not {v!r}")


def parse_test_info(d: Mapping[str, Any], path: Path) -> TestInfo:
    schema = d.get("schema", TEST_SCHEMA)
    if schema != TEST_SCHEMA:
        raise BadInput(f"{path}: test.json schema {schema!r} is not supported (expected {TEST_SCHEMA})")
    try:
        packages = tuple(
            PackageInfo(
                name=str(p.get("name", "")),
                label=str(p.get("label") or p.get("name", "")),
                start_fs=frozenset(str(x) for x in p.get("start_fs", ())),
                stop_fs=frozenset(str(x) for x in p.get("stop_fs", ())),
            )
            for p in d.get("packages", ())
        )
        options = {str(k): _display(v) for k, v in dict(d.get("options", {})).items()}
        seed = d.get("seed")
        return TestInfo(
            name=str(d.get("name", "")),
            run_id=str(d.get("run_id", "")),
            argv=tuple(str(a) for a in d.get("argv", ())),
            options=options,
            seed=int(seed) if isinstance(seed, int) else None,
            versions={str(k): _display(v) for k, v in dict(d.get("versions", {})).items()},
            nodes=tuple(_node_name(n) for n in d.get("nodes", ())),
            started=str(d.get("started", "")),
            packages=packages,
        )
    except (AttributeError, TypeError, ValueError) as e:
        raise BadInput(f"{path}: malformed test.json: {e}") from None


def parse_results(d: Mapping[str, Any], path: Path) -> Results:
    schema = d.get("schema")
    if schema != RESULTS_SCHEMA:
        raise BadInput(f"{path}: results.json schema {schema!r} is not supported (expected {RESULTS_SCHEMA})")
    try:
        r = dict(d.get("run", {}))
        dur = r.get("duration_s")
        seed = r.get("seed")
        run = RunSummary(
            name=str(r.get("name", "")),
            run_id=str(r.get("run_id", "")),
            system=str(r.get("system", "")),
            workload=str(r.get("workload", "")),
            nemeses=tuple(str(x) for x in (r.get("nemeses") or ())),
            cluster=str(r.get("cluster", "")),
            seed=seed if isinstance(seed, int) else None,
            started=str(r.get("started", "")),
            ended=str(r.get("ended", "")),
            duration_s=float(dur) if isinstance(dur, (int, float)) else None,
        )
        valid = _validity(d.get("valid"), path)
        verdict = Verdict.from_json(d["verdict"]) if d.get("verdict") else Verdict(valid=valid, summary="no verdict")
        code = d.get("exit_code")
        return Results(
            valid=valid,
            exit_code=code if isinstance(code, int) else None,
            run=run,
            verdict=verdict,
            errors=tuple(str(e) for e in d.get("errors", ())),
        )
    except (KeyError, AttributeError, TypeError, ValueError) as e:
        raise BadInput(f"{path}: malformed results.json: {type(e).__name__}: {e}") from None


@dataclass(kw_only=True)
class RunDir:
    """A run directory, read for reporting. Load with `RunDir.load(path)`."""

    path: Path
    test: TestInfo
    results: Results | None
    _history: History | None = None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunDir:
        p = Path(path)
        if not p.is_dir():
            raise BadInput(f"{p}: not a run directory (no such directory)")
        has_test = (p / "test.json").is_file()
        has_results = (p / "results.json").is_file()
        if not has_test and not has_results:
            raise BadInput(f"{p}: not a run directory (neither test.json nor results.json in it)")
        results = parse_results(_load_json(p / "results.json"), p / "results.json") if has_results else None
        if has_test:
            test = parse_test_info(_load_json(p / "test.json"), p / "test.json")
        else:
            run = results.run if results else RunSummary()
            test = TestInfo(name=run.name or p.parent.name, run_id=run.run_id or p.name, seed=run.seed)
        return cls(path=p, test=test, results=results)

    @property
    def valid(self) -> Validity:
        return self.results.valid if self.results else UNKNOWN

    @property
    def verdict(self) -> Verdict:
        if self.results:
            return self.results.verdict
        return Verdict(valid=UNKNOWN, summary="no results.json: the run ended before its history was checked")

    @property
    def title(self) -> str:
        return self.test.name or (self.results.run.name if self.results else "") or self.path.name

    @property
    def run_id(self) -> str:
        return self.test.run_id or (self.results.run.run_id if self.results else "") or self.path.name

    @property
    def summary(self) -> RunSummary:
        if self.results:
            return self.results.run
        return RunSummary(name=self.title, run_id=self.run_id, seed=self.test.seed, started=self.test.started)

    def history(self) -> History:
        """The run's history (empty if history.jsonl is absent). Raises MalformedHistory for a bad file."""
        if self._history is None:
            hp = self.path / "history.jsonl"
            self._history = read_history(hp) if hp.is_file() else ReportHistory()
        return self._history

    def checker_files(self) -> dict[str, list[str]]:
        """Files under checks/<checker>/, relative to the run directory, by checker."""
        out: dict[str, list[str]] = {}
        root = self.path / "checks"
        if root.is_dir():
            for sub in sorted(x for x in root.iterdir() if x.is_dir()):
                files = sorted(str(f.relative_to(self.path)) for f in sub.rglob("*") if f.is_file())
                out[sub.name] = files
        return out

    def node_logs(self) -> dict[str, list[str]]:
        """Collected node logs under nodes/<node>/, relative to the run directory, by node."""
        out: dict[str, list[str]] = {}
        root = self.path / "nodes"
        if root.is_dir():
            for sub in sorted(x for x in root.iterdir() if x.is_dir()):
                out[sub.name] = sorted(str(f.relative_to(self.path)) for f in sub.rglob("*") if f.is_file())
        return out
