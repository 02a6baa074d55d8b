"""Importers (harness.formats): every upstream history of tests/data loads with the right format, shape and
counts; bad input raises MalformedHistory naming file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import BadInput, ImpossibleHistory, MalformedHistory
from harness.formats import FORMATS, detect_format, load_history
from harness.op import History, Op
from tests.corpora import DATA, ELLE, ELLE_CLI, ELLE_CLI_MPRIMI, KNOSSOS, PORCUPINE


def _data_files(d: Path, pattern: str) -> list[Path]:
    files = sorted(d.glob(pattern))
    assert files, f"no {pattern} in {d}"
    return files


def _invocations(h: History) -> int:
    return sum(1 for op in h if op.type == "invoke")


@pytest.mark.parametrize("path", _data_files(PORCUPINE / "jepsen", "*.log"), ids=lambda p: p.name)
def test_porcupine_etcd_logs(path: Path) -> None:
    assert detect_format(path) == "porcupine-log"
    if path.name == "etcd_095.log":  # empty: "etcd cluster failed to start up in test 95"
        with pytest.raises(ImpossibleHistory, match="no operations"):
            load_history(path)
        return
    h = load_history(path)
    assert 73 <= _invocations(h) <= 90
    assert [op.index for op in h] == list(range(len(h)))
    for op in h:
        assert op.f in ("read", "write", "cas")
        assert isinstance(op.process, int)
        assert op.type != "fail" or op.f == "cas"  # failed reads became info (unknown output)
        if op.f == "cas" and op.error is None:
            assert isinstance(op.value, list) and len(op.value) == 2
        if op.error is not None:
            assert op.error == "timed-out" and op.type == "info" and op.value is None


def test_porcupine_etcd_totals() -> None:
    total = sum(_invocations(load_history(p)) for p in _data_files(PORCUPINE / "jepsen", "*.log")
                if p.name != "etcd_095.log")
    assert total == 8523  # Porcupine's 102 non-empty etcd logs


@pytest.mark.parametrize(
    ("name", "invocations"),
    [("c01-ok", 58), ("c01-bad", 38), ("c10-ok", 337), ("c10-bad", 405), ("c50-ok", 1712), ("c50-bad", 2024)],
)
def test_porcupine_kv(name: str, invocations: int) -> None:
    path = PORCUPINE / "kv" / f"{name}.txt"
    assert detect_format(path) == "porcupine-kv"
    h = load_history(path)
    assert _invocations(h) == invocations
    first = h[0]
    assert first.f in ("get", "put", "append")
    assert isinstance(first.value, tuple) and len(first.value) == 2 and isinstance(first.value[0], str)


KNOSSOS_COUNTS = {
    "bad-analysis.edn": 9,
    "cas-failure.edn": 291,
    "immediate-failure.edn": 2,
    "mongodb-v0-ack-rollback-6.edn": 746,
    "rethink-fail-minimal.edn": 4,
    "rethink-fail-smaller.edn": 250,
    "rethink-fail.edn": 250,
    "cas-register-bug.edn": 6,
    "multi-register.edn": 123,
    "etcd.edn": 563,
}


@pytest.mark.parametrize("path", _data_files(KNOSSOS, "**/*.edn"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_knossos_files(path: Path) -> None:
    assert detect_format(path) == "edn"
    h = load_history(path, repair=True)
    if path.name in KNOSSOS_COUNTS:
        assert _invocations(h) == KNOSSOS_COUNTS[path.name]
    indices = [op.index for op in h]
    assert indices == sorted(set(indices))
    for op in h:
        assert op.type in ("invoke", "ok", "fail", "info")
        assert isinstance(op.f, str)


def test_knossos_memstress_total() -> None:
    total = sum(_invocations(load_history(p)) for p in _data_files(KNOSSOS / "cas-register" / "good", "memstress3-*.edn"))
    assert total == 16349  # the 100 memstress3 histories


def test_knossos_nemesis_and_time() -> None:
    h = load_history(KNOSSOS / "cas-register" / "good" / "mongodb-v0-ack-rollback-.edn")
    assert h and all(op.process == "nemesis" for op in h)
    h = load_history(KNOSSOS / "multi-register" / "good" / "multi-register.edn", repair=True)
    assert h[0].time_ns == 7686455705
    assert h[0].value == [["read", "x", None]]


@pytest.mark.parametrize("stem", ["elle/paper-example", "jepsen/counter", "jepsen/bank", "jepsen/set_full",
                                  "knossos/mutex/bad/etcd", "knossos/cas-register/good/memstress3-9"])
def test_elle_cli_json_equals_its_edn(stem: str) -> None:
    base = ELLE_CLI
    j = load_history(base / f"{stem}.json", repair=True)
    e = load_history(base / f"{stem}.edn", repair=True)
    assert detect_format(base / f"{stem}.json") == "elle-json"
    assert len(j) == len(e) > 0
    for a, b in zip(j, e):
        assert (a.index, a.type, a.process, a.f) == (b.index, b.type, b.process, b.f)
        if a.f not in ("read",):  # bank reads: JSON object keys are strings, EDN's are ints
            assert a.value == b.value


def test_elle_transactions_and_defaults() -> None:
    h = load_history(ELLE / "histories" / "paper-example.edn")
    assert [op.index for op in h] == list(range(8))
    assert all(op.process == 0 and op.f == "txn" for op in h)  # no :process, no :f in the file
    assert h[1].value[0] == ["append", 253, 1]
    # Reused :index values (invoke and ok share one) are refused, and renumbered by position with --repair.
    with pytest.raises(ImpossibleHistory, match="index-not-increasing"):
        load_history(ELLE_CLI_MPRIMI / "list-ok.edn")
    h = load_history(ELLE_CLI_MPRIMI / "list-ok.edn", repair=True)
    assert [op.index for op in h] == list(range(len(h)))


# Real files that break a rule of harness.validate, and which: Jepsen's op times are read before the op is
# journaled, so they step back by microseconds; the mprimi extras reuse one index for an invocation and its
# completion; Porcupine's etcd_095 is empty (its cluster never started). --repair mends each; every other file of
# the corpora obeys every rule as it is.
NEEDS_REPAIR = {
    "elle/histories/huge-scc.edn": "time-goes-backwards",
    "elle-cli/jepsen/bank-tidb.edn": "time-goes-backwards",
    "elle-cli/knossos/cas-register/bad/rethink-fail-smaller.edn": "time-goes-backwards",
    "elle-cli/knossos/cas-register/bad/rethink-fail.edn": "time-goes-backwards",
    "elle-cli/knossos/mutex/bad/etcd.edn": "time-goes-backwards",
    "elle-cli/knossos/mutex/bad/etcd.json": "time-goes-backwards",
    **{f"elle-cli-mprimi/{n}.edn": "index-not-increasing"
       for n in ("list-fail", "list-ok", "rwregister-fail", "rwregister-ok")},
    "knossos/cas-register/bad/rethink-fail-smaller.edn": "time-goes-backwards",
    "knossos/cas-register/bad/rethink-fail.edn": "time-goes-backwards",
    "knossos/multi-register/good/multi-register.edn": "time-goes-backwards",
    "knossos/mutex/bad/etcd.edn": "time-goes-backwards",
    "porcupine/jepsen/etcd_095.log": "no-operations",
}


def _corpus() -> list[Path]:
    kinds = (".edn", ".json", ".log", ".txt")
    return sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix in kinds and p.name != "cases.json"
                  and p.parent.name != "LICENSES")


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.relative_to(DATA).as_posix())
def test_corpus_files_obey_the_rules_or_need_repair_for_a_known_reason(path: Path) -> None:
    rel = path.relative_to(DATA).as_posix()
    if rel not in NEEDS_REPAIR:
        assert len(load_history(path)) > 0
        return
    with pytest.raises(ImpossibleHistory) as e:
        load_history(path)
    assert e.value.rule == NEEDS_REPAIR[rel]
    if e.value.rule != "no-operations":
        assert len(load_history(path, repair=True)) > 0


def test_corpus_is_whole() -> None:
    assert len(_corpus()) > 250 and set(NEEDS_REPAIR) <= {p.relative_to(DATA).as_posix() for p in _corpus()}


def test_jsonl_is_detected_and_read(tmp_path: Path) -> None:
    h = History.indexed([
        Op(type="invoke", process=0, f="write", value=("k", 1), time_ns=5),
        Op(type="ok", process=0, f="write", value=("k", 1), time_ns=9),
    ])
    p = tmp_path / "history.jsonl"
    h.to_jsonl(p)
    assert detect_format(p) == "jsonl"
    assert load_history(p) == h
    assert load_history(p, "jsonl") == h


def test_formats_tuple() -> None:
    assert FORMATS == ("jsonl", "edn", "porcupine-log", "porcupine-kv", "elle-json")


@pytest.mark.parametrize(("name", "text"), [("empty.edn", ""), ("blank.jsonl", "\n  \n\n"), ("empty.json", "[]"),
                                          ("empty.log", "no events here\n")])
def test_empty_history_is_refused(tmp_path: Path, name: str, text: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ImpossibleHistory, match=r"no operations \(rule: no-operations\)") as ei:
        load_history(p, "porcupine-log" if name.endswith(".log") else None)
    assert ei.value.rule == "no-operations"


@pytest.mark.parametrize(
    ("name", "text", "fmt", "line", "fragment"),
    [
        ("a.edn", "{:type :invoke :f :read :process 1}\n{:type :bogus :f :read :process 1}\n", None, 2, ":type"),
        ("b.edn", "[{:type :invoke :f :read :process 1}\n {:type :ok :f :read\n", None, 2, "not EDN"),
        ("c.edn", "{:type :ok :f :read :process 1}\n{:type :ok :process [1]}\n", None, 2, ":process"),
        ("d.json", '[{"type": "invoke", "f": "read", "process": 0},\n{"type": "ok", "f": "read", "process": 0',
         "elle-json", 2, "not JSON"),
        ("e.json", '[{"type": "invoke", "process": 0},\n{"type": "nope", "process": 0}]', None, 2, ":type"),
        ("f.log", "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2\n", None, 1, "bad value"),
        ("g.log", "INFO  jepsen.util - 1\t:frobnicate\t:cas\t[1 2]\n", None, 1, "unknown op type"),
        ("h.txt", '{:process 9, :type :invoke, :f :get, :key "0", :value nil}\n{:process 9, :type :ok, :f :get}\n',
         None, 2, ":key"),
        ("i.jsonl", '{"index":0,"time_ns":0,"type":"invoke","process":0,"f":"r"}\n{"index":1,"time_ns"\n',
         None, 2, "not JSON"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path: Path, name: str, text: str, fmt: str | None, line: int,
                                              fragment: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(MalformedHistory) as ei:
        load_history(p, fmt)
    msg = str(ei.value)
    assert msg.startswith(f"{p}:{line}: "), msg
    assert fragment in msg
    assert "\n" not in msg


def test_unrecognised_and_missing(tmp_path: Path) -> None:
    p = tmp_path / "x.txt"
    p.write_text("hello world\n")
    with pytest.raises(MalformedHistory, match="unrecognised history format"):
        load_history(p)
    with pytest.raises(MalformedHistory, match="no such file"):
        load_history(tmp_path / "missing.edn")
    with pytest.raises(MalformedHistory, match="no such file"):
        load_history(tmp_path / "missing.jsonl", "jsonl")
    with pytest.raises(BadInput, match="unknown history format"):
        load_history(p, "xml")
    b = tmp_path / "bin.edn"
    b.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(MalformedHistory, match="UTF-8"):
        load_history(b, "edn")


def test_jepsen_history_edn_with_records_and_nemesis(tmp_path: Path) -> None:
    """Jepsen 0.3 writes one op per line, sometimes as `#jepsen.history.Op{...}` records; nemesis ops use
    `:process :nemesis`; independent keys are `[k v]` vectors."""
    p = tmp_path / "history.edn"
    p.write_text(
        "#jepsen.history.Op{:index 0, :time 10, :type :invoke, :process 0, :f :write, :value [3 1]}\n"
        "{:index 1, :time 20, :type :info, :process :nemesis, :f :start-partition, "
        ":value [:isolated {\"n1\" #{\"n2\" \"n3\"}}]}\n"
        "#jepsen.history.Op{:index 2, :time 30, :type :ok, :process 0, :f :write, :value [3 1], :node \"n1\"}\n"
        "{:index 3, :time 40, :type :invoke, :process 1, :f :read, :value [3 nil]}\n"
        "{:index 4, :time 50, :type :fail, :process 1, :f :read, :value [3 nil], :error [:timeout \"slow\"]}\n"
    )
    assert detect_format(p) == "edn"
    h = load_history(p)
    assert [op.index for op in h] == [0, 1, 2, 3, 4]
    assert h[0].time_ns == 10 and h[0].value == [3, 1]
    assert h[1].process == "nemesis" and h[1].value == ["isolated", {"n1": frozenset({"n2", "n3"})}]
    assert h[2].node == "n1"
    assert h[4].error == ["timeout", "slow"]
    # What we read, our JSONL keeps exactly.
    out = tmp_path / "history.jsonl"
    h.to_jsonl(out)
    assert load_history(out) == h
