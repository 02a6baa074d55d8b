"""`harness.minimize` and `harness check --minimize`: for every checker family, the minimal history is still
invalid with the same failure (checked again, on its own), obeys every rule of real histories, is a
sub-sequence of its input, and is much smaller; planted anomalies come back as exactly the planted ops; the
real histories of a failing etcd run and a failing Postgres run shrink to a handful of ops."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.elle import ElleChecker, ElleOptions
from checkers.invariants import BankChecker, SetChecker
from checkers.linearizable import LinearizableChecker
from harness.checker import Checker, Verdict, safe_check
from harness.minimize import Minimized, ddmin, minimize, shows, target_of, units_of
from harness.op import History, Op
from harness.validate import Parsed, validate
from tests.checkers import sim as isim
from tests.corpora import KNOSSOS
from tests.elle import sim as esim
from tests.linearizable import sim as lsim

SETTINGS = settings(max_examples=int(os.environ.get("CHECKER_EXAMPLES", "25")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)
RUNS = Path(__file__).resolve().parent / "runs"


def check(checker: Checker, h: History, tmp: Path) -> Verdict:
    return safe_check(checker, None, h, tmp)


def assert_sound(checker: Checker, original: History, m: Minimized, tmp: Path) -> None:
    """The properties every minimal history has, whatever the checker."""
    again = check(checker, m.history, tmp)
    assert again.valid is False and shows(again, m.signature), again.summary
    validate(Parsed(path="<minimal>", ops=m.history.ops, lines=[None] * len(m.history)))
    positions = {op.index: pos for pos, op in enumerate(original)}
    where = [positions[op.index] for op in m.history]
    assert where == sorted(where) and all(original[p] == op for p, op in zip(where, m.history))
    assert len(m.history) <= len(original) and not m.budget_ran_out


def shrink(checker: Checker, h: History, tmp: Path) -> Minimized:
    verdict = check(checker, h, tmp)
    m = minimize(checker, None, h, verdict, budget_s=60)
    assert m is not None, verdict.summary
    return m


# --- ddmin and units -----------------------------------------------------------------------------------------

@given(st.sets(st.integers(0, 40), min_size=1, max_size=4), st.integers(1, 60))
def test_ddmin_finds_exactly_the_needed_items(needed: set[int], n: int) -> None:
    items = list(range(max(n, max(needed) + 1)))
    assert ddmin(items, lambda xs: needed <= set(xs)) == sorted(needed)  # a subset, in the order of items


def test_units_keep_invocations_with_their_completions() -> None:
    h = History.indexed([
        Op(type="invoke", process=0, f="write", value=1), Op(type="invoke", process=1, f="read"),
        Op(type="info", process="nemesis", f="start-partition"), Op(type="ok", process=1, f="read", value=1),
        Op(type="ok", process=0, f="write", value=1), Op(type="invoke", process=2, f="read"),
    ])
    assert [u.positions for u in units_of(h)] == [(0, 4), (1, 3), (2,), (5,)]


def test_a_valid_history_has_nothing_to_minimize(tmp_path: Path) -> None:
    h = isim.simulate(isim.SetModel(), 1, 30)
    v = check(SetChecker(), h, tmp_path)
    assert v.valid is True and target_of(v) is None
    assert minimize(SetChecker(), None, h, v) is None


# --- linearizable: a planted stale read --------------------------------------------------------------------

def plant_stale_read(h: History, at: int) -> tuple[History, set[int]]:
    """A write of ("planted", 1) acknowledged, then a read of the same key returning nil, on fresh processes,
    inserted at position `at`; returns the history and the indexes of the planted ops."""
    p = max((op.process for op in h if isinstance(op.process, int)), default=-1) + 1
    planted = [Op(type="invoke", process=p, f="write", value=("planted", 1)),
               Op(type="ok", process=p, f="write", value=("planted", 1)),
               Op(type="invoke", process=p + 1, f="read", value=("planted", None)),
               Op(type="ok", process=p + 1, f="read", value=("planted", None))]
    ops = list(h)[:at] + planted + list(h)[at:]
    out = History.indexed(op.replace(time_ns=i) for i, op in enumerate(ops))
    return out, set(range(at, at + 4))


@SETTINGS
@given(seeds, st.integers(10, 200), st.floats(0, 1))
def test_linearizable_minimal_is_the_planted_stale_read(tmp_path_factory: Any, seed: int, n: int, where: float) -> None:
    tmp = tmp_path_factory.mktemp("lin")
    obj, model, _init, _ = lsim.OBJECTS["register-independent"]
    h = lsim.simulate(obj, random.Random(seed), n_ops=n, processes=4, crash_rate=0.05, fail_rate=0.1)
    bad, planted = plant_stale_read(History.indexed(h), int(where * len(h)))
    checker = LinearizableChecker(model=model, independent=True, workers=1)
    m = shrink(checker, bad, tmp)
    assert_sound(checker, bad, m, tmp)
    assert {op.index for op in m.history} == planted


# --- elle: every planted anomaly ---------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", esim.PATTERNS, ids=lambda p: f"{p.workload}-{p.kind}")
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=seeds, where=st.floats(0, 1))
def test_elle_minimal_is_the_planted_anomaly(tmp_path: Path, pattern: esim.Pattern, seed: int, where: float) -> None:
    h = esim.simulate(seed, workload=pattern.workload, n_txns=120, concurrency=3)
    at = int(where * len(h))
    bad = esim.plant(h, pattern, at)
    checker = ElleChecker(ElleOptions(workload=pattern.workload, **pattern.options))
    verdict = check(checker, bad, tmp_path)
    m = minimize(checker, None, bad, verdict, budget_s=60)
    assert m is not None
    assert_sound(checker, bad, m, tmp_path)
    assert len(m.history) <= 2 * len(pattern.txns) < len(bad)
    planted_processes = {op.process for op in bad[at:at + 2 * len(pattern.txns)]}
    assert {op.process for op in m.history} <= planted_processes


# --- invariants: a lost set element, an overdrawn account ---------------------------------------------------

@SETTINGS
@given(seeds, st.integers(5, 150))
def test_set_minimal_is_the_lost_add_and_the_read(tmp_path_factory: Any, seed: int, n: int) -> None:
    tmp = tmp_path_factory.mktemp("set")
    h = isim.simulate(isim.SetModel(), seed, n, 3, p_info=0.0)
    acked = [op.value for op in h if op.f == "add" and op.type == "ok"]
    reads = [i for i, op in enumerate(h) if op.f == "read" and op.type == "ok"]
    if not acked or not reads or not any(op.f == "add" and op.type == "ok" for op in h[:reads[-1]]):
        return
    victim = random.Random(seed).choice([op.value for op in h[:reads[-1]] if op.f == "add" and op.type == "ok"])
    ops = list(h)
    ops[reads[-1]] = ops[reads[-1]].replace(value=[e for e in ops[reads[-1]].value if e != victim])
    bad = History(ops)
    m = shrink(SetChecker(), bad, tmp)
    assert_sound(SetChecker(), bad, m, tmp)
    assert len(m.history) <= 4
    assert any(op.f == "add" and op.value == victim for op in m.history)


@SETTINGS
@given(seeds, st.integers(10, 150))
def test_bank_minimal_keeps_the_negative_read(tmp_path_factory: Any, seed: int, n: int) -> None:
    tmp = tmp_path_factory.mktemp("bank")
    h = isim.simulate(isim.BankModel(), seed, n, 3)
    reads = [i for i, op in enumerate(h) if op.f == "read" and op.type == "ok"]
    ops = list(h)
    final = dict(ops[reads[-1]].value)
    final["1"] += final["0"] + 3
    final["0"] = -3
    ops[reads[-1]] = ops[reads[-1]].replace(value=final)
    bad = History(ops)
    checker = BankChecker(total=100)
    m = shrink(checker, bad, tmp)
    assert_sound(checker, bad, m, tmp)
    assert len(m.history) <= 2 and m.signature.kind == "negative-value"


# --- upstream: Knossos's own non-linearizable histories ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.name for p in (KNOSSOS / "cas-register" / "bad").glob("*.edn")))
def test_knossos_bad_histories_minimize(tmp_path: Path, name: str) -> None:
    from harness.formats import read_history

    h = read_history(KNOSSOS / "cas-register" / "bad" / name, repair=True).history
    checker = LinearizableChecker(model="cas-register", workers=1)
    m = shrink(checker, h, tmp_path)
    assert_sound(checker, h, m, tmp_path)
    assert len(m.history) <= max(8, len(h) // 50)  # e.g. rethink-fail: 500 ops -> 4 (Knossos's own minimal: 8)


# --- real runs: etcd serializable reads under partitions, Postgres repeatable read -------------------------

def unpack_run(name: str, tmp: Path) -> Path:
    """A stored run directory (test.json + gzipped history.jsonl from runs/ beside this file) in a fresh folder."""
    src, dst = RUNS / name, tmp / name
    dst.mkdir(parents=True)
    shutil.copyfile(src / "test.json", dst / "test.json")
    with gzip.open(src / "history.jsonl.gz", "rb") as fh:
        (dst / "history.jsonl").write_bytes(fh.read())
    return dst / "history.jsonl"


def harness_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", "check", *args], capture_output=True, text=True,
                          check=False, timeout=300)


@pytest.mark.parametrize(("run", "most_ops", "kind"), [
    ("etcd-register-serializable-partition", 8, "not-linearizable"),
    ("postgres-list-append-repeatable-read", 16, "G2-item"),
])
def test_real_failing_runs_minimize_and_the_minimal_history_fails_alone(tmp_path: Path, run: str, most_ops: int,
                                                                         kind: str) -> None:
    history = unpack_run(run, tmp_path)
    p = harness_check("--minimize", "--out-dir", str(tmp_path / "checks"), str(history))
    assert p.returncode == 1, p.stderr
    assert "minimized:" in p.stderr and "Traceback" not in p.stderr
    minimal = history.parent / "minimal" / "history.jsonl"
    summary = json.loads((history.parent / "minimal" / "minimize.json").read_text())
    assert summary["kind"] == kind and summary["ops"] <= most_ops < summary["original_ops"] / 100
    assert summary["check_command"] == f"harness check {minimal}"
    alone = harness_check("--out-dir", str(tmp_path / "checks2"), str(minimal))
    assert alone.returncode == 1, alone.stderr
    assert minimal.read_text().count("\n") == summary["ops"]


def test_check_minimize_on_a_plain_file_with_a_named_checker(tmp_path: Path) -> None:
    obj = lsim.OBJECTS["register-independent"][0]
    h = lsim.simulate(obj, random.Random(5), n_ops=150, processes=4, crash_rate=0.0, fail_rate=0.0)
    bad, _ = plant_stale_read(History.indexed(h), 40)
    path = tmp_path / "bad.jsonl"
    bad.to_jsonl(path)
    out = tmp_path / "out"
    p = harness_check("--minimize", "--checker", "linearizable", "--opt", "model=etcd", "--opt", "independent=true",
                      "--out-dir", str(out), str(path))
    assert p.returncode == 1, p.stderr
    summary = json.loads((out / "minimal-bad" / "minimize.json").read_text())
    assert summary["ops"] == 4 and summary["original_ops"] == len(bad)
    command = summary["check_command"].split()
    assert command[:2] == ["harness", "check"]
    again = harness_check(*command[2:-1], "--out-dir", str(tmp_path / "again"), command[-1])
    assert again.returncode == 1, again.stderr

    good = tmp_path / "good.jsonl"
    History.indexed(h).to_jsonl(good)
    p = harness_check("--minimize", "--checker", "linearizable", "--opt", "model=etcd", "--opt", "independent=true",
                      "--out-dir", str(tmp_path / "g"), str(good))
    assert p.returncode == 0 and "nothing to minimize" in p.stderr
