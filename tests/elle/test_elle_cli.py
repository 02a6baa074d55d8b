"""The elle-cli wrapper against a FAKE of elle-cli's command-line contract (elle-cli itself needs a JVM and a
Maven build, neither available here). The fake, written by each test, checks the arguments and the exported
JSON the way elle-cli would read them, records them, and prints `<file>\\t<valid?>` with the exit code
elle-cli uses (0, or 1 when a file is invalid)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from checkers.elle import PLUGIN, ElleOptions
from checkers.elle.elle_cli import command, parse_output, to_elle_json
from harness.checker import UNKNOWN
from harness.formats import load_history
from harness.op import History, Op, OpType

FAKE = """#!{python}
# FAKE elle-cli: implements only its CLI contract (arguments, JSON history in, `<file>\\t<valid?>` out).
import json, os, sys, time
args = sys.argv[1:]
opts, files = {{}}, []
while args:
    a = args.pop(0)
    if a.startswith("--"):
        opts[a[2:]] = args.pop(0)
    else:
        files.append(a)
assert opts.get("model") in ("list-append", "rw-register"), opts
ops = json.load(open(files[0]))
assert isinstance(ops, list) and all({{"type", "process", "value", "index"}} <= set(o) for o in ops)
with open(os.environ["FAKE_ELLE_RECORD"], "w") as fh:
    json.dump({{"opts": opts, "files": files, "ops": len(ops)}}, fh)
if os.environ.get("FAKE_ELLE_SLEEP"):
    time.sleep(float(os.environ["FAKE_ELLE_SLEEP"]))
verdict = os.environ.get("FAKE_ELLE_VERDICT", "true")
for f in files:
    print(f + "\\t" + verdict)
sys.exit(1 if verdict == "false" else 0)
"""


@pytest.fixture
def fake_elle_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "fake-elle-cli"
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("FAKE_ELLE_RECORD", str(tmp_path / "record.json"))
    monkeypatch.delenv("ELLE_CLI", raising=False)
    return path


def _txn(i: int, type_: OpType, p: int, value: list[list[object]]) -> Op:
    return Op(index=i, time_ns=i, type=type_, process=p, f="txn", value=value)


# a valid history: T1 appends 1 to x, T3 reads it
VALID = History([
    _txn(0, "invoke", 0, [["append", "x", 1]]), _txn(1, "ok", 0, [["append", "x", 1]]),
    _txn(2, "invoke", 1, [["r", "x", None]]), _txn(3, "ok", 1, [["r", "x", [1]]]),
])
# lost update: both read [0] and append
LOST = History([
    _txn(0, "invoke", 0, [["append", "x", 0]]), _txn(1, "ok", 0, [["append", "x", 0]]),
    _txn(2, "invoke", 1, [["r", "x", None], ["append", "x", 1]]),
    _txn(3, "invoke", 2, [["r", "x", None], ["append", "x", 2]]),
    _txn(4, "ok", 1, [["r", "x", [0]], ["append", "x", 1]]),
    _txn(5, "ok", 2, [["r", "x", [0]], ["append", "x", 2]]),
])


def test_without_elle_cli_the_details_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELLE_CLI", raising=False)
    v = PLUGIN.make({}).check(None, VALID, str(tmp_path))
    assert v.valid is True
    assert v.details["elle-cli"] == {"configured": False, "note": "elle-cli not configured"}


def test_agreement_is_reported_side_by_side(fake_elle_cli: Path, tmp_path: Path) -> None:
    v = PLUGIN.from_strings({"elle-cli": str(fake_elle_cli), "consistency-models": "serializable"}).check(
        None, VALID, str(tmp_path))
    cli = v.details["elle-cli"]
    assert v.valid is True and cli["valid?"] is True and cli["ours"] is True and cli["agrees"] is True
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["opts"] == {"model": "list-append", "consistency-models": "serializable"}
    assert rec["ops"] == 4
    assert "elle-cli-history.json" in v.files


def test_disagreement_is_flagged_and_never_passes(fake_elle_cli: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ELLE_VERDICT", "false")
    v = PLUGIN.make({"elle-cli": str(fake_elle_cli)}).check(None, VALID, str(tmp_path))
    assert v.details["elle-cli"]["agrees"] is False
    assert v.valid == UNKNOWN
    assert any(f.kind == "elle-cli-disagrees" for f in v.findings)


def test_invalid_both_ways_agrees(fake_elle_cli: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ELLE_VERDICT", "false")
    monkeypatch.setenv("ELLE_CLI", str(fake_elle_cli))  # configured through the environment this time
    v = PLUGIN.make({}).check(None, LOST, str(tmp_path))
    assert v.valid is False and v.details["elle-cli"]["agrees"] is True
    assert v.details["elle-cli"]["exit-code"] == 1
    rec = json.loads((tmp_path / "record.json").read_text())
    assert rec["opts"]["consistency-models"] == "strict-serializable"


def test_elle_cli_timeout_is_reported_not_fatal(fake_elle_cli: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_ELLE_SLEEP", "5")
    v = PLUGIN.make({"elle-cli": str(fake_elle_cli), "elle-cli-timeout": 0.5}).check(None, LOST, str(tmp_path))
    assert v.valid is False  # our own verdict stands
    assert "timed out" in v.details["elle-cli"]["error"]
    assert v.details["elle-cli"]["agrees"] is None


def test_missing_executable_is_reported(tmp_path: Path) -> None:
    v = PLUGIN.make({"elle-cli": str(tmp_path / "no-such-elle-cli")}).check(None, VALID, str(tmp_path))
    assert v.valid is True
    assert "not runnable" in v.details["elle-cli"]["error"]


def test_jar_runs_under_java() -> None:
    argv = command("/opt/elle-cli.jar", ElleOptions(workload="rw-register", anomalies=("G0", "G1")), "h.json")
    assert argv == ["java", "-jar", "/opt/elle-cli.jar", "--model", "rw-register", "--anomalies", "G0,G1", "h.json"]


def test_output_parsing() -> None:
    assert parse_output("h.json\tfalse\n", "h.json") is False
    assert parse_output("other\ttrue\n", "h.json") is True  # a single verdict line is ours
    assert parse_output("a\ttrue\nb\tunknown\n", "b") == UNKNOWN
    assert parse_output("Exception in thread main\n", "h.json") is None


def test_export_reads_back_through_the_elle_json_importer(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text(to_elle_json(LOST))
    back = load_history(os.fspath(path), "elle-json")
    assert [(o.type, o.process, o.value) for o in back] == [(o.type, o.process, o.value) for o in LOST]
