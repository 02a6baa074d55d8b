"""An EDN reader: the text of Jepsen, Knossos and Elle histories turned into plain Python values.

Owns `loads` (one value), `load_stream` (every top-level value of a text) and `load_stream_positions` (the
same, with where each value starts, for error messages). Does not own what the values mean: turning op maps
into `harness.op.Op` is `harness.formats.jepsen`'s job.

Mapping, chosen so that histories compare and hash like the harness's own values:
keywords -> str without the colon (`:ok` -> "ok", `:a/b` -> "a/b"); symbols -> str; `nil` -> None;
`true`/`false` -> bool; vectors and lists -> list; maps -> dict, whose unhashable keys are made hashable
(lists -> tuples, maps -> tuples of pairs, sets -> frozensets); sets `#{}` -> frozenset (members made
hashable the same way); strings with the escapes \\" \\\\ \\n \\t \\r \\b \\f \\uXXXX; integers (also `42N`,
`0x2A`, `2r101`), floats (also `1.5M`, `##Inf`, `##-Inf`, `##NaN`), ratios `1/3` -> float; characters `\\a`,
`\\newline`, `\\space`, `\\tab`, `\\uXXXX` -> one-character str. `; comments`, `#_ discarded forms` and
`'quote` are skipped; tagged literals (`#inst "..."`, `#uuid "..."`, `#object[...]`) read as their value.
Bad input raises `EdnError` (a ValueError) with the line and column.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["EdnError", "hashable", "inner_positions", "load_stream", "load_stream_positions", "loads"]


class EdnError(ValueError):
    """Text that is not EDN. `line` and `column` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


# One token per match; whitespace and commas are skipped by `findall` because no alternative matches them.
_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # string
    r"|;[^\n]*"  # comment
    r"|\#[{_]"  # set opener, discard
    r"|\#\#?[^\s,\[\]{}()\"';]*"  # tag (#inst, #object), or ##Inf / ##NaN
    r"|\\(?:u[0-9a-fA-F]{4}|[a-z]+|.)"  # character
    r"|[\[\]{}()']"  # delimiters, quote
    r"|[^\s,\[\]{}()\"';\\]+"  # atom: number, keyword, symbol
    r"|[^\s,]",  # anything else (an unterminated string): an error
    re.DOTALL,
)
_STRING_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r", "backspace": "\b", "formfeed": "\f"}
_INT = re.compile(r"[+-]?\d+N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?M?")
_RATIO = re.compile(r"([+-]?\d+)/(\d+)")
_RADIX = re.compile(r"([+-]?)(\d+)r([0-9a-zA-Z]+)")
_HEX = re.compile(r"[+-]?0[xX][0-9a-fA-F]+N?")
_SPECIAL_FLOATS = {"##Inf": float("inf"), "##-Inf": float("-inf"), "##NaN": float("nan")}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}


def hashable(x: object) -> object:
    """`x` made usable as a dict key or set member: lists -> tuples, dicts -> tuples of pairs, sets ->
    frozensets, recursively; hashable values unchanged."""
    if isinstance(x, list):
        return tuple(hashable(i) for i in x)
    if isinstance(x, dict):
        return tuple((hashable(k), hashable(v)) for k, v in x.items())
    if isinstance(x, set):
        return frozenset(hashable(i) for i in x)
    return x


def _unescape(tok: str) -> str:
    body = tok[1:-1]
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] == "u" and len(e) == 5:
            return chr(int(e[1:], 16))
        try:
            return _ESCAPES[e]
        except KeyError:
            raise ValueError(f"unknown string escape \\{e}") from None

    return _STRING_ESCAPE.sub(one, body)


def _atom(tok: str) -> object:
    c = tok[0]
    if c == ":":
        return tok.lstrip(":")
    if c.isdigit() or (c in "+-" and len(tok) > 1 and tok[1].isdigit()):
        if _INT.fullmatch(tok):
            return int(tok.rstrip("N"))
        if _FLOAT.fullmatch(tok):
            return float(tok.rstrip("M"))
        m = _RATIO.fullmatch(tok)
        if m:
            return int(m.group(1)) / int(m.group(2))
        if _HEX.fullmatch(tok):
            return int(tok.rstrip("N"), 16)
        m = _RADIX.fullmatch(tok)
        if m:
            n = int(m.group(3), int(m.group(2)))
            return -n if m.group(1) == "-" else n
        raise ValueError(f"bad number {tok!r}")
    if tok == "nil":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    return tok  # a symbol


