"""Ops and histories: the record every other part of the harness reads or writes.

Owns `Op` (one event: an invocation or its completion), `History` (an ordered sequence of ops with
invoke/completion pairing), and the JSONL codec of `history.jsonl` (an op's fields; its values through
`harness.values`). Does not own importers of other formats (see `harness.formats`) nor any checking.

Semantics, as in Jepsen: a client op is an `invoke` followed, on the same process, by exactly one completion:
`ok` (it happened), `fail` (it definitely did not happen) or `info` (unknown: it may or may not have happened,
and may take effect at any time until the end of the history). A process that ended in `info` is never reused.
Nemesis ops use the process `"nemesis"`.

Values round-trip exactly through JSONL (`harness.values.encode_value` / `decode_value`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, overload

from harness.errors import MalformedHistory
from harness.values import decode_value, encode_value

OpType: TypeAlias = Literal["invoke", "ok", "fail", "info"]
Process: TypeAlias = int | str

INVOKE: OpType = "invoke"
OK: OpType = "ok"
FAIL: OpType = "fail"
INFO: OpType = "info"
OP_TYPES: frozenset[str] = frozenset((INVOKE, OK, FAIL, INFO))
NEMESIS: str = "nemesis"


@dataclass(frozen=True, kw_only=True, slots=True)
class Op:
    """One event of a history.

    `index` is the op's position in the history it was recorded in (unique, increasing); `time_ns` is
    nanoseconds since the test started (monotonic clock); `value` is any value built from JSON types, tuples,
    sets and dicts; `node` names the node the client talked to, if any; `error` says why an op failed or is
    unknown.
    """

    index: int = -1
    time_ns: int = 0
    type: OpType
    process: Process
    f: str
    value: Any = None
    node: str | None = None
    error: Any = None

    @property
    def is_invoke(self) -> bool:
        return self.type == INVOKE

    @property
    def is_ok(self) -> bool:
        return self.type == OK

    @property
    def is_fail(self) -> bool:
        return self.type == FAIL

    @property
    def is_info(self) -> bool:
        return self.type == INFO

    @property
    def is_client(self) -> bool:
        return isinstance(self.process, int)

    @property
    def is_nemesis(self) -> bool:
        return not isinstance(self.process, int)

    def replace(self, **changes: Any) -> Op:
        """A copy with some fields changed (clients call it for every completion: see `_copy_with`)."""
        return _copy_with(self, changes)

    def completed(self, type: OpType, index: int, time_ns: int) -> Op:
        """This op with a new type, index and time (the interpreter's hot path)."""
        return _completed(self, type, index, time_ns)

    def __str__(self) -> str:
        extra = f" on {self.node}" if self.node else ""
        err = f" ({self.error})" if self.error is not None else ""
        return f"#{self.index} p{self.process} {self.type} {self.f} {self.value!r}{extra}{err}"


# --- fast copies of ops ------------------------------------------------------------------------------------
# Op is a frozen, slotted dataclass: its generated __init__ goes through object.__setattr__ per field and
# dataclasses.replace through __init__ (about 2.4 us a copy). The interpreter copies each op twice and a client
# once more, so copies fill the slots directly through the slot descriptors (about 0.6 us). Checked against the
# ordinary constructor at import; if Op ever changes shape, the ordinary path is used.

_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Op))


_CopyWith: TypeAlias = Callable[[Op, dict[str, object]], Op]
_Completed: TypeAlias = Callable[[Op, OpType, int, int], Op]


def _slow_copy_with(op: Op, changes: dict[str, object]) -> Op:
    return dataclasses.replace(op, **changes)  # type: ignore[arg-type]  # field types are checked by Op, at run time


def _slow_completed(op: Op, type: OpType, index: int, time_ns: int) -> Op:
    return dataclasses.replace(op, type=type, index=index, time_ns=time_ns)


