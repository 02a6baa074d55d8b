"""The rules every real history obeys, checked before any checker sees a history.

Owns `Rule`, `Parsed` (what an importer read: ops in file order with the line each came from), `validate`
(the one rule checker that `harness check`, every importer of `harness.formats` and the runner call) and the
repairs `--repair` may make. Does not own parsing (harness.op for JSONL, harness.formats for the rest) nor
any judgement of a history's contents: a history that passes here may still be invalid.

Rules (client processes are the integer ones; nemesis ops may complete without an invocation, as older
Jepsen histories log faults as `info` only):
    no-operations                  the file holds no op at all
    completion-without-invocation  an ok/fail/info of a client process that has no invocation pending
    invoked-while-pending          a client process invokes again before its last invocation completed
    completion-f-differs           a completion whose f is not its invocation's f
    index-not-increasing           op indexes must strictly increase (a file without any index is numbered
                                   by position)
    time-goes-backwards            an op's time is earlier than the time of the op before it
    micro-op-without-value         a transaction (f "txn") whose micro-ops are not [f, key, value]: only a
                                   read in an invocation may leave its value out; a write needs a value
    value-too-deep                 a value nested deeper than MAX_DEPTH (no real workload does that, and it
                                   would exhaust the checkers' recursion)
Each breach is `ImpossibleHistory` naming the file, the line and the rule. With `repair=True` the breaches
that have a safe reading are mended and reported (`Repair`), never silently: a completion without invocation
gets one just before it (the zero-width interval the checkers assume anyway), the older of two pending
invocations is dropped, a pair whose f differs is dropped, indexes are renumbered by position, a time that
went backwards is raised to the time before it, a transaction with a bad micro-op is dropped with its pair.
Real Jepsen histories need it: their op times are read before the op is journaled, so they step back by
microseconds, and Elle's examples list completions only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ImpossibleHistory
from harness.op import INVOKE, OK, History, Op

MAX_DEPTH = 100
_WRITES = frozenset(("append", "w", "write"))
_READS = frozenset(("r", "read"))


class Rule(str, enum.Enum):
    """A rule of real histories; the value is its id in messages."""

    NO_OPERATIONS = "no-operations"
    COMPLETION_WITHOUT_INVOCATION = "completion-without-invocation"
    INVOKED_WHILE_PENDING = "invoked-while-pending"
    F_DIFFERS = "completion-f-differs"
    INDEX_NOT_INCREASING = "index-not-increasing"
    TIME_BACKWARDS = "time-goes-backwards"
    MICRO_OP_WITHOUT_VALUE = "micro-op-without-value"
    VALUE_TOO_DEEP = "value-too-deep"


@dataclass(frozen=True)
class Mend:
    """How `--repair` mends a breach of one rule, said before (`would`) and after (`did`)."""

    would: str
    did: str


REPAIRS: dict[Rule, Mend] = {
    Rule.COMPLETION_WITHOUT_INVOCATION: Mend("give it an invocation just before it",
                                             "gave each an invocation just before it"),
    Rule.INVOKED_WHILE_PENDING: Mend("drop the earlier invocation, which never completed",
                                     "dropped the earlier invocation, which never completed"),
    Rule.F_DIFFERS: Mend("drop the invocation and the completion", "dropped the invocation and the completion"),
    Rule.INDEX_NOT_INCREASING: Mend("renumber every op by its position", "renumbered every op by its position"),
    Rule.TIME_BACKWARDS: Mend("raise such times to the time of the op before",
                              "raised each such time to the time of the op before it"),
    Rule.MICRO_OP_WITHOUT_VALUE: Mend("drop the transaction with its invocation or completion",
                                      "dropped the transaction with its invocation or completion"),
}


@dataclass(frozen=True, kw_only=True)
class Parsed:
    """What an importer read: the ops in file order, the line each starts on (None where the format gives no
    line, e.g. a JSON array on one line) and warnings about the file (a torn last line)."""

    path: str
    ops: Sequence[Op]
    lines: Sequence[int | None]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Repair:
    """What `--repair` mended for one rule: how many times, where first, and what it did."""

    rule: Rule
    count: int
    first: str  # "line 7" or "op #7"
    detail: str = ""

    def describe(self) -> str:
        extra = f"; {self.detail}" if self.detail else ""
        return f"{self.count} x {self.rule.value} (first at {self.first}): {REPAIRS[self.rule].did}{extra}"


@dataclass(frozen=True, kw_only=True)
class Validated:
    """A history that obeys every rule, the repairs made to get it, and the importer's warnings."""

    history: History
    repairs: tuple[Repair, ...] = ()
    warnings: tuple[str, ...] = ()


