"""Combinators that route by thread: which worker threads a generator may use, and running several
generators side by side.

Owns on_threads, clients, nemesis, any, reserve and each_thread. A routed generator sees a restricted view
of the context (`ThreadFilter`): only its threads, so its ops go to its threads and its barriers
(`synchronize`, `phases`) wait for its threads only; it is told only of events on its threads. Does not own
the context itself (`harness.generator.context`) nor the non-routing combinators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.errors import BadInput
from harness.generator.context import (
    Context,
    Thread,
    ThreadFilter,
    is_client_thread,
    is_nemesis_thread,
)
from harness.generator.core import (
    PENDING,
    Emitted,
    Event,
    Gen,
    GenLike,
    OpResult,
    beats,
    check_count,
    coerce,
    coerce_all,
    op,
    update,
    update_all,
)

if TYPE_CHECKING:
    from harness.test import Test

_MISSING: object = object()


class OnThreads(Gen):
    """`gen` restricted to the threads `filter.pred` accepts."""

    __slots__ = ("filter", "gen")

    def __init__(self, filter: ThreadFilter, gen: GenLike) -> None:
        self.filter = filter
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> OpResult:
        r = op(self.gen, test, self.filter(ctx))
        if r is None:
            return None
        e, g2 = r
        return e, (None if g2 is None else (self if g2 is self.gen else OnThreads(self.filter, g2)))

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        t = thread_of_event(ctx, event)
        if t is None or not self.filter.pred(t):
            return self
        g2 = update(self.gen, test, self.filter(ctx), event)
        return self if g2 is self.gen else OnThreads(self.filter, g2)

    def __repr__(self) -> str:
        return f"on_threads({self.filter.pred!r}, {self.gen!r})"


def _thread_of_retired(ctx: Context, process: object) -> Thread | None:
    """The thread a retired client process ran on (processes of thread t are t, t+c, t+2c, ...)."""
    if isinstance(process, int) and not isinstance(process, bool) and ctx.concurrency > 0 and process >= 0:
        return process % ctx.concurrency
    return None


def thread_of_event(ctx: Context, event: Event) -> Thread | None:
    """The thread an event happened on, also for the completion that retired its process."""
    t = ctx.threads.get(event.process)
    return t if t is not None else _thread_of_retired(ctx, event.process)


def on_threads(pred: Callable[[Thread], bool], gen: object) -> GenLike:
    """`gen` running only on the threads for which `pred(thread)` is true."""
    g = coerce(gen)
    return None if g is None else OnThreads(ThreadFilter(pred), g)


_CLIENTS = ThreadFilter(is_client_thread)
_NEMESIS = ThreadFilter(is_nemesis_thread)


def clients(client_gen: object, nemesis_gen: object = _MISSING) -> GenLike:
    """`clients(g)`: g on the client threads only. `clients(c, n)`: c on the clients and n on the nemesis."""
    c = coerce(client_gen)
    cg = None if c is None else OnThreads(_CLIENTS, c)
    if nemesis_gen is _MISSING:
        return cg
    return any(cg, nemesis(nemesis_gen))


def nemesis(nemesis_gen: object, client_gen: object = _MISSING) -> GenLike:
    """`nemesis(g)`: g on the nemesis thread only. `nemesis(n, c)`: n on the nemesis and c on the clients."""
    n = coerce(nemesis_gen)
    ng = None if n is None else OnThreads(_NEMESIS, n)
    if client_gen is _MISSING:
        return ng
    return any(ng, clients(client_gen))


class AnyOf(Gen):
    """All of `gens` at once: the soonest emission wins (ties: the first generator); every one is updated."""

    __slots__ = ("gens",)

    def __init__(self, gens: tuple[GenLike, ...]) -> None:
        self.gens = gens

    def op(self, test: Test, ctx: Context) -> OpResult:
        best: Emitted | None = None
        best_i = -1
        best_next: GenLike = None
        for i, g in enumerate(self.gens):
            r = op(g, test, ctx)
            if r is not None and beats(r[0], best):
                best, best_i, best_next = r[0], i, r[1]
        if best is None:
            return None
        if best_next is self.gens[best_i]:
            return best, self
        return best, AnyOf(self.gens[:best_i] + (best_next,) + self.gens[best_i + 1 :])

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        gens = update_all(self.gens, test, ctx, event)
        return self if gens is self.gens else AnyOf(gens)


def any(*gens: object) -> GenLike:
    """All of `gens` side by side; each op comes from whichever offers the soonest one."""
    gs = tuple(g for g in coerce_all(gens) if g is not None)
    if not gs:
        return None
    return gs[0] if len(gs) == 1 else AnyOf(gs)


class Routed(Gen):
    """Generators each on its own set of threads (`filters[i]` for `gens[i]`): the soonest emission wins (ties:
    the first); an event goes to the generator owning its thread. Exhausted when all are. `reserve` builds
    one."""

    __slots__ = ("filters", "gens")

    def __init__(self, filters: tuple[ThreadFilter, ...], gens: tuple[GenLike, ...]) -> None:
        self.filters = filters
        self.gens = gens

    def _route(self, ctx: Context, event: Event) -> int | None:
        t = thread_of_event(ctx, event)
        if t is None:
            return None
        for i, f in enumerate(self.filters):
            if f.pred(t):
                return i
        return None

    def op(self, test: Test, ctx: Context) -> OpResult:
        best: Emitted | None = None
        best_i = -1
        best_next: GenLike = None
        filters = self.filters
        for i, g in enumerate(self.gens):
            if g is None:
                continue
            r = op(g, test, filters[i](ctx))
            if r is not None and beats(r[0], best):
                best, best_i, best_next = r[0], i, r[1]
        if best is None:
            return None
        if best_next is self.gens[best_i]:
            return best, self
        return best, Routed(self.filters, self.gens[:best_i] + (best_next,) + self.gens[best_i + 1 :])

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        i = self._route(ctx, event)
        if i is None:
            return self
        g2 = update(self.gens[i], test, self.filters[i](ctx), event)
        if g2 is self.gens[i]:
            return self
        return Routed(self.filters, self.gens[:i] + (g2,) + self.gens[i + 1 :])


def reserve(*args: object) -> GenLike:
    """`reserve(n1, g1, n2, g2, ..., default)`: client threads 0..n1-1 run g1, the next n2 run g2, ...; every
    other thread (further clients, and the nemesis unless wrapped in `clients`) runs `default`."""
    if len(args) % 2 != 1:
        raise BadInput("reserve takes pairs (count, generator) followed by a default generator")
    filters: list[ThreadFilter] = []
    gens: list[GenLike] = []
    lo = 0
    for k in range(0, len(args) - 1, 2):
        n = check_count(args[k], "reserve count")
        a, b = lo, lo + n
        filters.append(ThreadFilter(_in_range(a, b)))
        gens.append(coerce(args[k + 1]))
        lo = b
    filters.append(ThreadFilter(_outside(lo)))
    gens.append(coerce(args[-1]))
    return Routed(tuple(filters), tuple(gens))


class _in_range:
    """Predicate: a client thread in [lo, hi). A class, not a lambda, so it has a readable repr."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, t: Thread) -> bool:
        return isinstance(t, int) and self.lo <= t < self.hi

    def __repr__(self) -> str:
        return f"threads[{self.lo}:{self.hi}]"


