"""The invariant checkers as plugins: every entry point loads, takes its options through parse_opts, and bad
input (unknown option, bad option value, a history that does not follow the checker's op vocabulary) is
BadInput with one clear line, which `harness check` turns into exit code 254."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.checker import Checker, compose, safe_check
from harness.errors import BadInput, MalformedHistory
from harness.op import History, Op
from harness.options import parse_opts
from harness.plugins import Registry

NAMES = ["availability", "bank", "counter", "idempotency", "monotonic", "set", "set-full", "stats", "stream",
         "total-queue", "unique-ids", "uniqueness"]
GOLDEN = Path(__file__).resolve().parent / "golden"


@pytest.mark.parametrize("name", NAMES)
def test_plugin_loads_with_defaults(name: str) -> None:
    plugin = Registry(builtins_only=True).get("checkers", name)
    assert plugin.name == name
    checker = plugin.make(parse_opts(f"checker {name}", plugin.option_specs, {}))
    assert isinstance(checker, Checker)
    assert checker.name == name
    assert all(s.help for s in plugin.option_specs)


def test_unknown_and_bad_options_are_bad_input() -> None:
    plugin = Registry(builtins_only=True).get("checkers", "bank")
    with pytest.raises(BadInput, match="unknown option 'nope' for checker bank"):
        parse_opts("checker bank", plugin.option_specs, {"nope": "1"})
    with pytest.raises(BadInput, match="bad value 'x' for option 'total'"):
        parse_opts("checker bank", plugin.option_specs, {"total": "x"})
    plugin = Registry(builtins_only=True).get("checkers", "uniqueness")
    with pytest.raises(BadInput, match="must be at least 1"):
        parse_opts("checker uniqueness", plugin.option_specs, {"limit": "0"})


def _ops(*rows: tuple[object, ...]) -> History:
    return History.indexed(Op(type=t, process=p, f=f, value=v) for p, t, f, v in rows)  # type: ignore[arg-type]


MALFORMED = [
    ("set", _ops((0, "invoke", "read", None), (0, "ok", "read", 3)), "a set read must return a list"),
    ("counter", _ops((0, "invoke", "add", "one")), "an add needs a numeric delta"),
    ("bank", _ops((0, "invoke", "read", None), (0, "ok", "read", [1, 2, 3])), "a map of account to balance"),
    ("monotonic", _ops((0, "invoke", "read", None), (0, "ok", "read", [1, 2, 3])), "[key, version]"),
    ("monotonic", _ops((0, "invoke", "read", None), (0, "ok", "read", 1), (1, "invoke", "read", None),
                       (1, "ok", "read", "x")), "comparable"),
    ("idempotency", _ops((0, "invoke", "request", 5)), 'a request must carry {"key"'),
    ("total-queue", _ops((0, "invoke", "drain", None), (0, "ok", "drain", 7)), "a drain must return the list"),
    ("stream", _ops((0, "invoke", "read-all", None), (0, "ok", "read-all", 7)), "a read must return a list"),
]


@pytest.mark.parametrize(("name", "history", "message"), MALFORMED,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(MALFORMED)])
def test_history_outside_the_vocabulary_is_malformed(name: str, history: History, message: str,
                                                      tmp_path: Path) -> None:
    plugin = Registry(builtins_only=True).get("checkers", name)
    checker = plugin.make({})
    with pytest.raises(MalformedHistory) as e:
        checker.check(None, history, tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)
    # through safe_check (a run's phase 7) the same history makes the verdict unknown, never valid
    assert safe_check(checker, None, history, tmp_path).valid == "unknown"


def test_compose_merges_false_over_unknown_over_true(tmp_path: Path) -> None:
    from checkers.invariants import BankChecker, SetChecker, StatsChecker

    h = History.from_jsonl(GOLDEN / "bank" / "invalid-negative-balance.jsonl")
    v = compose(StatsChecker(), SetChecker(), BankChecker()).check(None, h, tmp_path)
    assert [c.valid for c in v.children] == [True, "unknown", False]
    assert v.valid is False


def test_cli_check_prints_diagnosis_and_exit_codes(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "harness", "check", "--out-dir", str(tmp_path), *args],
                              capture_output=True, text=True, timeout=120)

    bad = run("--checker", "bank", str(GOLDEN / "bank" / "invalid-negative-balance.jsonl"))
    assert bad.returncode == 1
    assert "invariant broken: balance below zero (account 2 = -5 in read op #5)" in bad.stdout + bad.stderr
    good = run("--checker", "bank", "--opt", "allow_negative=true",
               str(GOLDEN / "bank" / "invalid-negative-balance.jsonl"))
    assert good.returncode == 0, good.stdout + good.stderr
    unknown_opt = run("--checker", "bank", "--opt", "nope=1", str(GOLDEN / "bank" / "valid.jsonl"))
    assert unknown_opt.returncode == 254
    assert "Traceback" not in unknown_opt.stderr


def test_availability_measures_recovery_and_fault_windows(tmp_path: Path) -> None:
    from checkers.invariants import AvailabilityChecker

    h = History.from_jsonl(GOLDEN / "availability" / "valid-partition-recovers.jsonl")  # ops 0.1 s apart
    d = AvailabilityChecker(window_s=0.5).check(None, h, tmp_path).details
    assert d["recovery"] == [{"fault": "start-partition", "healed_by": 7, "recovery_s": {"n1": 0.4, "n2": 0.2},
                             "not_measured": []}]
    assert d["during_faults"] == {"count": 1, "ok": 0, "availability": 0.0}
    assert d["outside_faults"] == {"count": 3, "ok": 3, "availability": 1.0}
    # completions at 0.1 s (ok), 0.5 s (info), 0.9 s (ok), 1.1 s (ok)
    assert [(w["start_s"], w["ok"], w["count"]) for w in d["windows"]] == [(0.0, 1, 1), (0.5, 1, 2), (1.0, 1, 1)]
    assert d["convergence"] == {"groups_judged": 1, "diverged": 0}


def test_availability_takes_fault_fs_from_the_tests_packages(tmp_path: Path) -> None:
    from checkers.invariants import AvailabilityChecker
    from harness.nemesis import NoopNemesis, Package
    from harness.test import bare_test

    h = History.indexed([
        Op(type="invoke", process="nemesis", f="kill", value=["n1"]),
        Op(type="info", process="nemesis", f="kill", value=["n1"]),
        Op(type="invoke", process="nemesis", f="start", value=["n1"]),  # the kill package's restart
        Op(type="info", process="nemesis", f="start", value=["n1"]),
        Op(type="invoke", process=0, f="read", value=None, node="n1"),
        Op(type="ok", process=0, f="read", value=1, node="n1"),
    ])
    # without the test, bare "start" is ambiguous and not a default stop: the kill is never healed
    alone = AvailabilityChecker().check(None, h, tmp_path)
    assert alone.valid == "unknown" and alone.findings[0].kind == "never-healed"
    kill = Package(name="kill", nemesis=NoopNemesis(), generator=None, final_generator=None, label="kill",
                   start_fs=frozenset({"kill"}), stop_fs=frozenset({"start"}))
    v = AvailabilityChecker().check(bare_test(packages=(kill,)), h, tmp_path)
    assert v.valid is True
    assert v.details["recovery"] == [{"fault": "kill", "healed_by": 3, "recovery_s": {"n1": 0.0}, "not_measured": []}]
