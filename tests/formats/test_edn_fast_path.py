"""The line-per-op fast path of the EDN importers (`harness.formats.jepsen.simple_op_lines`) gives exactly what
the EDN reader gives, with the same lines, on every upstream file it takes, and hands every other text to the
reader."""

from __future__ import annotations

import pytest

from harness.formats import edn
from harness.formats.jepsen import simple_op_lines
from tests.corpora import DATA


def _reader(text: str) -> list[tuple[object, int]]:
    inner = edn.inner_positions(text)
    return inner if inner is not None else edn.load_stream_positions(text)


FILES = sorted(DATA.glob("**/*.edn")) + sorted((DATA / "porcupine" / "kv").glob("*.txt"))


def test_same_as_the_reader_on_upstream_files() -> None:
    taken = 0
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        fast = simple_op_lines(text)
        if fast is not None:
            taken += 1
            assert fast == _reader(text), path
    assert taken >= 100  # Knossos's files and Porcupine's kv files are all one flat map per line


@pytest.mark.parametrize("text", [
    '{:type :invoke, :f :read, :value 1.5}',  # a float
    '{:type :invoke, :f :txn, :value [[:r :x 1]]}',  # nested vectors
    '{:type :invoke, :f :read, :value "a\\"b"}',  # an escape
    '{:type :invoke, :f :read, :value nil} ; a comment',
    '{:type :invoke, :f :read, :value #inst "2020"}',
    '{:type :invoke} {:type :ok}',  # two maps on a line
    '[{:type :invoke, :value 12N}]',
    '[{:type :invoke, :value 1}',  # unclosed vector
    '{:type :invoke, :value nilly}',
])
def test_anything_else_goes_to_the_reader(text: str) -> None:
    assert simple_op_lines(text) is None


def test_values_and_lines() -> None:
    text = '; a comment\n[{:process 0, :type :invoke, :f :cas, :value [1 nil], :node "n1"}\n\n {:process 0,' \
           ' :type :ok, :f :cas, :value [-1 2], :ok? true, :error :a/b}]\n'
    got = simple_op_lines(text)
    assert got == _reader(text)
    assert got == [({"process": 0, "type": "invoke", "f": "cas", "value": [1, None], "node": "n1"}, 2),
                   ({"process": 0, "type": "ok", "f": "cas", "value": [-1, 2], "ok?": True, "error": "a/b"}, 4)]
    assert simple_op_lines('[{:type :ok}]', vector=False) is None


def test_each_op_gets_its_own_vector() -> None:
    # Values are shared between lines where they cannot change (ints, keywords, strings); a vector is a list,
    # so a checker that mutated one op's value would otherwise change another's.
    got = simple_op_lines('[{:type :invoke, :f :cas, :value [1 2]}\n {:type :ok, :f :cas, :value [1 2]}]')
    assert got is not None
    (a, _), (b, _) = got
    assert isinstance(a, dict) and isinstance(b, dict)
    assert a["value"] == b["value"] == [1, 2] and a["value"] is not b["value"]


def test_porcupine_kv_lines_same_as_the_maps() -> None:
    from harness.formats.porcupine import _kv_lines, _kv_maps

    for path in sorted((DATA / "porcupine" / "kv").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        fast = _kv_lines(text, str(path))
        assert fast is not None, path  # every upstream kv line has the one shape
        general = _kv_maps(text, str(path))
        assert fast.ops == general.ops and fast.lines == general.lines, path


@pytest.mark.parametrize("text", [
    '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n; a comment\n',
    '{:process 0, :type :invoke, :f :get, :key "1", :value nil}\n\n',  # a blank line: its line numbers differ
    '{:type :invoke, :process 0, :f :get, :key "1", :value nil}',  # another order
    '{:process 0, :type :invoke, :f :get, :key "1", :value "a\\"b"}',  # an escape
    '{:process 0, :type :invoke, :f :get, :key "1", :value nil, :time 5}',
    '',
])
def test_porcupine_kv_anything_else_goes_to_the_maps(text: str) -> None:
    from harness.formats.porcupine import _kv_lines

    assert _kv_lines(text, "f") is None