class _outside:
    """Predicate: any thread not in [0, lo)."""

    __slots__ = ("lo",)

    def __init__(self, lo: int) -> None:
        self.lo = lo

    def __call__(self, t: Thread) -> bool:
        return not (isinstance(t, int) and 0 <= t < self.lo)

    def __repr__(self) -> str:
        return f"threads[not 0:{self.lo}]"


class _is:
    """Predicate: exactly this thread."""

    __slots__ = ("thread",)

    def __init__(self, thread: Thread) -> None:
        self.thread = thread

    def __call__(self, t: Thread) -> bool:
        return t == self.thread

    def __repr__(self) -> str:
        return f"thread {self.thread!r}"


class EachThread(Gen):
    """A separate copy of `fresh` for every thread of the view, each seeing only its own thread. Copies are
    made as threads first appear; `gens` maps a thread to its copy's state."""

    __slots__ = ("filters", "fresh", "gens")

    def __init__(self, fresh: GenLike, gens: dict[Thread, GenLike], filters: dict[Thread, ThreadFilter]) -> None:
        self.fresh = fresh
        self.gens = gens  # never mutated: copied on change
        self.filters = filters  # shared memo of per-thread filters (pure cache)

    def _filter(self, t: Thread) -> ThreadFilter:
        f = self.filters.get(t)
        if f is None:
            f = self.filters[t] = ThreadFilter(_is(t))  # cache fill only: same value for the same t
        return f

    def op(self, test: Test, ctx: Context) -> OpResult:
        best: Emitted | None = None
        best_next: GenLike = None
        best_t: Thread | None = None
        any_pending = False
        free = ctx.free_threads
        gens = self.gens
        for t in ctx.all_threads:
            if t not in free:
                continue
            r = op(gens.get(t, self.fresh), test, self._filter(t)(ctx))
            if r is None:
                continue
            e = r[0]
            if e is PENDING:
                any_pending = True
            elif beats(e, best):
                best, best_next, best_t = e, r[1], t
        if best is not None and best_t is not None:  # set together
            gens = dict(gens)
            gens[best_t] = best_next
            return best, EachThread(self.fresh, gens, self.filters)
        if any_pending or len(free) != len(ctx.all_threads):
            return PENDING, self
        return None

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        t = thread_of_event(ctx, event)
        if t is None or t not in ctx.all_threads:
            return self
        g = self.gens.get(t, self.fresh)
        g2 = update(g, test, self._filter(t)(ctx), event)
        if g2 is g and t in self.gens:
            return self
        gens = dict(self.gens)
        gens[t] = g2
        return EachThread(self.fresh, gens, self.filters)


def each_thread(gen: object) -> GenLike:
    """A copy of `gen` for every thread: each thread runs the whole of `gen` on its own."""
    return EachThread(coerce(gen), {}, {})


__all__ = [
    "AnyOf",
    "EachThread",
    "OnThreads",
    "Routed",
    "any",
    "clients",
    "each_thread",
    "nemesis",
    "on_threads",
    "reserve",
    "thread_of_event",
]  # fmt: skip
