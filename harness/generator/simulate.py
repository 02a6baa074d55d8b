"""A deterministic simulator of the interpreter, for testing generators without threads, clocks or clients.

Owns `simulate` and the helpers modelled on jepsen-io/generator's test namespace: `quick` (every op completes
at once), `perfect` (every op completes ok after 10 ns), `perfect_all` (the same, with completions),
`perfect_info` (every op crashes), `imperfect` (each thread fails, crashes, then succeeds, in turn), and
`invocations`. Does not own the generator protocol nor the real interpreter (`harness.interpreter`), whose
loop it mirrors on a virtual clock:

- ask the generator; None: stop (ops in flight still complete); PENDING or an op later than the next
  completion: complete the next in-flight op first (the generator's next state is dropped and its draws from
  the seeded RNG are taken back, as the real interpreter does);
- otherwise dispatch: advance the clock to the op's time, mark its thread busy, `update` the generator with
  the invocation, and schedule its completion `latency_ns` later;
- on a completion: advance the clock, free the thread, retire the process on `info` (client threads only:
  the thread continues as process old + concurrency), `update` the generator with the completion.

`Sleep` keeps its thread busy for its duration, `Log` completes at once; both are passed to `update` on
dispatch and on completion, as the interpreter does, and neither is part of the history unless asked for with
`specials=True`. Completions due at the same time happen in dispatch order.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import TypedDict, Unpack

from harness.errors import BadInput
from harness.generator.context import Context, Thread
from harness.generator.core import PENDING, Event, GenLike, Log, Sleep, coerce, op, update
from harness.op import FAIL, INFO, INVOKE, NEMESIS, OK, Op
from harness.options import RunOptions
from harness.test import Test, bare_test

PERFECT_LATENCY_NS = 10

Completer = Callable[[Context, Op], "Op | str"]


class SimOptions(TypedDict, total=False):
    """The keyword arguments of `simulate` the helpers below pass through."""

    test: Test | None
    concurrency: int | None
    max_ops: int
    specials: bool
    time_ns: int
    keep_pending: bool


def _completion(ctx: Context, inv: Op, complete: str | Completer, latency_ns: int) -> Op:
    c = complete(ctx, inv) if callable(complete) else complete
    if isinstance(c, str):
        if c not in (OK, FAIL, INFO):
            raise BadInput(f"a completion type is ok, fail or info, not {c!r}")
        return inv.replace(type=c, time_ns=inv.time_ns + latency_ns)
    if not isinstance(c, Op) or c.type == INVOKE or c.process != inv.process or c.time_ns < inv.time_ns:
        raise BadInput(f"completion {c!r} of {inv} must be an ok/fail/info op of the same process, not earlier")
    return c


def _dispatched(e: Event, ctx: Context, complete: str | Completer, latency_ns: int, specials: bool,
                out: list[Event]) -> Event:
    """Record a dispatched emission in `out` (Sleep and Log only with `specials`) and return the event that
    completes it: the op's completion, the end of the sleep, or the log itself."""
    if isinstance(e, Op):
        out.append(e)
        return _completion(ctx, e, complete, latency_ns)
    if isinstance(e, Sleep):
        if specials:
            out.append(e)
        return e.__class__(e.process, e.time_ns + int(round(e.seconds * 1e9)), e.seconds)
    if isinstance(e, Log):
        if specials:
            out.append(e)
        return e
    raise BadInput(f"a generator emitted {e!r}, which is not an Op, Sleep, Log or PENDING")