def validate(parsed: Parsed, *, repair: bool = False) -> Validated:
    """`parsed` as a History, or ImpossibleHistory naming the first rule it breaks (see the module doc)."""
    if not parsed.ops:
        raise ImpossibleHistory("no operations", rule=Rule.NO_OPERATIONS.value, path=parsed.path)
    renumber = all(op.index < 0 for op in parsed.ops)
    if _obeys_every_rule(parsed.ops, renumber):  # nearly every file: one cheap pass, nothing to mend
        ops = list(parsed.ops)
        return Validated(history=History.indexed(ops) if renumber else History(ops), warnings=parsed.warnings)
    v = _Validator(parsed, repair)
    for pos, op in enumerate(parsed.ops):
        v.step(pos, op)
    return v.result()


_CONTAINERS = (list, tuple, set, frozenset, dict)


def _obeys_every_rule(ops: Sequence[Op], renumber: bool) -> bool:
    """True when no op breaks a rule: what _Validator would then return is the ops as they are. Any doubt
    (a nested value, a transaction, a breach) is False, and _Validator goes through the history op by op,
    naming or mending the first breach; this pass only spares it the histories that need none of that."""
    pending: dict[int, str] = {}  # client process -> f of its open invocation
    prev_index = prev_time = -(1 << 63)
    for op in ops:
        value, process = op.value, op.process
        if isinstance(value, _CONTAINERS) and (
                not isinstance(value, (list, tuple)) or any(isinstance(x, _CONTAINERS) for x in value)):
            return False  # deeper than a flat list or tuple: _depth decides
        if isinstance(op.error, _CONTAINERS) or op.f == "txn":
            return False  # a structured error, or a transaction's micro-ops: _Validator decides
        if not renumber:
            if op.index <= prev_index:
                return False
            prev_index = op.index
        if op.time_ns < prev_time:
            return False
        prev_time = op.time_ns
        if type(process) is int:
            if op.type == INVOKE:
                if process in pending:
                    return False
                pending[process] = op.f
            else:
                invoked = pending.pop(process, None)
                if invoked is None or invoked != op.f:
                    return False  # no invocation pending, or another f
        elif isinstance(process, int):
            return False  # a bool or an int subclass: _Validator's own rules
    return True


@dataclass
class _Tally:
    count: int = 0
    first: str = ""
    worst_ns: int = 0


