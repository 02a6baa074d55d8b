"""The op/history model and its JSONL codec."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import MalformedHistory
from harness.op import History, HistoryWriter, Op, read_jsonl
from harness.values import decode_value, encode_value

scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(allow_nan=False)
hashables = st.recursive(scalars, lambda c: st.tuples(c, c) | st.frozensets(c, max_size=3), max_leaves=6)
values = st.recursive(
    scalars,
    lambda c: st.lists(c, max_size=4)
    | st.tuples(c, c)
    | st.dictionaries(st.text(max_size=4), c, max_size=3)
    | st.dictionaries(hashables, c, max_size=3)
    | st.sets(hashables, max_size=3),
    max_leaves=12,
)


@st.composite
def ops(draw: st.DrawFn) -> Op:
    return Op(
        index=draw(st.integers(0, 10**6)),
        time_ns=draw(st.integers(0, 10**12)),
        type=draw(st.sampled_from(["invoke", "ok", "fail", "info"])),
        process=draw(st.integers(0, 50) | st.just("nemesis")),
        f=draw(st.sampled_from(["read", "write", "cas", "txn", "start-partition"])),
        value=draw(values),
        node=draw(st.none() | st.sampled_from(["n1", "n2"])),
        error=draw(st.none() | values),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(ops(), max_size=20))
def test_any_history_round_trips_through_jsonl(tmp_path_factory: pytest.TempPathFactory, op_list: list[Op]) -> None:
    path = tmp_path_factory.mktemp("h") / "history.jsonl"
    History(op_list).to_jsonl(path)
    back = History.from_jsonl(path)
    assert back == History(op_list)
    for a, b in zip(back, op_list):  # same types, not just equal values (tuple vs list, set vs frozenset)
        assert same(a.value, b.value) and same(a.error, b.error)


def same(a: object, b: object) -> bool:
    """Equal and of the same types all the way down."""
    if type(a) is not type(b) or a != b:
        return False
    if isinstance(a, (list, tuple)):
        return all(same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return all(same(k, k) and same(a[k], b[k]) for k in a)  # type: ignore[index]
    if isinstance(a, (set, frozenset)):
        return all(any(same(x, y) for y in b) for x in a)  # type: ignore[union-attr]
    return True


def test_tuples_lists_and_none_keep_their_types() -> None:
    v = [("r", "x", None), ["append", "y", 1], {1: (2, [3])}]
    assert same(decode_value(json.loads(json.dumps(encode_value(v)))), v)


def test_pairing_by_process_and_open_invocations() -> None:
    h = History.indexed(
        [
            Op(type="invoke", process=0, f="write", value=1),
            Op(type="invoke", process=1, f="read"),
            Op(type="ok", process=0, f="write", value=1),
            Op(type="invoke", process="nemesis", f="start"),
            Op(type="info", process="nemesis", f="start", value="cut"),
            Op(type="invoke", process=0, f="read"),
        ]
    )
    pairs = [(i.index, c.index if c else None) for i, c in h.pairs()]
    assert pairs == [(0, 2), (1, None), (3, 4), (5, None)]
    assert h.completion(h[0]) == h[2]
    assert h.invocation(h[2]) == h[0]
    assert h.completion(h[1]) is None
    assert [o.index for o in h.client_ops()] == [0, 1, 2, 5]
    assert [o.index for o in h.nemesis_ops()] == [3, 4]
    assert sorted(h.by_process(), key=str) == [0, 1, "nemesis"]


def test_writer_flushes_every_op_and_a_torn_last_line_is_ignored(tmp_path) -> None:
    path = tmp_path / "history.jsonl"
    w = HistoryWriter(path)
    w.append(Op(index=0, type="invoke", process=0, f="read"))
    w.append(Op(index=1, type="ok", process=0, f="read", value=3))
    # without closing, another reader sees both lines (flushed to the OS)
    assert len(list(read_jsonl(path))) == 2
    with open(path, "a") as fh:
        fh.write('{"index": 2, "type": "inv')  # a harness killed mid-write
    assert len(list(read_jsonl(path))) == 2
    w.close()


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"type":"ok","process":0,"f":"read"}\nnot json\n', ":2: not JSON"),
        ('{"type":"bogus","process":0,"f":"read"}\n', "unknown op type"),
        ('{"type":"ok","f":"read"}\n', "lacks the field 'process'"),
        ('[1,2]\n', "must be a JSON object"),
    ],
)
def test_malformed_histories_name_file_and_line(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(MalformedHistory, match=message) as e:
        list(read_jsonl(path))
    assert str(path) in str(e.value)
