"""Combinators that count, repeat, choose and sequence: limit/once, repeat, cycle, mix, synchronize, phases, then.

Time-driven combinators (stagger, delay, sleep, log, time_limit) live in `harness.generator.timing`;
outcome-driven and op-transforming ones (until_ok, flip_flop, process_limit, concurrency_limit, map, filter) in
`harness.generator.flow`; thread routing (clients, nemesis, on_threads, any, reserve, each_thread) in
`harness.generator.threads`. Every value here is immutable; randomness comes from `test.rng` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from harness.generator.context import Context
from harness.generator.core import (
    PENDING,
    Event,
    Gen,
    GenLike,
    OpResult,
    check_count,
    coerce,
    coerce_all,
    op,
    seq,
    update,
    update_all,
)

if TYPE_CHECKING:
    from harness.test import Test

_MISSING: object = object()


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
            return e, (self if g2 is self.gen else Limit(self.remaining, g2))
        return e, (Limit(self.remaining - 1, g2) if self.remaining > 1 else None)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else Limit(self.remaining, g2)

    def __repr__(self) -> str:
        return f"limit({self.remaining}, {self.gen!r})"


def limit(n: int, gen: object) -> GenLike:
    """The first `n` emissions of `gen`."""
    return Limit(check_count(n, "limit n"), coerce(gen))


def once(gen: object) -> GenLike:
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


def repeat(n_or_gen: object, gen: object = _MISSING) -> GenLike:
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


def cycle(n_or_gen: object, gen: object = _MISSING) -> GenLike:
    """`cycle(g)`: g to exhaustion, then g again, forever. `cycle(n, g)`: n rounds."""
    if gen is _MISSING:
        g = coerce(n_or_gen)
        return Cycle(-1, g, g)
    n = check_count(n_or_gen, "cycle n")
    g = coerce(gen)
    return Cycle(n, g, g)


# --- random choice -------------------------------------------------------------------------------------------


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
        gens = update_all(self.gens, test, ctx, event)
        return self if gens is self.gens else Mix(tuple(g for g in gens if g is not None))


def mix(gens: Iterable[object]) -> GenLike:
    """A uniform random mixture of `gens` (a list of generators), chosen per op with `test.rng`."""
    gs = tuple(g for g in coerce_all(gens) if g is not None)
    return Mix(gs) if gs else None


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


def synchronize(gen: object) -> GenLike:
    """Waits until every thread (of this view) is free, then behaves as `gen`."""
    g = coerce(gen)
    return None if g is None else Synchronize(g)


def phases(*gens: object) -> GenLike:
    """Each generator in turn, each starting only when every thread is free (the previous one is done)."""
    return seq([synchronize(g) for g in gens])


def then(a: object, b: object) -> GenLike:
    """`a`, then, once every thread is free, `b`. (Jepsen's `then` takes its arguments reversed for its
    threading macro; in Python the natural order reads better.)"""
    return seq([a, synchronize(b)])


__all__ = [
    "Cycle", "Limit", "Mix", "Repeat", "Synchronize",
    "cycle", "limit", "mix", "once", "phases", "repeat", "synchronize", "then",
]  # fmt: skip