def simulate(
    gen: object,
    *,
    test: Test | None = None,
    concurrency: int | None = None,
    latency_ns: int = PERFECT_LATENCY_NS,
    complete: str | Completer = OK,
    max_ops: int = 10_000,
    specials: bool = False,
    time_ns: int = 0,
    keep_pending: bool = False,
) -> list[Event]:
    """The history (invocations and completions, in time order) that `gen` produces against a system whose
    ops take `latency_ns` and complete as `complete` says: a type ("ok", "fail", "info") or a function
    `(ctx, invoke) -> type or completion Op`. `test` supplies the seeded rng (default: a bare test with seed
    0); `concurrency` defaults to the test's, or 2. At most `max_ops` ops are dispatched, counting Sleep and
    Log (then the run stops as if the generator were exhausted). With `specials`, Sleep and Log emissions appear in the result too.
    With `keep_pending`, the state returned with PENDING is adopted (the protocol allows either; by default
    it is dropped, as the interpreter does).
    Raises BadInput if the generator is pending while nothing is in flight (it could never emit again) or
    emits an op for a process that is not free."""
    if concurrency is None:
        concurrency = test.concurrency if test is not None else 2
    if test is None:
        test = bare_test(options=RunOptions(seed=0, concurrency=concurrency), concurrency=concurrency)
    ctx = Context.initial(concurrency, time_ns)
    g: GenLike = coerce(gen)
    out: list[Event] = []
    # in flight: (due time, dispatch seq, thread, completion event)
    flight: list[tuple[int, int, Thread, Event]] = []
    seq = 0
    dispatched = 0
    rng = test.rng
    while dispatched < max_ops:
        rng.checkpoint()
        r = op(g, test, ctx)
        if r is None:
            rng.rollback()
            break
        e, g2 = r
        if e is not PENDING and (not flight or e.time_ns <= flight[0][0]):
            rng.commit()
            if e.time_ns < ctx.time_ns:
                raise BadInput(f"generator emitted {e} before the current time {ctx.time_ns}")
            thread = ctx.thread_of(e.process)
            if thread is None or thread not in ctx.free_threads:
                raise BadInput(f"generator emitted {e} for a process that is not free")
            ctx = ctx.with_time(e.time_ns).busy(thread)
            g = update(g2, test, ctx, e)
            dispatched += 1
            done = _dispatched(e, ctx, complete, latency_ns, specials, out)
            heapq.heappush(flight, (done.time_ns, seq, thread, done))
            seq += 1
            continue
        rng.rollback()  # not dispatched: its draws are taken back, as the interpreter does
        if not flight:
            raise BadInput("generator is pending while nothing is in flight: it can never emit again")
        if keep_pending and e is PENDING:
            g = g2
        t, _, thread, done = heapq.heappop(flight)
        ctx = ctx.with_time(t).free(thread)
        if isinstance(done, Op):
            out.append(done)
            if done.type == INFO and thread != NEMESIS:
                ctx = ctx.with_next_process(thread)
        g = update(g, test, ctx, done)
    while flight:  # the generator is done: what is in flight still completes
        _, _, _, done = heapq.heappop(flight)
        if isinstance(done, Op):
            out.append(done)
    return out


def invocations(history: Sequence[object]) -> list[Op]:
    """Only the invocations of a simulated history."""
    return [o for o in history if isinstance(o, Op) and o.type == INVOKE]


def quick(gen: object, **kw: Unpack[SimOptions]) -> list[Op]:
    """Invocations of `gen` when every op completes ok instantly."""
    return invocations(simulate(gen, latency_ns=0, **kw))


def perfect(gen: object, **kw: Unpack[SimOptions]) -> list[Op]:
    """Invocations of `gen` when every op completes ok after 10 ns."""
    return invocations(simulate(gen, latency_ns=PERFECT_LATENCY_NS, **kw))


def perfect_all(gen: object, **kw: Unpack[SimOptions]) -> list[Event]:
    """Invocations and completions of `gen` when every op completes ok after 10 ns."""
    return simulate(gen, latency_ns=PERFECT_LATENCY_NS, **kw)


def perfect_info(gen: object, **kw: Unpack[SimOptions]) -> list[Event]:
    """Invocations and completions of `gen` when every op crashes (info) after 10 ns."""
    return simulate(gen, latency_ns=PERFECT_LATENCY_NS, complete=INFO, **kw)


def imperfect(gen: object, **kw: Unpack[SimOptions]) -> list[Event]:
    """Invocations and completions of `gen` when each thread's ops fail, crash, then succeed, in turn, each
    after 10 ns."""
    turns = (FAIL, INFO, OK)
    count: dict[object, int] = {}

    def complete(ctx: Context, inv: Op) -> str:
        t = ctx.thread_of(inv.process)
        n = count.get(t, 0)
        count[t] = n + 1
        return turns[n % 3]

    return simulate(gen, latency_ns=PERFECT_LATENCY_NS, complete=complete, **kw)


def brief(history: Sequence[object]) -> list[tuple[object, ...]]:
    """A compact view for assertions: (time_ns, process, type, f, value) per op; ("sleep", ...) and
    ("log", ...) for the specials."""
    rows: list[tuple[object, ...]] = []
    for o in history:
        if isinstance(o, Op):
            rows.append((o.time_ns, o.process, o.type, o.f, o.value))
        elif isinstance(o, Sleep):
            rows.append((o.time_ns, o.process, "sleep", o.seconds))
        elif isinstance(o, Log):
            rows.append((o.time_ns, o.process, "log", o.message))
    return rows
