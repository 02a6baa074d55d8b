"""Combinators driven by outcomes or acting on the ops themselves: until_ok, flip_flop, process_limit,
concurrency_limit, map and filter.

Those that follow outcomes (until_ok, concurrency_limit) record in the state they return with an op which
process runs it: a caller adopts that state exactly when it dispatches the op, so no bookkeeping can go stale.
Does not own thread routing (`harness.generator.threads`) nor time (`harness.generator.timing`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import BadInput
from harness.generator.context import Context
from harness.generator.core import (
    PENDING,
    Event,
    Gen,
    GenLike,
    OpResult,
    check_count,
    coerce,
    op,
    update,
    update_all,
)
from harness.op import OK, Op, Process

if TYPE_CHECKING:
    from harness.test import Test


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


def map(fn: Callable[[Op], Op], gen: object) -> GenLike:
    """Every op of `gen` transformed by `fn(op) -> op` (e.g. `lambda o: o.replace(value=...)`)."""
    g = coerce(gen)
    return None if g is None else MapOps(fn, g)


class FilterOps(Gen):
    """Ops of `gen` for which `pred(op)` holds; others are skipped (`gen` advances past them)."""

    __slots__ = ("gen", "pred")

    def __init__(self, pred: Callable[[Op], bool], gen: GenLike) -> None:
        self.pred = pred
        self.gen = gen

    _MAX_REJECTED = 10_000

    def op(self, test: Test, ctx: Context) -> OpResult:
        gen = self.gen
        for _ in range(self._MAX_REJECTED):
            r = op(gen, test, ctx)
            if r is None:
                return None
            e, g2 = r
            if not isinstance(e, Op) or self.pred(e):
                return e, (None if g2 is None else FilterOps(self.pred, g2))
            gen = g2
        # e.g. filter over repeat() of an op it rejects: it would spin for ever
        raise BadInput(f"filter: {self._MAX_REJECTED} ops in a row rejected by {self.pred!r}; it may never pass one")

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else FilterOps(self.pred, g2)


def filter(pred: Callable[[Op], bool], gen: object) -> GenLike:
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


def until_ok(gen: object) -> GenLike:
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
        gens = update_all(self.gens, test, ctx, event)
        return self if gens is self.gens else FlipFlop(gens, self.i)


def flip_flop(a: object, b: object) -> GenLike:
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
        if e is PENDING or e.process in self.procs:
            return e, ProcessLimit(self.n, self.procs, g2)
        if len(self.procs) >= self.n:
            return None
        return e, ProcessLimit(self.n, self.procs | {e.process}, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        return self if g2 is self.gen else ProcessLimit(self.n, self.procs, g2)


def process_limit(n: int, gen: object) -> GenLike:
    """Ops of `gen` on at most `n` distinct processes; then it is exhausted."""
    return ProcessLimit(check_count(n, "process_limit n"), frozenset(), coerce(gen))


class ConcurrencyLimit(Gen):
    """Ops of `gen`, with at most `n` of them running at once: PENDING while `n` of its ops are in flight.
    `running` are the processes of its ops not yet completed. An op counts from the moment it is emitted (so
    that two ops cannot be emitted past the limit before the first is dispatched) and is confirmed by its
    invocation event; `unconfirmed` is the process of the last emitted op until then. If this state is asked
    for another op before that invocation arrives, the op was never dispatched (a `filter` around it skipped
    it): it stops counting."""

    __slots__ = ("gen", "n", "running", "unconfirmed")

    def __init__(self, n: int, running: frozenset[Process], gen: GenLike,
                 unconfirmed: Process | None = None) -> None:
        self.n = n
        self.running = running
        self.gen = gen
        self.unconfirmed = unconfirmed

    def op(self, test: Test, ctx: Context) -> OpResult:
        running = self.running
        if self.unconfirmed is not None:  # emitted and never invoked: skipped by the caller
            running = running - {self.unconfirmed}
        if len(running) >= self.n:
            return PENDING, ConcurrencyLimit(self.n, running, self.gen)
        r = op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        if isinstance(e, Op):
            return e, ConcurrencyLimit(self.n, running | {e.process}, g2, e.process)
        return e, ConcurrencyLimit(self.n, running, g2)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        g2 = update(self.gen, test, ctx, event)
        running, unconfirmed = self.running, self.unconfirmed
        if isinstance(event, Op):
            if event.type == "invoke" and event.process == unconfirmed:
                unconfirmed = None
            elif event.type != "invoke" and event.process in running:
                running = running - {event.process}
        if g2 is self.gen and running is self.running and unconfirmed is self.unconfirmed:
            return self
        return ConcurrencyLimit(self.n, running, g2, unconfirmed)


def concurrency_limit(n: int, gen: object) -> GenLike:
    """Ops of `gen`, at most `n` in flight at any time."""
    n = check_count(n, "concurrency_limit n")
    if n == 0:
        raise BadInput("concurrency_limit n must be at least 1")
    return ConcurrencyLimit(n, frozenset(), coerce(gen))


__all__ = [
    "ConcurrencyLimit", "FilterOps", "FlipFlop", "MapOps", "ProcessLimit", "UntilOk",
    "concurrency_limit", "filter", "flip_flop", "map", "process_limit", "until_ok",
]  # fmt: skip
