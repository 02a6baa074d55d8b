"""MUST SHOW (1): the upstream verdicts of Porcupine's and Knossos's test data, file by file.

Expected verdicts come from the upstream tests (Porcupine's etcd list is in tests/corpora.py) and from the file
names (`-ok`/`-bad`, `good/`/`bad/`); tests/data/*/PROVENANCE.md says where each file comes from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checkers.linearizable import LinearizableChecker
from harness.formats import load_history
from tests.corpora import (
    DATA,
    KNOSSOS,
    PORCUPINE,
    PORCUPINE_ETCD_LINEARIZABLE,
    PORCUPINE_ETCD_UNTESTED,
)


def _etcd_cases() -> list[Any]:
    assert len(PORCUPINE_ETCD_LINEARIZABLE) == 23
    cases = []
    for p in sorted((PORCUPINE / "jepsen").glob("etcd_*.log")):
        num = p.stem.split("_")[1]
        if num == PORCUPINE_ETCD_UNTESTED:  # empty file, untested upstream
            continue
        cases.append(pytest.param(p, num in PORCUPINE_ETCD_LINEARIZABLE, id=p.name))
    return cases


ETCD = _etcd_cases()


def test_etcd_case_count() -> None:
    assert len(ETCD) == 102


@pytest.mark.parametrize(("path", "expected"), ETCD)
def test_porcupine_etcd(path: Path, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model="etcd", timeout=60).check(None, load_history(path, repair=True), tmp_path)
    assert v.valid is expected, v.summary
    json.dumps(v.to_json())  # details go to results.json
    if not expected:
        assert v.findings and v.findings[0].ops
        assert "counterexample" in v.details
        assert (tmp_path / "linearizable.html").exists()


KV = [pytest.param(PORCUPINE / "kv" / f"{name}.txt", model, name.endswith("-ok"), id=f"{name}-{model}")
      for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad")
      for model in ("kv", "kv-nopartition") if not (model == "kv-nopartition" and name.startswith("c50"))]


@pytest.mark.parametrize(("path", "model", "expected"), KV)
def test_porcupine_kv(path: Path, model: str, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model=model, timeout=60).check(None, load_history(path, repair=True), tmp_path)
    assert v.valid is expected, v.summary


def _knossos_cases() -> list[Any]:
    out = []
    for p in sorted(KNOSSOS.glob("*/*/*.edn")):
        family, verdict = p.parent.parent.name, p.parent.name
        if family == "cas-register":
            model, init = "cas-register", 0
        elif family == "multi-register":
            model, init = "multi-register", {"x": 0, "y": 0}
        else:
            model, init = "mutex", None
        out.append(pytest.param(p, model, init, verdict == "good", id=f"{family}/{verdict}/{p.name}"))
    return out


KNOSSOS_CASES = _knossos_cases()


def test_knossos_case_count() -> None:
    assert len(KNOSSOS_CASES) == 122


@pytest.mark.parametrize(("path", "model", "init", "expected"), KNOSSOS_CASES)
def test_knossos(path: Path, model: str, init: Any, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model=model, init=init, timeout=60).check(None, load_history(path, repair=True), tmp_path)
    assert v.valid is expected, v.summary


@pytest.mark.parametrize("name", [p.values[0].name for p in KNOSSOS_CASES if p.values[1] == "cas-register"])
def test_knossos_cas_register_with_nil_init(name: str, tmp_path: Path) -> None:
    """The same verdicts hold with initial value nil (a nil read is unconstrained)."""
    sub = "good" if (KNOSSOS / "cas-register" / "good" / name).exists() else "bad"
    v = LinearizableChecker(model="cas-register", init=None).check(
        None, load_history(KNOSSOS / "cas-register" / sub / name, repair=True), tmp_path)
    assert v.valid is (sub == "good")


# Upstream's extra assertions: the op that cannot be linearized (Knossos names the completion's index).
FAILING_OP = {
    "bad-analysis.edn": (21, 2, 14),
    "cas-failure.edn": (70, 0, 491),
    "immediate-failure.edn": (1, 3, 3),
    "rethink-fail-minimal.edn": (1, 3, 4),
    "rethink-fail-smaller.edn": (12, 3, 217),
}


@pytest.mark.parametrize(("name", "expected"), sorted(FAILING_OP.items()))
def test_knossos_failing_op(name: str, expected: tuple[int, int, int], tmp_path: Path) -> None:
    v = LinearizableChecker(model="cas-register", init=0).check(
        None, load_history(KNOSSOS / "cas-register" / "bad" / name, repair=True), tmp_path)
    op = v.details["counterexample"]["first_unplaceable_op"]
    process, value, completion = expected
    assert (op["process"], op["operation"], op["completion"]) == (process, f"read -> {value}", completion)
    assert f"#{completion}" in v.findings[0].diagnosis


# elle-cli's copies of Knossos histories (EDN and JSON), asserted by its test.sh with `--model cas-register`
# (initial value nil) and `--model mutex`; and mprimi/elle-cli's two CAS examples (author's intent).
ELLE_CLI = [
    *[(f"elle-cli/knossos/cas-register/bad/{n}.edn", "cas-register", False)
      for n in ("bad-analysis", "cas-failure", "mongodb-v0-ack-rollback-6", "rethink-fail", "rethink-fail-minimal",
                "rethink-fail-smaller")],
    ("elle-cli/knossos/cas-register/good/memstress3-9.edn", "cas-register", True),
    ("elle-cli/knossos/cas-register/good/memstress3-9.json", "cas-register", True),
    ("elle-cli/knossos/mutex/bad/etcd.edn", "mutex", False),
    ("elle-cli/knossos/mutex/bad/etcd.json", "mutex", False),
    ("elle-cli-mprimi/cas-ok.edn", "cas-register", True),
    ("elle-cli-mprimi/cas-fail.edn", "cas-register", False),
]


@pytest.mark.parametrize(("rel", "model", "expected"), ELLE_CLI, ids=[c[0] for c in ELLE_CLI])
def test_elle_cli_knossos_copies(rel: str, model: str, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model=model).check(None, load_history(DATA / rel, repair=True), tmp_path)
    assert v.valid is expected, v.summary
