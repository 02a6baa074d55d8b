"""Combinators over generators that do not look at thread identity: counting, repetition, randomness, time,
barriers, transformation of ops and outcome-driven control.

Owns limit/once, repeat, cycle, mix, stagger, delay, sleep, log, time_limit, synchronize, phases, then,
map, filter, until_ok, flip_flop, process_limit, concurrency_limit. Thread-routing combinators (clients,
nemesis, on_threads, any, reserve, each_thread) live in `harness.generator.threads`. Every value here is
immutable; randomness comes from `test.rng` only.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.generator.context import Context
from harness.generator.core import (
    PENDING,
    Event,
    Gen,
    GenLike,
    Log,
    OpResult,
    Sleep,
    check_count,
    coerce,
    coerce_all,
    op,
    retimed,
    seconds_to_ns,
    seq,
    update,
)
from harness.op import OK, Op, Process

if TYPE_CHECKING:
    from harness.test import Test

_MISSING: Any = object()


# --- counting and repetition ---------------------------------------------------------------------------------


class Limit(Gen):
    """At most `remaining` emissions (PENDING does not count) from `gen`."""

    __slots__ = ("gen", "remaining")

    def __init__(self, remaining: int, gen: GenLike) -> None:
        self.remaining = remaining
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        if self.remaining <= 0:
            return None
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if e is PENDING:
            return e, Limit(self.remaining, g2)
        return e, (Limit(self.remaining - 1, g2) if self.remaining > 1 else None)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Limit(self.remaining, g2)

    def __repr__(self) -> str:
        return f"limit({self.remaining}, {self.gen!r})"


def limit(n: int, gen: Any) -> GenLike:
    """The first `n` emissions of `gen`."""
    return Limit(check_count(n, "limit n"), coerce(gen))


def once(gen: Any) -> GenLike:
    """The first emission of `gen` only."""
    return Limit(1, coerce(gen))


class Repeat(Gen):
    """Emits what `gen` emits first, again and again, never advancing `gen` (updates still reach it);
    `remaining` < 0 means forever."""

    __slots__ = ("gen", "remaining")

    def __init__(self, remaining: int, gen: GenLike) -> None:
        self.remaining = remaining
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        n = self.remaining
        if n == 0:
            return None
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e = r[0]
        if e is PENDING or n < 0:
            return e, self
        return e, Repeat(n - 1, self.gen)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Repeat(self.remaining, g2)

    def __repr__(self) -> str:
        return f"repeat({self.remaining}, {self.gen!r})" if self.remaining >= 0 else f"repeat({self.gen!r})"


def repeat(n_or_gen: Any, gen: Any = _MISSING) -> GenLike:
    """`repeat(g)`: g's first emission forever (a dict op -> the same op for ever; a function -> a new call each
    time). `repeat(n, g)`: n times."""
    if gen is _MISSING:
        return Repeat(-1, coerce(n_or_gen))
    return Repeat(check_count(n_or_gen, "repeat n"), coerce(gen))


class Cycle(Gen):
    """Runs `original` to exhaustion, then again from the start; `remaining` rounds (< 0: forever)."""

    __slots__ = ("gen", "original", "remaining")

    def __init__(self, remaining: int, original: GenLike, gen: GenLike) -> None:
        self.remaining = remaining
        self.original = original
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        remaining, gen = self.remaining, self.gen
        fresh = False
        while remaining != 0:
            r = op(gen, test, ctx)
            if r is not None:
                e, g2 = r
                return e, Cycle(remaining, self.original, g2)
            if fresh:
                return None  # a fresh round emitted nothing: it never will
            remaining -= 1
            gen, fresh = self.original, True
        return None

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Cycle(self.remaining, self.original, g2)


def cycle(n_or_gen: Any, gen: Any = _MISSING) -> GenLike:
    """`cycle(g)`: g to exhaustion, then g again, forever. `cycle(n, g)`: n rounds."""
    if gen is _MISSING:
        g = coerce(n_or_gen)
        return Cycle(-1, g, g)
    n = check_count(n_or_gen, "cycle n")
    g = coerce(gen)
    return Cycle(n, g, g)


# --- randomness and time -------------------------------------------------------------------------------------


class Mix(Gen):
    """For each op, one of `gens` chosen uniformly with `test.rng`; exhausted ones are dropped."""

    __slots__ = ("gens",)

    def __init__(self, gens: tuple[GenLike, ...]) -> None:
        self.gens = gens

    def op(self, test: Test, ctx: Context) -> OpResult:
        gens = self.gens
        rng = test.rng
        while gens:
            i = rng.randrange(len(gens)) if len(gens) > 1 else 0
            r = op(gens[i], test, ctx)
            if r is None:
                gens = gens[:i] + gens[i + 1 :]
                continue
            e, g2 = r
            if g2 is None:
                rest = gens[:i] + gens[i + 1 :]
                return e, (Mix(rest) if rest else None)
            return e, (self if g2 is gens[i] and gens is self.gens else Mix(gens[:i] + (g2,) + gens[i + 1 :]))
        return None

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        gens = tuple(update(g, test, ctx, event) for g in self.gens)
        if all(a is b for a, b in zip(gens, self.gens)):
            return self
        return Mix(tuple(g for g in gens if g is not None))


def mix(gens: Any) -> GenLike:
    """A uniform random mixture of `gens` (a list of generators), chosen per op with `test.rng`."""
    gs = tuple(g for g in coerce_all(gens) if g is not None)
    return Mix(gs) if gs else None


class Stagger(Gen):
    """Ops of `gen` spaced by uniform random delays in [0, 2*dt): `next_ns` is the earliest time of the
    next op (None before the first op, which goes at once)."""

    __slots__ = ("dt2_ns", "gen", "next_ns")

    def __init__(self, dt2_ns: int, next_ns: int | None, gen: GenLike) -> None:
        self.dt2_ns = dt2_ns
        self.next_ns = next_ns
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if e is PENDING:
            return e, Stagger(self.dt2_ns, self.next_ns, g2)
        t = e.time_ns  # type: ignore[union-attr]
        if self.next_ns is not None and self.next_ns > t:
            t = self.next_ns
            e = retimed(e, t)  # type: ignore[arg-type]
        gap = test.rng.randrange(self.dt2_ns) if self.dt2_ns > 0 else 0
        return e, Stagger(self.dt2_ns, t + gap, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Stagger(self.dt2_ns, self.next_ns, g2)


def stagger(dt: float, gen: Any) -> GenLike:
    """Ops of `gen` with a uniform random pause in [0, 2*dt) seconds between one op and the next (mean dt),
    drawn from `test.rng`. The first op goes at once."""
    return Stagger(2 * seconds_to_ns(dt, "stagger dt"), None, coerce(gen))


class Delay(Gen):
    """Ops of `gen` scheduled `dt_ns` apart: op k not before first + k*dt. A caller that falls behind gets
    the late ops at once (catching up), as Jepsen's delay."""

    __slots__ = ("dt_ns", "gen", "next_ns")

    def __init__(self, dt_ns: int, next_ns: int | None, gen: GenLike) -> None:
        self.dt_ns = dt_ns
        self.next_ns = next_ns
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if e is PENDING:
            return e, Delay(self.dt_ns, self.next_ns, g2)
        t = e.time_ns  # type: ignore[union-attr]
        nxt = t if self.next_ns is None else self.next_ns
        if nxt > t:
            e = retimed(e, nxt)  # type: ignore[arg-type]
        return e, Delay(self.dt_ns, nxt + self.dt_ns, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Delay(self.dt_ns, self.next_ns, g2)


def delay(dt: float, gen: Any) -> GenLike:
    """Ops of `gen` exactly `dt` seconds apart (the first at once)."""
    return Delay(seconds_to_ns(dt, "delay dt"), None, coerce(gen))


class SleepGen(Gen):
    """One `Sleep` of `seconds` for the lowest free process."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def op(self, test: Test, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self) if ctx.all_threads else None
        return Sleep(p, ctx.time_ns, self.seconds), None

    def __repr__(self) -> str:
        return f"sleep({self.seconds})"


def sleep(dt: float) -> GenLike:
    """One special op: the worker that receives it does nothing for `dt` seconds (that thread stays busy).
    Use `repeat(sleep(dt))` to sleep again and again."""
    seconds_to_ns(dt, "sleep dt")
    return SleepGen(float(dt))


class LogGen(Gen):
    """One `Log` of `message` by the lowest free process."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def op(self, test: Test, ctx: Context) -> OpResult:
        p = ctx.some_free_process()
        if p is None:
            return (PENDING, self) if ctx.all_threads else None
        return Log(p, ctx.time_ns, self.message), None

    def __repr__(self) -> str:
        return f"log({self.message!r})"


def log(message: str) -> GenLike:
    """One special op: a worker writes `message` to the test log (not to the history)."""
    return LogGen(str(message))


class TimeLimit(Gen):
    """Ops of `gen` with a time before `cutoff_ns`; the cutoff is fixed `dt_ns` after the time this generator
    is first asked for an op (the state returned with that op, or with PENDING, carries it; a caller that
    drops the state after PENDING fixes it on a later ask, as in Jepsen). Events do not start the clock: in
    `then(a, time_limit(dt, b))` the limit starts when b does. At or past the cutoff it is exhausted, even if
    `gen` is pending."""

    __slots__ = ("cutoff_ns", "dt_ns", "gen")

    def __init__(self, dt_ns: int, cutoff_ns: int | None, gen: GenLike) -> None:
        self.dt_ns = dt_ns
        self.cutoff_ns = cutoff_ns
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        cutoff = self.cutoff_ns
        if cutoff is None:
            cutoff = ctx.time_ns + self.dt_ns
        if ctx.time_ns >= cutoff:
            return None
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if e is not PENDING and e.time_ns >= cutoff:  # type: ignore[union-attr]
            return None
        return e, TimeLimit(self.dt_ns, cutoff, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else TimeLimit(self.dt_ns, self.cutoff_ns, g2)


def time_limit(dt: float, gen: Any) -> GenLike:
    """Ops of `gen` for `dt` seconds from the first time it is asked; none at or after that time."""
    return TimeLimit(seconds_to_ns(dt, "time_limit dt"), None, coerce(gen))


# --- barriers and sequencing ---------------------------------------------------------------------------------


class Synchronize(Gen):
    """PENDING until every thread of the context is free; from then on, `gen` itself."""

    __slots__ = ("gen",)

    def __init__(self, gen: GenLike) -> None:
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        if len(ctx.free_threads) == len(ctx.all_threads):
            return op(self.gen, test, ctx)
        return PENDING, self

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Synchronize(g2)


def synchronize(gen: Any) -> GenLike:
    """Waits until every thread (of this view) is free, then behaves as `gen`."""
    g = coerce(gen)
    return None if g is None else Synchronize(g)


def phases(*gens: Any) -> GenLike:
    """Each generator in turn, each starting only when every thread is free (the previous one is done)."""
    return seq([synchronize(g) for g in gens])


def then(a: Any, b: Any) -> GenLike:
    """`a`, then, once every thread is free, `b`. (Jepsen's `then` takes its arguments reversed for its
    threading macro; in Python the natural order reads better.)"""
    return seq([a, synchronize(b)])


# --- transforming ops ----------------------------------------------------------------------------------------


class MapOps(Gen):
    """Ops of `gen` passed through `fn` (an Op -> Op function); PENDING, Sleep and Log pass unchanged."""

    __slots__ = ("fn", "gen")

    def __init__(self, fn: Callable[[Op], Op], gen: GenLike) -> None:
        self.fn = fn
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if isinstance(e, Op):
            e = self.fn(e)
            if not isinstance(e, Op):
                raise BadInput(f"map: the function {self.fn!r} must return an Op, not {e!r}")
        return e, (None if g2 is None else MapOps(self.fn, g2))

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else MapOps(self.fn, g2)


def map(fn: Callable[[Op], Op], gen: Any) -> GenLike:
    """Every op of `gen` transformed by `fn(op) -> op` (e.g. `lambda o: o.replace(value=...)`)."""
    g = coerce(gen)
    return None if g is None else MapOps(fn, g)


class FilterOps(Gen):
    """Ops of `gen` for which `pred(op)` holds; others are skipped (`gen` advances past them)."""

    __slots__ = ("gen", "pred")

    def __init__(self, pred: Callable[[Op], bool], gen: GenLike) -> None:
        self.pred = pred
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        gen = self.gen
        while True:
            r = op(gen, test, ctx)
            if r is None:
                return None
            e, g2 = r
            if not isinstance(e, Op) or self.pred(e):
                return e, (None if g2 is None else FilterOps(self.pred, g2))
            gen = g2

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else FilterOps(self.pred, g2)


def filter(pred: Callable[[Op], bool], gen: Any) -> GenLike:
    """Only the ops of `gen` for which `pred(op)` is true (Sleep and Log always pass)."""
    g = coerce(gen)
    return None if g is None else FilterOps(pred, g)


# --- outcome-driven control ----------------------------------------------------------------------------------


class UntilOk(Gen):
    """Ops of `gen` until one of them completes ok; `active` are the processes running ops it emitted."""

    __slots__ = ("active", "done", "gen")

    def __init__(self, gen: GenLike, done: bool, active: frozenset[Process]) -> None:
        self.gen = gen
        self.done = done
        self.active = active

    def op(self, test: Test, ctx: Context) -> OpResult:
        if self.done:
            return None
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if isinstance(e, Op):
            return e, UntilOk(g2, False, self.active | {e.process})
        return e, UntilOk(g2, False, self.active)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        if isinstance(event, Op) and event.type != "invoke" and event.process in self.active:
            return UntilOk(g2, self.done or event.type == OK, self.active - {event.process})
        return self if g2 is self.gen else UntilOk(g2, self.done, self.active)


def until_ok(gen: Any) -> GenLike:
    """Ops of `gen` until one of them completes `ok` (ops already running still complete)."""
    return UntilOk(coerce(gen), False, frozenset())


class FlipFlop(Gen):
    """One op of gens[0], then one of gens[1], ...; ends when the one whose turn it is is exhausted."""

    __slots__ = ("gens", "i")

    def __init__(self, gens: tuple[GenLike, ...], i: int) -> None:
        self.gens = gens
        self.i = i

    def op(self, test: Test, ctx: Context) -> OpResult:
        gens, i = self.gens, self.i
        r = op(gens[i], test, ctx)
        if r is None:
            return None
        e, g2 = r
        nxt = i if e is PENDING else (i + 1) % len(gens)
        return e, FlipFlop(gens[:i] + (g2,) + gens[i + 1 :], nxt)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        gens = tuple(update(g, test, ctx, event) for g in self.gens)
        if builtins.all(a is b for a, b in zip(gens, self.gens)):
            return self
        return FlipFlop(gens, self.i)


def flip_flop(a: Any, b: Any) -> GenLike:
    """Alternates: an op of `a`, an op of `b`, an op of `a`... Stops as soon as the one due is exhausted."""
    return FlipFlop((coerce(a), coerce(b)), 0)


class ProcessLimit(Gen):
    """Ops of `gen` for at most `n` distinct processes: once an op would need an (n+1)th process, it ends.
    With crashes (info) retiring processes, this bounds how many processes a test ever uses."""

    __slots__ = ("gen", "n", "procs")

    def __init__(self, n: int, procs: frozenset[Process], gen: GenLike) -> None:
        self.n = n
        self.procs = procs
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if e is PENDING or e.process in self.procs:  # type: ignore[union-attr]
            return e, ProcessLimit(self.n, self.procs, g2)
        if len(self.procs) >= self.n:
            return None
        return e, ProcessLimit(self.n, self.procs | {e.process}, g2)  # type: ignore[union-attr]

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else ProcessLimit(self.n, self.procs, g2)


def process_limit(n: int, gen: Any) -> GenLike:
    """Ops of `gen` on at most `n` distinct processes; then it is exhausted."""
    return ProcessLimit(check_count(n, "process_limit n"), frozenset(), coerce(gen))


class ConcurrencyLimit(Gen):
    """Ops of `gen`, with at most `n` of them running at once: PENDING while `n` of its ops are in flight.
    `running` are the processes of its ops not yet completed (a dispatched op is one whose next generator
    the caller adopted, so the op's own next state records it)."""

    __slots__ = ("gen", "n", "running")

    def __init__(self, n: int, running: frozenset[Process], gen: GenLike) -> None:
        self.n = n
        self.running = running
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        if len(self.running) >= self.n:
            return PENDING, self
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if isinstance(e, Op):
            return e, ConcurrencyLimit(self.n, self.running | {e.process}, g2)
        return e, ConcurrencyLimit(self.n, self.running, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        running = self.running
        if isinstance(event, Op) and event.type != "invoke" and event.process in running:
            running = running - {event.process}
        if g2 is self.gen and running is self.running:
            return self
        return ConcurrencyLimit(self.n, running, g2)


def concurrency_limit(n: int, gen: Any) -> GenLike:
    """Ops of `gen`, at most `n` in flight at any time."""
    n = check_count(n, "concurrency_limit n")
    if n == 0:
        raise BadInput("concurrency_limit n must be at least 1")
    return ConcurrencyLimit(n, frozenset(), coerce(gen))


__all__ = [
    "ConcurrencyLimit",
    "Cycle",
    "Delay",
    "FilterOps",
    "FlipFlop",
    "Limit",
    "LogGen",
    "MapOps",
    "Mix",
    "ProcessLimit",
    "Repeat",
    "SleepGen",
    "Stagger",
    "Synchronize",
    "TimeLimit",
    "UntilOk",
    "concurrency_limit",
    "cycle",
    "delay",
    "filter",
    "flip_flop",
    "limit",
    "log",
    "map",
    "mix",
    "once",
    "phases",
    "process_limit",
    "repeat",
    "sleep",
    "stagger",
    "synchronize",
    "then",
    "time_limit",
    "until_ok",
]  # fmt: skip
