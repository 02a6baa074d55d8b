"""Property: the harness's JSONL codec round-trips any history exactly, also through `harness.formats` (parsed,
before the rules of real histories are applied: random ops break them, see test_validate)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.formats import detect_format, parse_history
from harness.op import History, Op

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**62), 2**62), st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)
_hashables = st.recursive(_scalars, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
                          max_leaves=6)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=5), inner, max_size=3),
        st.dictionaries(_hashables, inner, max_size=3),
        st.frozensets(_hashables, max_size=3),
        st.sets(_hashables, max_size=3),
        st.binary(max_size=4),
    ),
    max_leaves=12,
)
_ops = st.builds(
    Op,
    time_ns=st.integers(0, 2**62),
    type=st.sampled_from(["invoke", "ok", "fail", "info"]),
    process=st.one_of(st.integers(0, 50), st.just("nemesis")),
    f=st.sampled_from(["read", "write", "cas", "txn", "start-partition"]),
    value=_values,
    node=st.one_of(st.none(), st.sampled_from(["n1", "n2"])),
    error=st.one_of(st.none(), _values),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ops, max_size=12))
def test_jsonl_round_trip(ops: list[Op]) -> None:
    h = History.indexed(ops)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "history.jsonl"
        h.to_jsonl(p)
        back = History.from_jsonl(p)
        assert back == h
        for a, b in zip(back, h):
            assert type(a.value) is type(b.value)
        if ops:
            assert detect_format(p) == "jsonl"
            assert History(parse_history(p).ops) == h
