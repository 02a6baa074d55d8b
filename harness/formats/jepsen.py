"""Importers of op-map histories: Jepsen `history.edn`, Knossos EDN and elle-cli JSON.

Owns turning one op map (keys already plain strings) into `harness.op.Op`, and reading the two file shapes
that hold such maps: EDN (one vector or list of op maps, or a stream of maps, one per line or spread over
lines) and elle-cli JSON (an array of op objects, keywords written as strings). Does not own EDN syntax
(`harness.formats.edn`), the Porcupine formats (`harness.formats.porcupine`) nor format detection.

Conventions, the same for every importer:
- `:index` is kept; a file without any index is numbered by position. Indexes that do not increase (some
  hand-written files reuse one for an invocation and its completion) break a rule of `harness.validate`,
  which the caller applies (`--repair` renumbers them).
- `:time` (nanoseconds) becomes `time_ns`; a missing time is 0.
- `:process :nemesis` (any non-integer process) becomes the string name, e.g. "nemesis"; a missing process is
  0 (Elle's paper example has none); a missing `:f` is "txn" (list-append files often omit it).
- Keyword values are plain strings; a transaction stays a list of micro-op lists:
  `[["append", "x", 1], ["r", "y", [1, 2]]]`.
- Other keys of an op map are dropped, except `:node` and `:error`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from harness.errors import MalformedHistory
from harness.formats import edn
from harness.op import OP_TYPES, Op
from harness.validate import Parsed

__all__ = ["load_edn", "load_elle_json", "op_from_map", "parse_edn_text", "simple_op_lines"]


def op_from_map(m: object, *, path: str, line: int | None, position: int) -> Op:
    """One op from an op map; MalformedHistory names the file and line (or op number) of a bad one."""
    where_line = line
    if type(m) is not dict and not isinstance(m, Mapping):  # type() first: the readers give dicts
        raise _bad(f"expected an op map, found {type(m).__name__} {_short(m)}", path, where_line, position)
    t = m.get("type")
    if t not in OP_TYPES:
        raise _bad(f"op has no valid :type (found {t!r}); expected one of invoke, ok, fail, info", path,
                   where_line, position)
    process = m.get("process", 0)
    if type(process) is not int and type(process) is not str:  # the usual types first, then the rules
        if isinstance(process, bool) or not isinstance(process, (int, str)):
            if isinstance(process, float) and process.is_integer():
                process = int(process)
            else:
                raise _bad(f"bad :process {process!r}", path, where_line, position)
    f = m.get("f", "txn")
    if type(f) is not str:
        if f is None:
            f = "txn"
        if not isinstance(f, str):
            f = str(f)
    time = m.get("time", 0)
    if type(time) is not int:
        if isinstance(time, float):
            time = int(time)
        if not isinstance(time, int) or isinstance(time, bool):
            raise _bad(f"bad :time {time!r}", path, where_line, position)
    index = m.get("index", -1)
    if type(index) is not int and (not isinstance(index, int) or isinstance(index, bool)):
        raise _bad(f"bad :index {index!r}", path, where_line, position)
    node = m.get("node")
    return Op(
        index=index,
        time_ns=time,
        type=t,
        process=process,
        f=f,
        value=m.get("value"),
        node=node if node is None or type(node) is str or isinstance(node, str) else str(node),
        error=m.get("error"),
    )


def _bad(message: str, path: str, line: int | None, position: int) -> MalformedHistory:
    if line is None:
        return MalformedHistory(f"op #{position}: {message}", path=path)
    return MalformedHistory(message, path=path, line=line)


def _short(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


# The fast path: a history of one flat op map per line (Knossos, Porcupine kv, most Jepsen files) whose values
# are keywords, ints, nil, booleans, plain strings or vectors of ints and nil. Anything else on any line: None,
# and the EDN reader reads the whole text (it also makes the error messages).
_KW = r":[^\s,\[\]{}()\"';\\:#][^\s,\[\]{}()\"';\\#]*"
_VALUE = _KW + r'|-?\d+(?![\w.])|nil|true|false|"[^"\\\n]*"|\[[\s,]*(?:(?:-?\d+|nil)[\s,]*)*\]'
_PAIR = re.compile(r":(" + _KW[1:] + r")\s+(" + _VALUE + r")")  # (key without its colon, value text)
_MAP_LINE = re.compile(r"\{[\s,]*(?:(?:" + _KW + r")\s+(?:" + _VALUE + r")[\s,]*)*\}")
_VEC_ITEM = re.compile(r"-?\d+|nil")
_WORDS: dict[str, object] = {"nil": None, "true": True, "false": False}
_UNKNOWN = object()


def _simple_value(v: str) -> object:
    c = v[0]
    if c == ":":
        return v[1:]
    if c == '"':
        return v[1:-1]
    if c == "[":
        return [None if x == "nil" else int(x) for x in _VEC_ITEM.findall(v)]
    if v in _WORDS:
        return _WORDS[v]
    return int(v)


def simple_op_lines(text: str, *, vector: bool = True) -> list[tuple[object, int]] | None:
    """The op maps of a one-flat-map-per-line history with their lines, or None (see _KW above). `vector`:
    the maps may sit in one vector (`[` on the first line, `]` on the last); else only a stream of maps."""
    lines = text.split("\n")
    content = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith(";")]
    if not content:
        return None
    first, last = content[0], content[-1]
    body = {i: lines[i].strip() for i in content}
    if body[first].startswith("["):
        if not vector or not body[last].endswith("]"):
            return None
        body[first] = body[first][1:].lstrip()
        body[last] = body[last][:-1].rstrip()
    out: list[tuple[object, int]] = []
    known: dict[str, object] = {}  # value text -> value, for the immutable ones (lines repeat most values)
    fullmatch, findall = _MAP_LINE.fullmatch, _PAIR.findall
    for i in content:
        ln = body[i]
        if not ln:
            continue
        if fullmatch(ln) is None:
            return None
        m: dict[str, object] = {}
        for k, v in findall(ln):
            x = known.get(v, _UNKNOWN)
            if x is _UNKNOWN:
                x = _simple_value(v)
                if v[0] != "[":  # a vector is a list: every op gets its own
                    known[v] = x
            m[k] = x
        out.append((m, i + 1))
    return out


def parse_edn_text(text: str, path: str) -> list[tuple[object, int]]:
    """The op maps of an EDN history text with the line each starts on (a vector/list of maps, or a
    stream of maps). MalformedHistory for bad EDN."""
    simple = simple_op_lines(text)
    if simple is not None:
        return simple
    try:
        inner = edn.inner_positions(text)
        if inner is not None:
            return inner
        return edn.load_stream_positions(text)
    except edn.EdnError as e:
        raise MalformedHistory(f"not EDN: {e}", path=path, line=e.line) from None
    except RecursionError:
        raise MalformedHistory("a value nested too deeply to read", path=path) from None


def load_edn(text: str, path: str) -> Parsed:
    """A Jepsen/Knossos EDN history."""
    items = parse_edn_text(text, path)
    ops = [op_from_map(m, path=path, line=ln, position=i) for i, (m, ln) in enumerate(items)]
    return Parsed(path=path, ops=ops, lines=[ln for _, ln in items])


def load_elle_json(text: str, path: str) -> Parsed:
    """An elle-cli JSON history: an array of op objects (or one object per line)."""
    try:
        return _load_elle_json(text, path)
    except RecursionError:
        raise MalformedHistory("a value nested too deeply to read", path=path) from None


def _load_elle_json(text: str, path: str) -> Parsed:
    try:
        data = json.loads(text)
        lines: list[int | None] = []
    except json.JSONDecodeError as e:
        # Maybe one JSON object per line.
        data = []
        lines = []
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            try:
                data.append(json.loads(raw))
            except json.JSONDecodeError:
                raise MalformedHistory(f"not JSON: {e.msg}", path=path, line=e.lineno) from None
            lines.append(n)
    if isinstance(data, dict):
        data = [data]
        lines = [1]
    if not isinstance(data, list):
        raise MalformedHistory("an elle-cli JSON history is an array of op objects", path=path)
    if not lines:
        lines = _json_array_item_lines(text, len(data))
    ops = [op_from_map(m, path=path, line=lines[i] if i < len(lines) else None, position=i)
           for i, m in enumerate(data)]
    return Parsed(path=path, ops=ops, lines=lines)


def _json_array_item_lines(text: str, n: int) -> list[int | None]:
    """Line of each top-level object of a JSON array, when objects start one per line (elle-cli's
    layout); else unknown (None), and errors name the op number instead."""
    starts: list[int | None] = []
    for ln, raw in enumerate(text.splitlines(), start=1):
        s = raw.lstrip().lstrip("[").lstrip()
        if s.startswith("{"):
            starts.append(ln)
    if len(starts) != n:
        return [None] * n
    return starts