def _make_fast_copies() -> tuple[_CopyWith, _Completed]:
    try:
        slots = [Op.__dict__[n] for n in _FIELDS]
        sets = [d.__set__ for d in slots]
    except (KeyError, AttributeError):
        return _slow_copy_with, _slow_completed
    new = object.__new__
    s_index, s_time, s_type, s_process, s_f, s_value, s_node, s_error = sets
    fields = frozenset(_FIELDS)

    def copy_with(op: Op, changes: dict[str, object]) -> Op:
        if not changes.keys() <= fields:
            return _slow_copy_with(op, changes)  # raises TypeError naming the unknown field, as before
        c = changes.get
        o = new(Op)
        s_index(o, c("index", op.index))
        s_time(o, c("time_ns", op.time_ns))
        s_type(o, c("type", op.type))
        s_process(o, c("process", op.process))
        s_f(o, c("f", op.f))
        s_value(o, c("value", op.value))
        s_node(o, c("node", op.node))
        s_error(o, c("error", op.error))
        return o

    def completed(op: Op, type: OpType, index: int, time_ns: int) -> Op:
        o = new(Op)
        s_index(o, index)
        s_time(o, time_ns)
        s_type(o, type)
        s_process(o, op.process)
        s_f(o, op.f)
        s_value(o, op.value)
        s_node(o, op.node)
        s_error(o, op.error)
        return o

    try:
        probe = Op(index=1, time_ns=2, type=INVOKE, process=3, f="read", value=(1, 2), node="n1", error="e")
        if (copy_with(probe, {"type": OK, "value": 5}) != _slow_copy_with(probe, {"type": OK, "value": 5})
                or completed(probe, OK, 9, 8) != _slow_completed(probe, OK, 9, 8) or len(slots) != 8):
            return _slow_copy_with, _slow_completed
    except Exception:  # noqa: BLE001 - any surprise in Op's layout: use the constructor
        return _slow_copy_with, _slow_completed
    return copy_with, completed


_copy_with, _completed = _make_fast_copies()


class History(Sequence[Op]):
    """An ordered, immutable sequence of ops with invocation/completion pairing.

    Pairing is by process: an invoke is paired with the next non-invoke op of the same process. An invoke
    without completion (the history ended first) has `completion(op) is None`; checkers treat it like `info`.
    Ops keep the `index` they were recorded with, also in sub-histories such as `client_ops()`.
    """

    __slots__ = ("_ops", "_partner", "_position")

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        self._ops: tuple[Op, ...] = tuple(ops)
        self._partner: list[int] | None = None
        self._position: dict[int, int] | None = None

    @classmethod
    def indexed(cls, ops: Iterable[Op]) -> History:
        """A history whose ops are renumbered 0, 1, 2, ... in the given order."""
        return cls(op if op.index == i else op.completed(op.type, i, op.time_ns) for i, op in enumerate(ops))

    # Sequence protocol
    @overload
    def __getitem__(self, i: int) -> Op: ...
    @overload
    def __getitem__(self, i: slice) -> History: ...
    def __getitem__(self, i: int | slice) -> Op | History:
        if isinstance(i, slice):
            return History(self._ops[i])
        return self._ops[i]

    def __len__(self) -> int:
        return len(self._ops)

    def __iter__(self) -> Iterator[Op]:
        return iter(self._ops)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self._ops == other._ops

    def __hash__(self) -> int:
        return hash(self._ops)

    def __repr__(self) -> str:
        return f"History({len(self._ops)} ops)"

    @property
    def ops(self) -> tuple[Op, ...]:
        return self._ops

    # Pairing
    def _pairs(self) -> list[int]:
        """Each op's partner's position (-1 for none), computed once."""
        if self._partner is None:
            self._partner = self._partner_positions()
        return self._partner

    def _partner_positions(self) -> list[int]:
        """The pairing rule: a completion closes the open invocation of its process; a later invocation on a process
        replaces an open one. A subclass may compute the same list another way (harness.report.history, with
        numpy)."""
        partner = [-1] * len(self._ops)
        open_by_process: dict[Process, int] = {}
        for pos, op in enumerate(self._ops):
            if op.type == INVOKE:
                open_by_process[op.process] = pos
            else:
                inv = open_by_process.pop(op.process, None)
                if inv is not None:
                    partner[inv] = pos
                    partner[pos] = inv
        return partner

    def position(self, op: Op) -> int:
        """Where `op` stands in this history (looked up by its index)."""
        if self._position is None:
            self._position = {o.index: pos for pos, o in enumerate(self._ops)}
        try:
            return self._position[op.index]
        except KeyError:
            raise ValueError(f"op {op} is not in this history") from None

    def completion(self, op: Op) -> Op | None:
        """The completion of an invocation, or None if it never completed."""
        p = self._pairs()[self.position(op)]
        return self._ops[p] if p >= 0 and op.type == INVOKE else None

    def invocation(self, op: Op) -> Op | None:
        """The invocation of a completion, or None (nemesis-style ops without invoke)."""
        p = self._pairs()[self.position(op)]
        return self._ops[p] if p >= 0 and op.type != INVOKE else None

    def pairs(self) -> Iterator[tuple[Op, Op | None]]:
        """(invocation, completion or None) for every invocation, in invocation order."""
        partner = self._pairs()
        ops = self._ops
        for pos, op in enumerate(ops):
            if op.type == INVOKE:
                p = partner[pos]
                yield op, (ops[p] if p >= 0 else None)

    def completions(self) -> Iterator[Op]:
        """Every ok/fail/info op."""
        return (op for op in self._ops if op.type != INVOKE)

    # Sub-histories
    def filter(self, pred: Any) -> History:
        return History(op for op in self._ops if pred(op))

    def client_ops(self) -> History:
        return History(op for op in self._ops if isinstance(op.process, int))

    def nemesis_ops(self) -> History:
        return History(op for op in self._ops if not isinstance(op.process, int))

    def by_process(self) -> dict[Process, list[Op]]:
        out: dict[Process, list[Op]] = {}
        for op in self._ops:
            out.setdefault(op.process, []).append(op)
        return out

    def processes(self) -> list[Process]:
        return list(dict.fromkeys(op.process for op in self._ops))

    # Codec
    def to_jsonl(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for op in self._ops:
                fh.write(op_to_json(op))
                fh.write("\n")

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike[str]) -> History:
        return cls(read_jsonl(path))


