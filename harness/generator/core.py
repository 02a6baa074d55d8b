"""The generator protocol and the plain values that are generators.

Owns `PENDING`, the special emissions `Sleep` and `Log`, the base class `Gen`, the two protocol functions
`op` and `update`, and coercion of plain values into generators: an op template (a dict or a partial `Op`),
a function `fn(test, ctx)`, a list or tuple (a sequence of generators) and None (exhausted). Does not own the
combinators (`harness.generator.combinators`, `.threads`) nor any clock: time comes from the context.

Contract, as in Jepsen's jepsen.generator:

- `op(gen, test, ctx)` returns None when the generator is exhausted, else `(emitted, next_gen)`. `emitted` is
  `PENDING` (nothing now; ask again after an event or once time has passed), an invoke `Op` whose process is a
  free process of `ctx` and whose `time_ns` is not before `ctx.time_ns` (a later time means "not before"), or a
  `Sleep` / `Log` for a free process.
- `op` is pure: asking twice with the same context gives the same answer, except for draws from `test.rng`.
  The caller may keep or drop `next_gen`; it must adopt it when it dispatches the emitted op, and may drop it
  after PENDING or after an op it chose not to dispatch yet (its time is in the future).
- `update(gen, test, ctx, event)` is called for every event the caller records: each dispatched invocation
  (and Sleep / Log) and each completion. It returns the generator to use from then on.

Times given to combinators are seconds (float); internally everything is integer nanoseconds.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Generic, TypeAlias, TypeVar

from harness.errors import BadInput
from harness.generator.context import Context
from harness.op import INVOKE, Op, Process

S = TypeVar("S")  # the state a `stateful` generator threads through its ops

if TYPE_CHECKING:
    from harness.test import Test


class _Pending(enum.Enum):
    """The type of `PENDING`, its one member: an Enum, so that `e is PENDING` narrows `e` for the type checker."""

    PENDING = "PENDING"

    def __repr__(self) -> str:
        return "PENDING"


PENDING: Final = _Pending.PENDING
"""Nothing to emit right now: ask again after the next event or once some time has passed."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """Make the worker running `process` do nothing for `seconds`. Not part of the history."""

    process: Process
    time_ns: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Log:
    """Write `message` to the test log, by the worker running `process`. Not part of the history."""

    process: Process
    time_ns: int
    message: str


Emitted: TypeAlias = "Op | Sleep | Log | _Pending"
Event: TypeAlias = "Op | Sleep | Log"
OpResult: TypeAlias = "tuple[Op | Sleep | Log | _Pending, GenLike] | None"
GenLike: TypeAlias = "Gen | Mapping[str, object] | Op | Sequence[GenLike] | Callable[[Test, Context], GenLike] | None"  # see `coerce`


def seconds_to_ns(dt: float, what: str = "a duration") -> int:
    """Seconds (int or float, >= 0) to integer nanoseconds; BadInput otherwise."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or dt != dt or dt < 0 or dt == float("inf"):
        raise BadInput(f"{what} must be a finite number of seconds >= 0, not {dt!r}")
    return int(round(dt * 1e9))