@dataclass
class _Validator:
    parsed: Parsed
    repair: bool
    out: list[Op | None] = field(default_factory=list)
    pending: dict[int, int] = field(default_factory=dict)  # client process -> position in `out`
    dropping: set[int] = field(default_factory=set)  # processes whose next completion is dropped
    tallies: dict[Rule, _Tally] = field(default_factory=dict)
    prev_index: int | None = None
    prev_time: int | None = None
    renumber: bool = False

    def __post_init__(self) -> None:
        # A file without any index is numbered by position: not a breach.
        self.renumber = all(op.index < 0 for op in self.parsed.ops)

    def where(self, pos: int) -> str:
        line = self.parsed.lines[pos] if pos < len(self.parsed.lines) else None
        return f"line {line}" if line is not None else f"op #{pos}"

    def breach(self, rule: Rule, pos: int, message: str) -> None:
        """Raise, or (repairing) count the breach; the caller then mends it."""
        if not self.repair or rule not in REPAIRS:
            line = self.parsed.lines[pos] if pos < len(self.parsed.lines) else None
            hint = f"; --repair would {REPAIRS[rule].would}" if rule in REPAIRS else ""
            text = message if line is not None else f"op #{pos}: {message}"
            raise ImpossibleHistory(text + hint, rule=rule.value, path=self.parsed.path, line=line)
        t = self.tallies.setdefault(rule, _Tally(first=self.where(pos)))
        t.count += 1

    def step(self, pos: int, op: Op) -> None:
        self.check_depth(pos, op)
        self.check_index(pos, op)
        op = self.check_time(pos, op)
        if op.type != INVOKE and op.process in self.dropping:
            self.dropping.discard(int(op.process))  # the completion of a transaction already dropped
            return
        if not self.check_micro_ops(pos, op):
            return
        if isinstance(op.process, int) and not isinstance(op.process, bool):
            self.pair(pos, op)
        else:
            self.out.append(op)

    def check_depth(self, pos: int, op: Op) -> None:
        if _depth(op.value) > MAX_DEPTH or _depth(op.error) > MAX_DEPTH:
            self.breach(Rule.VALUE_TOO_DEEP, pos, f"a value nested more than {MAX_DEPTH} levels deep")

    def check_index(self, pos: int, op: Op) -> None:
        if self.renumber:
            return
        if self.prev_index is not None and op.index <= self.prev_index:
            self.breach(Rule.INDEX_NOT_INCREASING, pos,
                        f"index {op.index} does not follow index {self.prev_index} (indexes must increase)")
            self.renumber = True
        self.prev_index = op.index

    def check_time(self, pos: int, op: Op) -> Op:
        prev = self.prev_time
        if prev is not None and op.time_ns < prev:
            self.breach(Rule.TIME_BACKWARDS, pos, f"time {op.time_ns} ns is earlier than the previous op's {prev} ns")
            t = self.tallies[Rule.TIME_BACKWARDS]
            t.worst_ns = max(t.worst_ns, prev - op.time_ns)
            return op.replace(time_ns=prev)
        self.prev_time = op.time_ns
        return op

    def check_micro_ops(self, pos: int, op: Op) -> bool:
        """False when the op was dropped (repairing a bad transaction)."""
        problem = _micro_op_problem(op)
        if problem is None:
            return True
        self.breach(Rule.MICRO_OP_WITHOUT_VALUE, pos, problem)
        if isinstance(op.process, int):
            if op.type == INVOKE:
                self.drop_pending(op.process)
                self.dropping.add(op.process)
            else:
                self.drop_pending(op.process)
        return False

    def drop_pending(self, process: int) -> None:
        at = self.pending.pop(process, None)
        if at is not None:
            self.out[at] = None

    def pair(self, pos: int, op: Op) -> None:
        p = int(op.process)
        if op.type == INVOKE:
            self.dropping.discard(p)
            if p in self.pending:
                self.breach(Rule.INVOKED_WHILE_PENDING, pos,
                            f"process {p} invokes {op.f} while its {self.pending_op(p).f} has not completed")
                self.drop_pending(p)
            self.pending[p] = len(self.out)
            self.out.append(op)
            return
        at = self.pending.pop(p, None)
        if at is None:
            self.breach(Rule.COMPLETION_WITHOUT_INVOCATION, pos,
                        f"process {p} completes {op.type} {op.f} with no invocation pending")
            self.out.append(op.replace(type=INVOKE))
            self.renumber = True
        elif (inv := self.out[at]) is not None and inv.f != op.f:
            self.breach(Rule.F_DIFFERS, pos, f"process {p} completes {op.f} but invoked {inv.f}")
            self.out[at] = None
            return
        self.out.append(op)

    def pending_op(self, process: int) -> Op:
        op = self.out[self.pending[process]]
        assert op is not None  # pending entries are never tombstones: drop_pending pops them first
        return op

    def result(self) -> Validated:
        ops = [op for op in self.out if op is not None]
        if not ops:  # a repair dropped everything: checking nothing must not pass
            raise ImpossibleHistory("no operations left after --repair", rule=Rule.NO_OPERATIONS.value,
                                    path=self.parsed.path)
        history = History.indexed(ops) if self.renumber or len(ops) != len(self.out) else History(ops)
        repairs = tuple(Repair(rule=r, count=t.count, first=t.first, detail=_detail(r, t))
                        for r, t in self.tallies.items())
        return Validated(history=history, repairs=repairs, warnings=self.parsed.warnings)


def _detail(rule: Rule, t: _Tally) -> str:
    if rule is Rule.TIME_BACKWARDS:
        return f"at most {t.worst_ns / 1e3:.0f} us back"
    return ""


def _micro_op_problem(op: Op) -> str | None:
    """Why a transaction's value breaks the micro-op rule, or None."""
    if op.f != "txn":
        return None
    if op.value is None and op.type not in (INVOKE, OK):
        return None  # a failed or unknown transaction may leave its value out (its invocation has it)
    if not isinstance(op.value, (list, tuple)):
        return f"a {op.type} txn's value must be a list of micro-ops, not {_short(op.value)}"
    for m in op.value:
        if not isinstance(m, (list, tuple)) or not m or not isinstance(m[0], str):
            return f"micro-op {_short(m)} is not [f, key, value]"
        if len(m) == 2 and op.type == INVOKE and m[0] in _READS:
            continue  # a read's value is not known when it is invoked
        if len(m) != 3:
            return f"micro-op {_short(m)} has no value (expected [f, key, value])"
        if m[0] in _WRITES and m[2] is None:
            return f"write micro-op {_short(m)} has no value"
    return None


def _depth(v: object) -> int:
    """How deeply `v` nests lists, tuples, sets and dicts (iterative: never recurses); stops past MAX_DEPTH."""
    if not isinstance(v, (list, tuple, set, frozenset, dict)):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(v, 1)]
    while stack:
        x, d = stack.pop()
        if d > deepest:
            deepest = d
            if d > MAX_DEPTH:
                return d
        items = [*x.keys(), *x.values()] if isinstance(x, dict) else x
        stack.extend((i, d + 1) for i in items if isinstance(i, (list, tuple, set, frozenset, dict)))
    return deepest


def _short(v: object) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."