# --- op codec ---------------------------------------------------------------------------------------------

_PLAIN = frozenset((str, int, bool, type(None)))  # values that are their own JSON form (floats may be inf)


def op_to_dict(op: Op) -> dict[str, Any]:
    value = op.value
    d: dict[str, Any] = {
        "index": op.index,
        "time_ns": op.time_ns,
        "type": op.type,
        "process": op.process,
        "f": op.f,
        "value": value if type(value) in _PLAIN else encode_value(value),
    }
    if op.node is not None:
        d["node"] = op.node
    if op.error is not None:
        error = op.error
        d["error"] = error if type(error) in _PLAIN else encode_value(error)
    return d


def op_to_json(op: Op) -> str:
    """One line of history.jsonl (without the newline)."""
    return _dumps(op_to_dict(op))


try:  # orjson is several times faster; the interpreter writes every op through here
    import orjson

    def _dumps(d: dict[str, Any]) -> str:
        try:
            return orjson.dumps(d).decode()
        except TypeError:  # e.g. an int beyond 64 bits: the standard library handles it
            return json.dumps(d, separators=(",", ":"), ensure_ascii=False)

except ImportError:  # pragma: no cover - orjson is a dependency; stay correct without it

    def _dumps(d: dict[str, Any]) -> str:
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def op_from_dict(d: Any, *, path: str | None = None, line: int | None = None) -> Op:
    """An op from its JSONL object; raises MalformedHistory naming path and line."""
    if not isinstance(d, dict):
        raise MalformedHistory("an op must be a JSON object", path=path, line=line)
    try:
        t = d["type"]
        if t not in OP_TYPES:
            raise MalformedHistory(f"unknown op type {t!r}", path=path, line=line)
        process = d["process"]
        if not isinstance(process, (int, str)) or isinstance(process, bool):
            raise MalformedHistory(f"process must be an integer or a name, not {process!r}", path=path, line=line)
        f = d["f"]
        if not isinstance(f, str):
            raise MalformedHistory(f"f must be a string, not {f!r}", path=path, line=line)
        index = d.get("index", line - 1 if line is not None else -1)
        time_ns = d.get("time_ns", 0)
        if not isinstance(index, int) or not isinstance(time_ns, int):
            raise MalformedHistory("index and time_ns must be integers", path=path, line=line)
        return Op(
            index=index,
            time_ns=time_ns,
            type=t,
            process=process,
            f=f,
            value=decode_value(d.get("value")),
            node=d.get("node"),
            error=decode_value(d.get("error")),
        )
    except KeyError as e:
        raise MalformedHistory(f"op lacks the field {e.args[0]!r}", path=path, line=line) from None
    except TypeError as e:
        raise MalformedHistory(str(e), path=path, line=line) from None


