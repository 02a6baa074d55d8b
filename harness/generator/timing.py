"""Time-driven combinators: stagger, delay, sleep, log and time_limit.

Owns when ops may happen (ops carry a "not before" time; the caller waits) and the special emissions that
occupy a worker (Sleep) or only write to the log (Log). Times are seconds in the API, integer ns inside; the
random gaps of `stagger` come from `test.rng`. Does not read any clock: time is `ctx.time_ns`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.generator.context import Context
from harness.generator.core import (
    PENDING,
    Event,
    Gen,
    GenLike,
    Log,
    OpResult,
    Sleep,
    coerce,
    op,
    retimed,
    seconds_to_ns,
    update,
)
from harness.op import Process

if TYPE_CHECKING:
    from harness.test import Test


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
            return e, (self if g2 is self.gen else Stagger(self.dt2_ns, self.next_ns, g2))
        t = e.time_ns
        if self.next_ns is not None and self.next_ns > t:
            t = self.next_ns
            e = retimed(e, t)
        gap = test.rng.randrange(self.dt2_ns) if self.dt2_ns > 0 else 0
        return e, Stagger(self.dt2_ns, t + gap, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Stagger(self.dt2_ns, self.next_ns, g2)


def stagger(dt: float, gen: object) -> GenLike:
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
            return e, (self if g2 is self.gen else Delay(self.dt_ns, self.next_ns, g2))
        t = e.time_ns
        nxt = t if self.next_ns is None else self.next_ns
        if nxt > t:
            e = retimed(e, nxt)
        return e, Delay(self.dt_ns, nxt + self.dt_ns, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Delay(self.dt_ns, self.next_ns, g2)


def delay(dt: float, gen: object) -> GenLike:
    """Ops of `gen` exactly `dt` seconds apart (the first at once)."""
    return Delay(seconds_to_ns(dt, "delay dt"), None, coerce(gen))


class _SpecialGen(Gen):
    """One special emission (`Sleep` or `Log`) for a free process drawn from `test.rng`, as an op template's:
    pending while every thread of its view is busy, then emitted once."""

    __slots__ = ()

    def emission(self, process: Process, time_ns: int) -> Sleep | Log:
        raise NotImplementedError

    def op(self, test: Test, ctx: Context) -> OpResult:
        p = ctx.some_free_process(test.rng)
        if p is None:
            return (PENDING, self) if ctx.all_threads else None
        return self.emission(p, ctx.time_ns), None


class SleepGen(_SpecialGen):
    """One `Sleep` of `seconds`."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def emission(self, process: Process, time_ns: int) -> Sleep:
        return Sleep(process, time_ns, self.seconds)

    def __repr__(self) -> str:
        return f"sleep({self.seconds})"


def sleep(dt: float) -> GenLike:
    """One special op: the worker that receives it does nothing for `dt` seconds (that thread stays busy).
    Use `repeat(sleep(dt))` to sleep again and again."""
    seconds_to_ns(dt, "sleep dt")
    return SleepGen(float(dt))


class LogGen(_SpecialGen):
    """One `Log` of `message`."""

    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message

    def emission(self, process: Process, time_ns: int) -> Log:
        return Log(process, time_ns, self.message)

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
    `gen` is pending. When the soonest op of `gen` is due at or past the cutoff it is exhausted only if no thread
    of its view is busy; otherwise it is pending, since a thread that becomes free may get an op before the
    cutoff (ending the main phase at the first moment every client happened to be busy would cut it short)."""

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
        if e is not PENDING and e.time_ns >= cutoff:
            if ctx.all_free:
                return None  # nothing in flight could bring an earlier op: done
            # The soonest op is past the cutoff, but a thread that is busy now may, once free, be offered one
            # before it (e.g. every client busy and the nemesis's next fault due after the cutoff): wait.
            return PENDING, (self if cutoff == self.cutoff_ns else TimeLimit(self.dt_ns, cutoff, self.gen))
        if g2 is self.gen and cutoff == self.cutoff_ns:
            return e, self
        return e, TimeLimit(self.dt_ns, cutoff, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else TimeLimit(self.dt_ns, self.cutoff_ns, g2)


def time_limit(dt: float, gen: object) -> GenLike:
    """Ops of `gen` for `dt` seconds from the first time it is asked; none at or after that time."""
    return TimeLimit(seconds_to_ns(dt, "time_limit dt"), None, coerce(gen))


__all__ = ["Delay", "LogGen", "SleepGen", "Stagger", "TimeLimit", "delay", "log", "sleep", "stagger", "time_limit"]
