"""Unit tests of the EDN reader (harness.formats.edn)."""

from __future__ import annotations

import math

import pytest

from harness.formats.edn import (
    EdnError,
    hashable,
    inner_positions,
    load_stream,
    load_stream_positions,
    loads,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("nil", None),
        ("true", True),
        ("false", False),
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("42N", 42),
        ("0x1F", 31),
        ("2r101", 5),
        ("1.5", 1.5),
        ("-2.5e3", -2500.0),
        ("1.25M", 1.25),
        ("1/4", 0.25),
        (":ok", "ok"),
        (":jepsen.checker/valid?", "jepsen.checker/valid?"),
        ("::auto", "auto"),
        ("some-symbol", "some-symbol"),
        (r'"a \"quoted\" \\ line\n\ttab \u00e9"', 'a "quoted" \\ line\n\ttab \u00e9'),
        ('""', ""),
        (r"\a", "a"),
        (r"\newline", "\n"),
        (r"\space", " "),
        (r"\u0041", "A"),
        ("[1 2 [3]]", [1, 2, [3]]),
        ("(1 2)", [1, 2]),
        ("[]", []),
        ("{}", {}),
        ("#{}", frozenset()),
        ("#{1 2 2}", frozenset({1, 2})),
        ("#{[1 2] [3]}", frozenset({(1, 2), (3,)})),
        ("{:a 1, :b [nil :x]}", {"a": 1, "b": [None, "x"]}),
        ("{[1 2] :v {:k 1} :w}", {(1, 2): "v", (("k", 1),): "w"}),
        ("{#{1} 2}", {frozenset({1}): 2}),
        ('#inst "2020-01-01T00:00:00Z"', "2020-01-01T00:00:00Z"),
        ("#object[clojure.lang.Atom 0x1 {:val 3}]", ["clojure.lang.Atom", 1, {"val": 3}]),
        ("[1 #_ 2 3]", [1, 3]),
        ("[1 #_ #_ 2 3 4]", [1, 4]),
        ("; a comment\n[1 ; another\n 2]", [1, 2]),
        ("'(1 2)", [1, 2]),
        ("[1,2,,3]", [1, 2, 3]),
    ],
)
def test_loads_values(text: str, value: object) -> None:
    got = loads(text)
    assert got == value
    assert type(got) is type(value)


def test_special_floats() -> None:
    assert loads("##Inf") == math.inf
    assert loads("##-Inf") == -math.inf
    assert math.isnan(loads("##NaN"))


def test_stream_and_positions() -> None:
    text = "; header\n{:a 1}\n#_ {:skip 1}\n{:b\n 2} [3]\n"
    assert load_stream(text) == [{"a": 1}, {"b": 2}, [3]]
    assert load_stream_positions(text) == [({"a": 1}, 2), ({"b": 2}, 4), ([3], 5)]
    assert load_stream("") == []
    assert load_stream("  ; only a comment\n") == []


def test_inner_positions() -> None:
    assert inner_positions("[{:a 1}\n {:b 2}\n]") == [({"a": 1}, 1), ({"b": 2}, 2)]
    assert inner_positions("{:a 1}") is None
    assert inner_positions("[1] [2]") is None


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("{:a", 1, "unclosed"),
        ('"abc', 1, "unterminated"),
        ("[1 2}", 1, "expected ']'"),
        ("{:a 1 :b}", 1, "even number"),
        ("\n\n)", 3, "unexpected"),
        ("1 2", 1, "more than one"),
        (r'"\q"', 1, "escape"),
        ("", 1, "no value"),
        ("12abc", 1, "bad number"),
        (r"\bogus", 1, "unknown character"),
    ],
)
def test_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(EdnError) as ei:
        loads(text)
    assert ei.value.line == line
    assert fragment in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_hashable() -> None:
    assert hashable([1, [2, {3}], {"a": [1]}]) == (1, (2, frozenset({3})), (("a", (1,)),))
    assert hash(hashable([1, [2, {3}], {"a": [1]}]))