class _Reader:
    """Recursive descent over the token list of one text."""

    __slots__ = ("atoms", "i", "text", "toks")

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[str] = [t for t in _TOKEN.findall(text) if t[0] != ";"]
        self.i = 0
        # Values of atom and string tokens already read (immutable, so shared): histories repeat the same
        # keywords and small numbers on every line.
        self.atoms: dict[str, object] = {}

    def error(self, message: str, tok_index: int | None = None) -> EdnError:
        """An EdnError placed at token `tok_index` (default: the current one; past the end: end of text)."""
        k = self.i if tok_index is None else tok_index
        pos = len(self.text)
        n = 0
        for m in _TOKEN.finditer(self.text):
            if m.group(0)[0] == ";":
                continue
            if n == k:
                pos = m.start()
                break
            n += 1
        line = self.text.count("\n", 0, pos) + 1
        column = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return EdnError(message, line, column)

    def at_end(self) -> bool:
        return self.i >= len(self.toks)

    def form(self) -> object:
        """The next form, skipping discarded ones."""
        while True:
            v = self._form()
            if v is not _DISCARDED:
                return v

    def _form(self) -> object:
        toks = self.toks
        if self.i >= len(toks):
            raise self.error("unexpected end of input")
        tok = toks[self.i]
        self.i += 1
        c = tok[0]
        if c == "[" or c == "(":
            return self._seq(_CLOSERS[tok])
        if c == "{":
            items = self._seq("}")
            if len(items) % 2:
                raise self.error("a map needs an even number of forms", self.i - 1)
            try:
                return dict(zip(items[::2], items[1::2]))
            except TypeError:  # an unhashable key (a vector or map): made hashable
                return self._map_slow(items)
        if c == '"':
            if len(tok) < 2 or tok[-1] != '"':
                raise self.error("unterminated string", self.i - 1)
            try:
                s = _unescape(tok)
            except ValueError as e:
                raise self.error(str(e), self.i - 1) from None
            self.atoms[tok] = s
            return s
        if c == "#":
            if tok == "#{":
                return frozenset(hashable(x) for x in self._seq("}"))
            if tok == "#_":
                self.form()
                return _DISCARDED
            if tok in _SPECIAL_FLOATS:
                return _SPECIAL_FLOATS[tok]
            if len(tok) == 1:
                raise self.error("a lone '#'", self.i - 1)
            return self.form()  # tagged literal: its value
        if c == "'":
            return self.form()
        if c == "\\":
            name = tok[1:]
            if len(name) == 1:
                return name
            if name in _CHARS:
                return _CHARS[name]
            if name[0] == "u" and len(name) == 5:
                return chr(int(name[1:], 16))
            raise self.error(f"unknown character {tok!r}", self.i - 1)
        if c in "]})":
            raise self.error(f"unexpected {tok!r}", self.i - 1)
        try:
            v = _atom(tok)
        except ValueError as e:
            raise self.error(str(e), self.i - 1) from None
        self.atoms[tok] = v
        return v

    def _map_slow(self, items: list[object]) -> dict[object, object]:
        out: dict[object, object] = {}
        for j in range(0, len(items), 2):
            k = items[j]
            try:
                hash(k)
            except TypeError:
                k = hashable(k)
            out[k] = items[j + 1]
        return out

    def _seq(self, closer: str) -> list[object]:
        start = self.i - 1
        out: list[object] = []
        toks = self.toks
        n = len(toks)
        atoms = self.atoms
        while True:
            if self.i >= n:
                raise self.error(f"unclosed {toks[start]!r}: expected {closer!r}", start)
            tok = toks[self.i]
            if tok == closer:
                self.i += 1
                return out
            v = atoms.get(tok, _DISCARDED)
            if v is not _DISCARDED:
                self.i += 1
                out.append(v)
                continue
            if tok in ("]", "}", ")"):
                raise self.error(f"expected {closer!r} but found {tok!r}")
            v = self._form()
            if v is not _DISCARDED:
                out.append(v)


_DISCARDED = object()


def load_stream_positions(text: str) -> list[tuple[Any, int]]:
    """Every top-level value of `text` with the 1-based line it starts on."""
    r = _Reader(text)
    starts: list[int] = []
    out: list[object] = []
    while not r.at_end():
        if r.toks[r.i] == "#_":
            r.i += 1
            r.form()
            continue
        starts.append(r.i)
        out.append(r.form())
    return list(zip(out, _lines_of_tokens(text, starts)))


def _lines_of_tokens(text: str, token_indices: list[int]) -> list[int]:
    """The 1-based line of each token index (sorted), in one pass over the text."""
    want = set(token_indices)
    found: dict[int, int] = {}
    if not want:
        return []
    line = 1
    last = 0
    n = 0
    for m in _TOKEN.finditer(text):
        if m.group(0)[0] == ";":
            continue
        if n in want:
            line += text.count("\n", last, m.start())
            last = m.start()
            found[n] = line
            if len(found) == len(want):
                break
        n += 1
    return [found.get(k, line) for k in token_indices]


def load_stream(text: str) -> list[object]:
    """Every top-level value of `text`, in order (an empty text gives [])."""
    r = _Reader(text)
    out: list[object] = []
    while not r.at_end():
        if r.toks[r.i] == "#_":
            r.i += 1
            r.form()
            continue
        out.append(r.form())
    return out


def loads(text: str) -> object:
    """The one value of `text`; EdnError if there is none or more than one."""
    r = _Reader(text)
    if r.at_end():
        raise r.error("no value")
    v = r.form()
    while not r.at_end() and r.toks[r.i] == "#_":
        r.i += 1
        r.form()
    if not r.at_end():
        raise r.error("more than one value")
    return v


def inner_positions(text: str) -> list[tuple[object, int]] | None:
    """If `text` is one vector or list, its elements with the 1-based line each starts on; else None.

    Used to name the line of a bad op in a Knossos-style history (one vector of op maps)."""
    r = _Reader(text)
    if r.at_end() or r.toks[0] not in ("[", "("):
        return None
    closer = _CLOSERS[r.toks[0]]
    r.i = 1
    starts: list[int] = []
    out: list[object] = []
    while True:
        if r.at_end():
            raise r.error(f"unclosed {r.toks[0]!r}: expected {closer!r}", 0)
        tok = r.toks[r.i]
        if tok == closer:
            r.i += 1
            break
        if tok == "#_":
            r.i += 1
            r.form()
            continue
        starts.append(r.i)
        out.append(r.form())
    if not r.at_end():
        return None
    return list(zip(out, _lines_of_tokens(text, starts)))
