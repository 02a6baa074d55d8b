"""MUST SHOW (1): the upstream verdicts of Porcupine's and Knossos's test data, file by file.

Expected verdicts come from each folder's MANIFEST.md (Porcupine's etcd table is parsed from it) and from the
file names (`-ok`/`-bad`, `good/`/`bad/`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from checkers.linearizable import LinearizableChecker
from harness.formats import load_history

ANCHORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "anchors-data"
pytestmark = pytest.mark.skipif(not ANCHORS.is_dir(), reason=f"anchor data folder {ANCHORS} is absent")


def _etcd_cases() -> list[Any]:
    manifest = ANCHORS / "porcupine" / "MANIFEST.md"
    if not manifest.exists():
        return []
    m = re.search(r"linearizable \(`true`\), 23 files \| ([\d ]+)\|", manifest.read_text())
    assert m, "the etcd verdict table of porcupine/MANIFEST.md changed shape"
    good = set(m.group(1).split())
    assert len(good) == 23
    cases = []
    for p in sorted((ANCHORS / "porcupine" / "jepsen").glob("etcd_*.log")):
        num = p.stem.split("_")[1]
        if num == "095":  # empty file, untested upstream
            continue
        cases.append(pytest.param(p, num in good, id=p.name))
    return cases


ETCD = _etcd_cases()


def test_etcd_case_count() -> None:
    assert len(ETCD) == 102


@pytest.mark.parametrize(("path", "expected"), ETCD)
def test_porcupine_etcd(path: Path, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model="etcd", timeout=60).check(None, load_history(path), tmp_path)
    assert v.valid is expected, v.summary
    json.dumps(v.to_json())  # details go to results.json
    if not expected:
        assert v.findings and v.findings[0].ops
        assert "counterexample" in v.details
        assert (tmp_path / "linearizable.html").exists()


KV = [pytest.param(ANCHORS / "porcupine" / "kv" / f"{name}.txt", model, name.endswith("-ok"), id=f"{name}-{model}")
      for name in ("c01-ok", "c01-bad", "c10-ok", "c10-bad", "c50-ok", "c50-bad")
      for model in ("kv", "kv-nopartition") if not (model == "kv-nopartition" and name.startswith("c50"))]


@pytest.mark.parametrize(("path", "model", "expected"), KV)
def test_porcupine_kv(path: Path, model: str, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model=model, timeout=60).check(None, load_history(path), tmp_path)
    assert v.valid is expected, v.summary


def _knossos_cases() -> list[Any]:
    out = []
    for p in sorted((ANCHORS / "knossos").glob("*/*/*.edn")):
        family, verdict = p.parent.parent.name, p.parent.name
        if family == "cas-register":
            model, init = "cas-register", 0
        elif family == "multi-register":
            model, init = "multi-register", {"x": 0, "y": 0}
        else:
            model, init = "mutex", None
        out.append(pytest.param(p, model, init, verdict == "good", id=f"{family}/{verdict}/{p.name}"))
    return out


KNOSSOS = _knossos_cases()


def test_knossos_case_count() -> None:
    assert len(KNOSSOS) == 122


@pytest.mark.parametrize(("path", "model", "init", "expected"), KNOSSOS)
def test_knossos(path: Path, model: str, init: Any, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model=model, init=init, timeout=60).check(None, load_history(path), tmp_path)
    assert v.valid is expected, v.summary


@pytest.mark.parametrize("name", [p.values[0].name for p in KNOSSOS if p.values[1] == "cas-register"])
def test_knossos_cas_register_with_nil_init(name: str, tmp_path: Path) -> None:
    """MANIFEST: the same verdicts hold with initial value nil."""
    sub = "good" if (ANCHORS / "knossos" / "cas-register" / "good" / name).exists() else "bad"
    v = LinearizableChecker(model="cas-register", init=None).check(
        None, load_history(ANCHORS / "knossos" / "cas-register" / sub / name), tmp_path)
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
        None, load_history(ANCHORS / "knossos" / "cas-register" / "bad" / name), tmp_path)
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
    ("elle-cli-mprimi-extras/cas-ok.edn", "cas-register", True),
    ("elle-cli-mprimi-extras/cas-fail.edn", "cas-register", False),
]


@pytest.mark.parametrize(("rel", "model", "expected"), ELLE_CLI, ids=[c[0] for c in ELLE_CLI])
def test_elle_cli_knossos_copies(rel: str, model: str, expected: bool, tmp_path: Path) -> None:
    v = LinearizableChecker(model=model).check(None, load_history(ANCHORS / "elle" / rel), tmp_path)
    assert v.valid is expected, v.summary