def check_count(n: object, what: str) -> int:
    """A non-negative integer count; BadInput otherwise."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise BadInput(f"{what} must be a non-negative integer, not {n!r}")
    return n


# --- fast construction of invoke ops ------------------------------------------------------------------------
# Op is a frozen, slotted dataclass: its generated __init__ goes through object.__setattr__ for each of its
# eight fields (about 1.7 us). Generators build one op per emission, so we fill the slots directly through the
# slot descriptors (about 0.4 us). The result is checked against the ordinary constructor at import; if Op
# ever changes shape, we fall back to the constructor.

_OP_FIELDS = ("index", "time_ns", "type", "process", "f", "value", "node", "error")


def _slow_invoke(process: Process, time_ns: int, f: str, value: object, node: str | None) -> Op:
    return Op(index=-1, time_ns=time_ns, type=INVOKE, process=process, f=f, value=value, node=node)


def _make_fast_invoke() -> Callable[[Process, int, str, object, str | None], Op]:
    try:
        d = Op.__dict__
        s_index, s_time, s_type, s_process, s_f, s_value, s_node, s_error = (d[n].__set__ for n in _OP_FIELDS)
    except (KeyError, AttributeError):
        return _slow_invoke
    new = object.__new__

    def fast(process: Process, time_ns: int, f: str, value: object, node: str | None) -> Op:
        o = new(Op)
        s_index(o, -1)
        s_time(o, time_ns)
        s_type(o, INVOKE)
        s_process(o, process)
        s_f(o, f)
        s_value(o, value)
        s_node(o, node)
        s_error(o, None)
        return o

    try:
        probe = fast(3, 7, "read", (1, 2), "n1")
        if probe != _slow_invoke(3, 7, "read", (1, 2), "n1") or len(_OP_FIELDS) != len(Op.__dataclass_fields__):
            return _slow_invoke
    except Exception:  # any surprise in Op's layout: use the constructor
        return _slow_invoke
    return fast


new_invoke = _make_fast_invoke()


def with_time(op: Op, time_ns: int) -> Op:
    """`op` with another time (an invoke built by a generator)."""
    if op.time_ns == time_ns:
        return op
    return new_invoke(op.process, time_ns, op.f, op.value, op.node) if op.type == INVOKE else op.replace(
        time_ns=time_ns
    )


def retimed(e: Op | Sleep | Log, time_ns: int) -> Op | Sleep | Log:
    """Any emission with another time."""
    if isinstance(e, Op):
        return with_time(e, time_ns)
    if isinstance(e, Sleep):
        return Sleep(e.process, time_ns, e.seconds)
    return Log(e.process, time_ns, e.message)


# --- the protocol -------------------------------------------------------------------------------------------


class Gen:
    """Base of every generator value. Subclasses are immutable: their fields are set in `__init__` and never
    changed; `op` and `update` return new values (or `self` when nothing changed)."""

    __slots__ = ()

    def op(self, test: Test, ctx: Context) -> OpResult:
        raise NotImplementedError

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        return self


def op(gen: GenLike, test: Test, ctx: Context) -> OpResult:
    """Ask `gen` for its next emission: None if exhausted, else (emitted, next generator)."""
    if gen is None:
        return None
    if isinstance(gen, Gen):
        return gen.op(test, ctx)
    g = coerce(gen)
    return None if g is None else g.op(test, ctx)


def update(gen: GenLike, test: Test, ctx: Context, event: Event) -> GenLike:
    """Tell `gen` about an event (a dispatched invocation, Sleep or Log, or a completion)."""
    if gen is None:
        return None
    if isinstance(gen, Gen):
        return gen.update(test, ctx, event)
    g = coerce(gen)
    return None if g is None else g.update(test, ctx, event)


def update_all(gens: tuple[GenLike, ...], test: Test, ctx: Context, event: Event) -> tuple[GenLike, ...]:
    """`update` of every generator of a tuple; the same tuple (identical) when none of them changed."""
    new: list[GenLike] | None = None
    for i, g in enumerate(gens):
        g2 = update(g, test, ctx, event)
        if g2 is not g:
            if new is None:
                new = list(gens)
            new[i] = g2
    return gens if new is None else tuple(new)


def coerce(value: object) -> Gen | None:
    """The generator a plain value stands for: a Gen as itself; None as None (exhausted); a dict or an Op as
    a template emitted once; a list or tuple as its elements one after the other; a callable `fn(test, ctx)`
    as an endless generator calling it for each op. Anything else is BadInput."""
    if isinstance(value, Gen) or value is None:
        return value
    if isinstance(value, Mapping):
        return OpTemplate.from_mapping(value)
    if isinstance(value, Op):
        return OpTemplate.from_op(value)
    if isinstance(value, (list, tuple)):
        return seq(value)
    if callable(value):
        return FnGen(value)
    raise BadInput(f"not a generator: {value!r} (use a dict op, a list, a function (test, ctx) or a combinator)")


def coerce_all(values: Iterable[object]) -> tuple[Gen | None, ...]:
    return tuple(coerce(v) for v in values)


# --- plain values --------------------------------------------------------------------------------------------

_TEMPLATE_KEYS = frozenset(("f", "value", "process", "time_ns", "node", "type"))


class OpTemplate(Gen):
    """One invoke op, emitted once: the process is a free process of the context drawn at random from
    `test.rng` (`Context.some_free_process`; no draw when one thread is free), or the given one, once it is
    free; the time is the context's time, or `time_ns` if that is later ("not before"). In a view
    with no threads at all it is exhausted."""

    __slots__ = ("f", "node", "process", "time_ns", "value")

    def __init__(
        self, f: str, value: object = None, *, process: Process | None = None, time_ns: int = 0, node: str | None = None
    ) -> None:
        self.f = f
        self.value = value
        self.process = process
        self.time_ns = time_ns
        self.node = node

    @classmethod
    def from_mapping(cls, m: Mapping[str, object]) -> OpTemplate:
        unknown = set(m) - _TEMPLATE_KEYS
        if unknown:
            raise BadInput(
                f"unknown op field(s) {', '.join(sorted(map(str, unknown)))} in generator op {dict(m)!r}; "
                f"an op template takes {', '.join(sorted(_TEMPLATE_KEYS))}"
            )
        f = m.get("f")
        if not isinstance(f, str):
            raise BadInput(f"a generator op needs a string 'f', got {dict(m)!r}")
        t = m.get("type", INVOKE)
        if t != INVOKE:
            raise BadInput(f"a generator emits invocations only (type 'invoke'), not {t!r}, in {dict(m)!r}")
        time_ns = m.get("time_ns", 0)
        if isinstance(time_ns, bool) or not isinstance(time_ns, int) or time_ns < 0:
            raise BadInput(f"time_ns must be a non-negative integer, in {dict(m)!r}")
        process = m.get("process")
        if process is not None and (isinstance(process, bool) or not isinstance(process, (int, str))):
            raise BadInput(f"process must be an integer or a name, in {dict(m)!r}")
        node = m.get("node")
        if node is not None and not isinstance(node, str):
            raise BadInput(f"node must be a node name, in {dict(m)!r}")
        return cls(f, m.get("value"), process=process, time_ns=time_ns, node=node)

    @classmethod
    def from_op(cls, o: Op) -> OpTemplate:
        if o.type != INVOKE:
            raise BadInput(f"a generator emits invocations only, not {o.type!r} op {o}")
        process = o.process if isinstance(o.process, (int, str)) and o.process != -1 else None
        return cls(o.f, o.value, process=process, time_ns=max(0, o.time_ns), node=o.node)

    def op(self, test: Test, ctx: Context) -> OpResult:
        p = self.process
        if p is None:
            p = ctx.some_free_process(test.rng)
            if p is None:
                # a view without any thread (e.g. the default of a reserve that reserved every thread) can
                # never emit: exhausted, rather than pending for ever
                return (PENDING, self) if ctx.all_threads else None
        elif not ctx.is_free_process(p):
            return PENDING, self
        t = ctx.time_ns
        t = max(t, self.time_ns)
        return new_invoke(p, t, self.f, self.value, self.node), None

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}" for k in ("process", "node") if getattr(self, k) is not None
        ) + (f", time_ns={self.time_ns}" if self.time_ns else "")
        return f"OpTemplate({self.f!r}, {self.value!r}{extra})"


class FnGen(Gen):
    """An endless generator calling `fn(test, ctx)` for each op; what it returns is a generator (usually an op
    dict) used until exhausted, then `fn` is called again. `fn` returning None ends it."""

    __slots__ = ("fn",)

    _MAX_EMPTY = 10_000

    def __init__(self, fn: Callable[[Test, Context], object]) -> None:
        self.fn = fn

    def op(self, test: Test, ctx: Context) -> OpResult:
        if not ctx.all_threads:
            return None  # no thread to run anything on: nothing it returns could ever be emitted
        for _ in range(self._MAX_EMPTY):
            x = self.fn(test, ctx)
            if x is None:
                return None
            g = coerce(x)
            r = None if g is None else g.op(test, ctx)
            if r is not None:
                e, g2 = r
                return e, (self if g2 is None else Seq(g2, (self,), 0))
        raise BadInput(f"generator function {self.fn!r} returned {self._MAX_EMPTY} empty generators in a row")

    def __repr__(self) -> str:
        return f"FnGen({getattr(self.fn, '__qualname__', self.fn)!r})"


class Stateful(Gen, Generic[S]):
    """An endless generator that threads a state through its ops: `fn(test, ctx, state)` returns `(op,
    next_state)` (op: an op dict or any generator) or None (exhausted). The state advances only when the op
    is dispatched (the caller adopts the next generator), so asking twice gives the same answer; use it instead
    of a function that mutates a counter or a key list it closes over."""

    __slots__ = ("fn", "state")

    def __init__(self, fn: Callable[[Test, Context, S], tuple[GenLike, S] | None], state: S) -> None:
        self.fn = fn
        self.state = state

    def op(self, test: Test, ctx: Context) -> OpResult:
        if not ctx.all_threads:
            return None
        x = self.fn(test, ctx, self.state)
        if x is None:
            return None
        template, state2 = x
        g = coerce(template)
        r = None if g is None else g.op(test, ctx)
        if r is None:
            raise BadInput(f"stateful generator {self.fn!r} returned an exhausted generator {template!r}")
        e, g2 = r
        if e is PENDING:
            return e, self
        nxt = Stateful(self.fn, state2)
        return e, (nxt if g2 is None else Seq(g2, (nxt,), 0))

    def __repr__(self) -> str:
        return f"Stateful({getattr(self.fn, '__qualname__', self.fn)!r}, {self.state!r})"


def stateful(fn: Callable[[Test, Context, S], tuple[GenLike, S] | None], state: S) -> Stateful[S]:
    """Ops of `fn(test, ctx, state) -> (op, next_state)`, starting from `state` (see `Stateful`)."""
    return Stateful(fn, state)


class Seq(Gen):
    """Generators one after the other: `head` (the current one, possibly updated), then `rest[i:]`. Updates go
    to the current generator only, as in Jepsen."""

    __slots__ = ("head", "i", "rest")

    def __init__(self, head: GenLike, rest: tuple[GenLike, ...], i: int) -> None:
        self.head = head
        self.rest = rest
        self.i = i

    def op(self, test: Test, ctx: Context) -> OpResult:
        head, rest, i = self.head, self.rest, self.i
        n = len(rest)
        while True:
            r = op(head, test, ctx)
            if r is not None:
                e, h2 = r
                if h2 is not None:
                    return e, Seq(h2, rest, i)
                return e, (Seq(rest[i], rest, i + 1) if i < n else None)
            if i >= n:
                return None
            head = rest[i]
            i += 1

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        h2 = update(self.head, test, ctx, event)
        return self if h2 is self.head else Seq(h2, self.rest, self.i)

    def __repr__(self) -> str:
        return f"Seq({self.head!r}, +{len(self.rest) - self.i} more)"


def seq(values: Iterable[object]) -> Gen | None:
    """The generators of `values` one after the other (None elements are skipped)."""
    gens = tuple(g for g in coerce_all(values) if g is not None)
    if not gens:
        return None
    if len(gens) == 1:
        return gens[0]
    return Seq(gens[0], gens, 1)


# --- choosing among candidate emissions ----------------------------------------------------------------------


def beats(e: Emitted, best: Emitted | None) -> bool:
    """Whether emission `e` should replace the best candidate so far when several generators offer one (any,
    reserve, each_thread): anything beats nothing, a real emission beats PENDING, an earlier one beats a later
    one; on a tie the earlier candidate stays, so choices are deterministic (Jepsen breaks ties at random)."""
    if best is None:
        return True
    if e is PENDING:
        return False
    if best is PENDING:
        return True
    return e.time_ns < best.time_ns