@dataclass(frozen=True, kw_only=True)
class JsonlRead:
    """The ops of a history.jsonl, the line each came from, and the number of a torn last line (a killed
    harness leaves one) that was left out, if any."""

    ops: list[Op]
    lines: list[int]
    torn_line: int | None = None


def scan_jsonl(path: str | os.PathLike[str]) -> JsonlRead:
    """Every op of a history.jsonl with its line. A torn last line is left out and named in `torn_line`; any
    other bad line (also one nested too deeply to decode) raises MalformedHistory with the file and line."""
    p = os.fspath(path)
    try:
        with open(p, encoding="utf-8") as fh:
            lines = fh.readlines()
    except UnicodeDecodeError as e:
        raise MalformedHistory(f"not UTF-8 text (byte {e.start})", path=p) from None
    except OSError as e:
        raise MalformedHistory(f"cannot read: {e.strerror}", path=p) from None
    out = JsonlRead(ops=[], lines=[])
    for n, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            if n == len(lines) and not text.endswith("\n"):
                return JsonlRead(ops=out.ops, lines=out.lines, torn_line=n)
            raise MalformedHistory(f"not JSON: {e.msg}", path=p, line=n) from None
        except RecursionError:
            raise MalformedHistory("a value nested too deeply to read", path=p, line=n) from None
        try:
            out.ops.append(op_from_dict(d, path=p, line=n))
        except RecursionError:
            raise MalformedHistory("a value nested too deeply to read", path=p, line=n) from None
        out.lines.append(n)
    return out


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[Op]:
    """Ops of a history.jsonl. A torn last line (the harness was killed mid-write) is ignored; any other bad
    line raises MalformedHistory with the file and line. `harness check` reads through `harness.formats`,
    which also names the torn line and applies `harness.validate`."""
    return iter(scan_jsonl(path).ops)


class HistoryWriter:
    """Appends ops to a history.jsonl, one line per op. Not thread-safe: the interpreter owns the one writer and
    calls it under its lock.

    Durability (what a kill -9 of the harness may lose): `append(op)` serialises the op at once and keeps its
    line in memory; `append(op, flush=True)` (the interpreter's call for every completion) then hands every
    line kept so far to the operating system in one write(2) before it returns. A completion is recorded, and
    its worker handed its next op, only after that write; so a killed harness loses at most the ops in flight:
    invocations recorded after the last completion (their outcome is unknown anyway, and a history that ends
    with them is read as if they were `info`). What write(2) has taken survives the death of the process, not
    a power loss: `close` also fsyncs. The reader still tolerates a torn last line (a full disk, a write the
    OS took only part of when the process died).

    Batching: the lines of the invocations and the completion recorded in one pass of the interpreter go out in
    one write, and serialising is the only per-op cost (orjson; see `op_to_json`). There is no writer thread:
    it would have to let completions reach the disk later than their record, which loses more on a kill, and
    in CPython it would take the same interpreter lock (the GIL) to serialise (bench/README.md)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lines: list[str] = []

    def append(self, op: Op, *, flush: bool = True) -> None:
        """Append one op; `flush=False` lets its line wait for the next flush (an invocation, for the
        completion that follows)."""
        self._lines.append(op_to_json(op))
        if flush:
            self.flush()

    def flush(self) -> None:
        """Hand every kept line to the OS (one write(2), repeated only if the OS takes part of it)."""
        if not self._lines or self._fd is None:
            return
        self._lines.append("")
        data = "\n".join(self._lines).encode()
        self._lines.clear()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def close(self) -> None:
        if self._fd is not None:
            self.flush()
            os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
