"""Importers of Porcupine's test data: Jepsen etcd logs and key-value EDN lines.

Owns the two Porcupine formats, described below as upstream's parser reads them.
Does not own EDN syntax (`harness.formats.edn`) nor what a failed CAS means to a model (that is the
linearizability checker's `etcd` model).

Jepsen etcd log (`porcupine-log`): one event per line, `INFO  jepsen.util - <proc>\\t:<type>\\t:<f>\\t<value>`
(tabs or runs of spaces); other lines are ignored. Read as ops in file order, renumbered by position:
- `:fail :read :timed-out` becomes `info` (unknown outcome, as upstream's parser says);
- `:fail :cas [from to]` stays `fail`; upstream's etcd model reads it as "the compare failed", which the
  linearizability checker's `etcd` model does too (model `cas-register` drops it, as Knossos does);
- `:info` stays `info` (open until the end of the history); values are EDN (`nil`, ints, `[from to]`);
  a keyword in a completion's value place (`:info :cas :timed-out`) becomes the op's `error`.

Porcupine kv (`porcupine-kv`): one EDN map per line, `{:process 9, :type :invoke, :f :append, :key "0",
:value "x 9 0 y"}`; the op's value becomes the tuple `(key, value)`, as the harness's keyed workloads record.
One difference from upstream's parser: an invocation left open at the end of the file stays open (outcome
unknown, Jepsen's reading) where upstream gives it an empty output; no file of Porcupine's data has one.
"""

from __future__ import annotations

import re
from typing import cast

from harness.errors import MalformedHistory
from harness.formats import edn
from harness.formats.jepsen import op_from_map, simple_op_lines
from harness.op import FAIL, INFO, Op, OpType
from harness.validate import Parsed

__all__ = ["LOG_LINE", "load_porcupine_kv", "load_porcupine_log"]

LOG_LINE = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:(\S+)(?:\s+(.*?))?\s*$")


_PAIR = re.compile(r"\[\s*(-?\d+)\s+(-?\d+)\s*\]", re.ASCII)


def _value(text: str) -> object:
    """An event's EDN value; the three shapes of nearly every line (nil, an int, [from to]) without the EDN
    reader, which would give the same value at several times the cost."""
    if text == "nil":
        return None
    if text.isascii() and text.isdigit():
        return int(text)
    m = _PAIR.fullmatch(text)
    if m is not None:
        return [int(m[1]), int(m[2])]
    return edn.loads(text)


def load_porcupine_log(text: str, path: str) -> Parsed:
    """A Jepsen etcd log of Porcupine's test data."""
    ops: list[Op] = []
    lines: list[int | None] = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if "jepsen.util" not in raw:
            continue
        m = LOG_LINE.search(raw)
        if m is None:
            raise MalformedHistory("not a Jepsen log event '<process> :<type> :<f> <value>'", path=path, line=n)
        proc_text, t, f, value_text = m.groups()
        process: int | str
        if proc_text.lstrip("-").isdigit():
            process = int(proc_text)
        else:
            process = proc_text.lstrip(":")
        if t not in ("invoke", "ok", "fail", "info"):
            raise MalformedHistory(f"unknown op type :{t}", path=path, line=n)
        try:
            value = _value(value_text) if value_text else None
        except edn.EdnError as e:
            raise MalformedHistory(f"bad value {value_text!r}: {e}", path=path, line=n) from None
        except RecursionError:
            raise MalformedHistory("a value nested too deeply to read", path=path, line=n) from None
        error = None
        if t != "invoke" and isinstance(value, str):
            # `:info :cas :timed-out`, `:fail :read :timed-out`: the keyword is the error, not a value.
            error, value = value, None
        if t == FAIL and f == "read":
            # Upstream: a failed read (timed out) returns with an unknown output.
            t = INFO
        op_type = cast(OpType, t)  # one of the four: checked above
        ops.append(Op(index=len(ops), type=op_type, process=process, f=f, value=value, error=error))
        lines.append(n)
    return Parsed(path=path, ops=ops, lines=lines)


# Every line of Porcupine's kv files has this one shape (process, type, f, key, value, in this order, a string or
# nil value): read with one match per line, four times faster than the flat-map path. A text with any other
# line (another order, a comment, a blank line, more keys) is read by the general path below.
_KV_LINE = re.compile(r'\{:process ([0-9]+), :type :(invoke|ok|fail|info), :f :([a-z][\w-]*), :key "([^"\\\n]*)", '
                      r':value (?:nil|"([^"\\\n]*)")\}\n')
_TYPES: dict[str, OpType] = {"invoke": "invoke", "ok": "ok", "fail": "fail", "info": "info"}


def _kv_lines(text: str, path: str) -> Parsed | None:
    """The ops of a text whose every line has Porcupine kv's shape, or None."""
    if not text.endswith("\n"):
        text += "\n"
    ops: list[Op] = []
    keys: dict[str, str] = {}  # one string per key: lines repeat a few keys
    types, match, pos, end = _TYPES, _KV_LINE.match, 0, len(text)
    while pos < end:
        m = match(text, pos)
        if m is None:
            return None
        process, t, f, key, value = m.groups()
        ops.append(Op(index=len(ops), type=types[t], process=int(process), f=f,
                      value=(keys.setdefault(key, key), value)))
        pos = m.end()
    return Parsed(path=path, ops=ops, lines=list(range(1, len(ops) + 1))) if ops else None


def load_porcupine_kv(text: str, path: str) -> Parsed:
    """Porcupine's kv EDN lines; value = (key, value)."""
    fast = _kv_lines(text, path)
    return fast if fast is not None else _kv_maps(text, path)


def _kv_maps(text: str, path: str) -> Parsed:
    """Porcupine's kv lines as EDN maps, whatever their shape."""
    try:
        items = simple_op_lines(text, vector=False) or edn.load_stream_positions(text)
    except edn.EdnError as e:
        raise MalformedHistory(f"not EDN: {e}", path=path, line=e.line) from None
    except RecursionError:
        raise MalformedHistory("a value nested too deeply to read", path=path) from None
    ops: list[Op] = []
    for i, (m, line) in enumerate(items):
        op = op_from_map(m, path=path, line=line, position=i)
        if "key" not in m:
            raise MalformedHistory("a Porcupine kv op needs :key", path=path, line=line)
        ops.append(Op(index=i, time_ns=op.time_ns, type=op.type, process=op.process, f=op.f,  # not replace():
                      value=(m["key"], m.get("value")), node=op.node, error=op.error))  # 3x cheaper per line
    return Parsed(path=path, ops=ops, lines=[ln for _, ln in items])
