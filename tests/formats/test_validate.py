"""MUST SHOW: `harness check` refuses impossible histories before any checker runs, in our JSONL and through
every importer (Jepsen/Knossos EDN, elle-cli JSON, Porcupine logs and kv lines): one line naming the file, the
line and the rule, exit 254. `--repair` mends what has a safe reading and says what it changed; an empty file is
"no operations"; a torn last line is a warning and the rest is checked; a value nested too deeply is 254, not a
RecursionError. And the other side: every history a simulated real system produces passes the rules."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.cli import main
from harness.errors import ImpossibleHistory
from harness.formats import read_history
from harness.op import History, Op
from harness.validate import Parsed, Rule, validate
from tests.checkers.sim import BankModel, CounterModel, SetModel
from tests.checkers.sim import simulate as simulate_invariant
from tests.elle.sim import simulate as simulate_txns
from tests.linearizable.sim import OBJECTS
from tests.linearizable.sim import simulate as simulate_object

# An op: (index, time, type, process, f, value). Each case breaks its rule on the op at `bad` (0-based).
Row = tuple[int, int, str, Any, str, Any]
CASES: dict[Rule, tuple[list[Row], int]] = {
    Rule.COMPLETION_WITHOUT_INVOCATION: ([(0, 10, "invoke", 0, "write", 1), (1, 20, "ok", 0, "write", 1),
                                          (2, 30, "ok", 1, "read", 1)], 2),
    Rule.INVOKED_WHILE_PENDING: ([(0, 10, "invoke", 0, "write", 1), (1, 20, "invoke", 0, "read", None),
                                  (2, 30, "ok", 0, "read", 1)], 1),
    Rule.F_DIFFERS: ([(0, 10, "invoke", 1, "write", 2), (1, 15, "ok", 1, "write", 2),
                      (2, 20, "invoke", 0, "write", 1), (3, 30, "ok", 0, "read", 1)], 3),
    Rule.INDEX_NOT_INCREASING: ([(0, 10, "invoke", 0, "write", 1), (2, 20, "ok", 0, "write", 1),
                                 (1, 30, "invoke", 1, "read", None), (3, 40, "ok", 1, "read", 1)], 2),
    Rule.TIME_BACKWARDS: ([(0, 10, "invoke", 0, "write", 1), (1, 50, "ok", 0, "write", 1),
                           (2, 40, "invoke", 1, "read", None), (3, 60, "ok", 1, "read", 1)], 2),
    Rule.MICRO_OP_WITHOUT_VALUE: ([(0, 10, "invoke", 0, "txn", [["append", "x", 1]]),
                                   (1, 20, "ok", 0, "txn", [["append", "x", 1]]),
                                   (2, 30, "invoke", 1, "txn", [["append", "x"]]),
                                   (3, 40, "ok", 1, "txn", [["append", "x"]])], 2),
}


# --- writers: the same ops in every format -------------------------------------------------------------------

def _edn(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, str):
        return f":{v}"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_edn(x) for x in v) + "]"
    return json.dumps(v)


def jsonl(rows: list[Row]) -> str:
    return "".join(json.dumps({"index": i, "time_ns": t, "type": ty, "process": p, "f": f, "value": v}) + "\n"
                   for i, t, ty, p, f, v in rows)


def edn(rows: list[Row]) -> str:
    return "".join(f"{{:index {i} :time {t} :type :{ty} :process {p} :f :{f} :value {_edn(v)}}}\n"
                   for i, t, ty, p, f, v in rows)


def elle_json(rows: list[Row]) -> str:
    items = [json.dumps({"index": i, "time": t, "type": ty, "process": p, "f": f, "value": v})
             for i, t, ty, p, f, v in rows]
    return "[" + ",\n".join(items) + "]\n"


def porcupine_log(rows: list[Row]) -> str:
    return "".join(f"INFO  jepsen.util - {p}\t:{ty}\t:{f}\t{_edn(v)}\n" for _i, _t, ty, p, f, v in rows)


def porcupine_kv(rows: list[Row]) -> str:
    return "".join(f'{{:process {p}, :type :{ty}, :f :{f}, :key "k", :value {_edn(v)}, :time {t}}}\n'
                   for _i, t, ty, p, f, v in rows)


Writer = Callable[[list[Row]], str]
FORMATS: dict[str, tuple[str, Writer, frozenset[Rule]]] = {
    # format: (file name, writer, the rules the format can express: Porcupine logs carry no index or time,
    # its kv lines are numbered by position and hold (key, value) pairs, never transactions)
    "jsonl": ("history.jsonl", jsonl, frozenset(CASES)),
    "edn": ("history.edn", edn, frozenset(CASES)),
    "elle-json": ("history.json", elle_json, frozenset(CASES)),
    "porcupine-log": ("etcd.log", porcupine_log,
                      frozenset(CASES) - {Rule.INDEX_NOT_INCREASING, Rule.TIME_BACKWARDS}),
    "porcupine-kv": ("kv.txt", porcupine_kv,
                     frozenset(CASES) - {Rule.INDEX_NOT_INCREASING, Rule.MICRO_OP_WITHOUT_VALUE}),
}
MATRIX = [pytest.param(fmt, rule, id=f"{fmt}-{rule.value}") for fmt, (_n, _w, rules) in FORMATS.items()
          for rule in CASES if rule in rules]


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`harness check ...` through the real entry point (exit code mapping included), in this process."""
    with pytest.raises(SystemExit) as e:
        main(["check", *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize(("fmt", "rule"), MATRIX)
def test_impossible_history_is_one_line_naming_file_line_and_rule(
        fmt: str, rule: Rule, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, writer, _ = FORMATS[fmt]
    rows, bad = CASES[rule]
    path = tmp_path / name
    path.write_text(writer(rows))
    code, out, err = check(capsys, "--format", fmt, "--out-dir", str(tmp_path / "out"), str(path))
    assert code == 254, err
    assert out == ""  # refused before any checker ran
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}:{bad + 1}: " in err and f"(rule: {rule.value})" in err, err


@pytest.mark.parametrize(("fmt", "rule"), MATRIX)
def test_repair_mends_and_says_what_it_changed(fmt: str, rule: Rule, tmp_path: Path) -> None:
    name, writer, _ = FORMATS[fmt]
    rows, bad = CASES[rule]
    path = tmp_path / name
    path.write_text(writer(rows))
    v = read_history(path, fmt, repair=True)
    assert [r.rule for r in v.repairs] == [rule]
    assert v.repairs[0].first == f"line {bad + 1}" and v.repairs[0].count == 1
    validate(Parsed(path=str(path), ops=list(v.history), lines=[None] * len(v.history)))  # obeys every rule now


def test_repairs_in_detail(tmp_path: Path) -> None:
    def repaired(rule: Rule) -> History:
        p = tmp_path / f"{rule.value}.jsonl"
        p.write_text(jsonl(CASES[rule][0]))
        return read_history(p, repair=True).history

    h = repaired(Rule.COMPLETION_WITHOUT_INVOCATION)
    assert [(o.type, o.process, o.f, o.value) for o in h][2:] == [("invoke", 1, "read", 1), ("ok", 1, "read", 1)]
    assert h[2].time_ns == h[3].time_ns == 30  # the zero-width interval the checkers assumed
    h = repaired(Rule.INVOKED_WHILE_PENDING)
    assert [(o.type, o.f) for o in h] == [("invoke", "read"), ("ok", "read")]
    assert [(o.type, o.process) for o in repaired(Rule.F_DIFFERS)] == [("invoke", 1), ("ok", 1)]
    assert [o.index for o in repaired(Rule.INDEX_NOT_INCREASING)] == [0, 1, 2, 3]
    assert [o.time_ns for o in repaired(Rule.TIME_BACKWARDS)] == [10, 50, 50, 60]
    assert [o.process for o in repaired(Rule.MICRO_OP_WITHOUT_VALUE)] == [0, 0]


def test_cli_repair_reports_each_repair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(jsonl(CASES[Rule.TIME_BACKWARDS][0]))
    code, out, err = check(capsys, "--repair", "--checker", "linearizable", "--model", "register",
                           "--out-dir", str(tmp_path / "o"), str(path))
    assert code == 0 and out == f"{path}\tvalid\n"
    assert f"{path}: --repair: 1 x time-goes-backwards (first at line 3): raised each such time" in err


@pytest.mark.parametrize(("name", "text"), [("empty.jsonl", ""), ("blank.jsonl", "\n \n\t\n"), ("empty.edn", ""),
                                            ("empty.json", "[]")])
def test_empty_history_is_no_operations(name: str, text: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / name
    path.write_text(text)
    code, out, err = check(capsys, "--out-dir", str(tmp_path / "o"), str(path))
    assert (code, out) == (254, "")
    assert err == f"harness: {path}: no operations (rule: no-operations)\n"


def test_torn_last_line_is_named_and_the_rest_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [(0, 10, "invoke", 0, "write", 1), (1, 20, "ok", 0, "write", 1), (2, 30, "invoke", 1, "read", None),
            (3, 40, "ok", 1, "read", 2)]
    path = tmp_path / "history.jsonl"
    path.write_text(jsonl(rows)[:-25])  # a killed run: the last line stops mid-object
    code, out, err = check(capsys, "--checker", "linearizable", "--model", "register", "--out-dir",
                           str(tmp_path / "o"), str(path))
    assert code == 0 and out == f"{path}\tvalid\n"
    assert f"warning: {path}:4: the last line is cut off (a killed run leaves one); checked the 3 ops before it" in err
    path.write_text(jsonl(rows))  # the whole line: read 2 was never written
    code, out, _ = check(capsys, "--checker", "linearizable", "--model", "register", "--out-dir",
                         str(tmp_path / "o"), str(path))
    assert code == 1 and out == f"{path}\tinvalid\n"


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("depth", [150, 100_000])
def test_deeply_nested_value_is_bad_input(fmt: str, depth: int, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    name, writer, _ = FORMATS[fmt]
    deep: Any = []
    for _ in range(depth - 1):
        deep = [deep]
    path = tmp_path / name
    try:
        text = writer([(0, 10, "invoke", 0, "write", deep), (1, 20, "ok", 0, "write", deep)])
    except RecursionError:  # our own writer cannot serialise it: build the text by hand
        text = writer([(0, 10, "invoke", 0, "write", "DEEP"), (1, 20, "ok", 0, "write", "DEEP")])
        opened, closed = ("[" * depth, "]" * depth)
        text = text.replace('"DEEP"', opened + closed).replace(":DEEP", opened + closed)
    path.write_text(text)
    code, out, err = check(capsys, "--format", fmt, "--out-dir", str(tmp_path / "o"), str(path))
    assert (code, out) == (254, "")
    assert err.startswith(f"harness: {path}") and "nested" in err and err.count("\n") == 1, err
    assert "RecursionError" not in err and "Traceback" not in err


def test_nothing_left_after_repair_is_no_operations(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(jsonl([(0, 10, "invoke", 0, "write", 1), (1, 20, "ok", 0, "read", 1)]))
    with pytest.raises(ImpossibleHistory, match="no operations left after --repair"):
        read_history(path, repair=True)


def test_nemesis_ops_may_complete_without_invocation() -> None:
    """Older Jepsen histories log faults as `info` only; a nemesis op is not a client op."""
    ops = [Op(index=0, type="info", process="nemesis", f="start-partition", value="majority"),
           Op(index=1, type="invoke", process=0, f="read", value=None),
           Op(index=2, type="ok", process=0, f="read", value=None),
           Op(index=3, type="info", process="nemesis", f="stop-partition", value=None)]
    assert validate(Parsed(path="x", ops=ops, lines=[1, 2, 3, 4])).history == History(ops)


def test_refusal_is_a_type_with_its_rule(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(jsonl(CASES[Rule.F_DIFFERS][0]))
    with pytest.raises(ImpossibleHistory) as e:
        read_history(path)
    assert e.value.rule == Rule.F_DIFFERS.value and e.value.line == 4 and e.value.path == str(path)


# --- soundness: real histories always pass ---------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), obj=st.sampled_from(sorted(OBJECTS)), processes=st.integers(1, 6))
def test_linearizable_simulations_pass(seed: int, obj: str, processes: int) -> None:
    h = simulate_object(OBJECTS[obj][0], random.Random(seed), n_ops=40, processes=processes, crash_rate=0.1,
                        fail_rate=0.1)
    if len(h):
        assert validate(Parsed(path="sim", ops=list(h), lines=[None] * len(h))).repairs == ()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), workload=st.sampled_from(["list-append", "rw-register"]),
       concurrency=st.integers(1, 5))
def test_transaction_simulations_pass(seed: int, workload: str, concurrency: int) -> None:
    h = simulate_txns(seed, workload=workload, concurrency=concurrency)
    assert validate(Parsed(path="sim", ops=list(h), lines=[None] * len(h))).history == h


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), model=st.sampled_from([SetModel, CounterModel, BankModel]))
def test_invariant_simulations_pass(seed: int, model: Any) -> None:
    h = simulate_invariant(model(), seed, 40)
    assert validate(Parsed(path="sim", ops=list(h), lines=[None] * len(h))).history == h


_ROW = st.tuples(st.integers(-2, 12), st.integers(0, 40), st.sampled_from(["invoke", "ok", "fail", "info"]),
                 st.one_of(st.integers(0, 3), st.just("nemesis"), st.just(True)),
                 st.sampled_from(["read", "write", "txn"]),
                 st.one_of(st.none(), st.integers(0, 3), st.lists(st.integers(0, 2), max_size=2),
                           st.lists(st.lists(st.sampled_from(["r", "append", 1]), max_size=3), max_size=2)))


def _one_by_one(parsed: Parsed, repair: bool) -> object:
    from harness.validate import _Validator  # the op-by-op path, which validate() skips when nothing breaks

    v = _Validator(parsed, repair)
    try:
        for pos, op in enumerate(parsed.ops):
            v.step(pos, op)
        got = v.result()
    except ImpossibleHistory as e:
        return ("refused", str(e))
    return (list(got.history), got.repairs, got.warnings)


def _same_as_one_by_one(ops: list[Op], repair: bool) -> None:
    """validate() returns or refuses `ops` exactly as the op-by-op validator does."""
    parsed = Parsed(path="h.edn", ops=ops, lines=list(range(1, len(ops) + 1)))
    try:
        got = validate(parsed, repair=repair)
        fast: object = (list(got.history), got.repairs, got.warnings)
    except ImpossibleHistory as e:
        fast = ("refused", str(e))
    assert fast == _one_by_one(parsed, repair)


@settings(max_examples=400, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=8), sorted_rows=st.booleans(), repair=st.booleans())
def test_the_one_pass_shortcut_gives_what_the_validator_gives(rows: list[Row], sorted_rows: bool,
                                                              repair: bool) -> None:
    # validate() returns the ops as they are when one cheap pass finds no rule broken; whatever it returns or
    # raises must be exactly what the op-by-op validator gives.
    if sorted_rows:
        rows = sorted(rows, key=lambda r: (r[0], r[1]))
    ops = [Op(index=i, time_ns=t, type=ty, process=p, f=f, value=v) for i, t, ty, p, f, v in rows]  # type: ignore[arg-type]
    _same_as_one_by_one(ops, repair)


@settings(max_examples=300, deadline=None)
@given(calls=st.lists(st.tuples(st.one_of(st.integers(0, 3), st.just("nemesis")), st.sampled_from(["read", "write"]),
                                st.one_of(st.none(), st.integers(0, 3), st.tuples(st.just("k"), st.integers(0, 2))),
                                st.sampled_from(["ok", "fail", "info"])), min_size=1, max_size=8),
       swap=st.tuples(st.integers(0, 15), st.integers(0, 15)), numbered=st.booleans(), repair=st.booleans())
def test_the_shortcut_on_histories_that_nearly_obey(calls: list[tuple[Any, str, Any, str]], swap: tuple[int, int],
                                                    numbered: bool, repair: bool) -> None:
    # Well-formed histories (each call invoked then completed), a third left so, the rest with two ops swapped:
    # a completion before its invocation, an index or a time stepping back.
    rows: list[Row] = []
    for p, f, v, outcome in calls:
        rows += [(len(rows), len(rows) * 10, "invoke", p, f, v), (len(rows) + 1, len(rows) * 10 + 5, outcome, p, f, v)]
    if swap[0] % 3:  # else left clean: the shortcut's own case
        i, j = swap[0] % len(rows), swap[1] % len(rows)
        rows[i], rows[j] = rows[j], rows[i]
    ops = [Op(index=ix if numbered else -1, time_ns=t, type=ty, process=p, f=f, value=v)  # type: ignore[arg-type]
           for ix, t, ty, p, f, v in rows]
    _same_as_one_by_one(ops, repair)
