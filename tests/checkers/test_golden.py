"""Golden histories of the invariant checkers: every `golden/<checker>/<case>.jsonl` is checked by the checker
plugin named by its folder (options from `<case>.opts.json`, as `--opt key=value` strings) and must give exactly
the verdict and findings (kind, failure class, diagnosis line, op indices) of `<case>.expect.json`.

Each expectation was reviewed by hand when the case was added; a changed diagnosis is a changed expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.checker import safe_check
from harness.op import History
from harness.options import parse_opts
from harness.plugins import Registry

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(GOLDEN.glob("*/*.jsonl"))


def test_every_checker_has_valid_and_invalid_goldens() -> None:
    by_checker: dict[str, set[str]] = {}
    for case in CASES:
        exp = json.loads(case.with_suffix(".expect.json").read_text())
        by_checker.setdefault(case.parent.name, set()).add(str(exp["valid"]))
    assert len(by_checker) == 12
    for name, kinds in by_checker.items():
        # stats never calls a history invalid: a never-succeeding f leaves it unable to judge (unknown)
        needed = {"True", "unknown"} if name == "stats" else {"True", "False"}
        assert needed <= kinds, f"{name} needs a valid and an invalid (stats: unknown) golden history"


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(case: Path, tmp_path: Path) -> None:
    name = case.parent.name
    opts_file = case.with_suffix(".opts.json")
    raw = json.loads(opts_file.read_text()) if opts_file.exists() else {}
    plugin = Registry(builtins_only=True).get("checkers", name)
    checker = plugin.make(parse_opts(f"checker {name}", plugin.option_specs, raw))
    verdict = safe_check(checker, None, History.from_jsonl(case), tmp_path)
    expected = json.loads(case.with_suffix(".expect.json").read_text())
    got = [{"kind": f.kind, "failure_class": f.failure_class.value, "diagnosis": f.diagnosis, "ops": list(f.ops)}
           for f in verdict.findings]
    assert got == expected["findings"]
    assert verdict.valid == expected["valid"]
    json.dumps(verdict.to_json())  # details must be JSON-serializable for results.json
