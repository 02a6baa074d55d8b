"""The generator DSL: pure values with explicit time that say which ops a test performs, when, and on which
worker threads; modelled on Jepsen's jepsen.generator.

Owns the whole public API of generators (re-exported here): the protocol (`op`, `update`, `PENDING`, `Sleep`,
`Log`, `Context`), the combinators, and the deterministic simulator used to test them. Does not own the
interpreter (`harness.interpreter`), which runs generators against real clients with the real clock.

    from harness import generator as gen
    read = {"f": "read"}                                                  # one op
    write = lambda test, ctx: {"f": "write", "value": test.rng.randrange(5)}  # a new op per call
    g = gen.phases(
        gen.time_limit(60, gen.clients(gen.stagger(0.01, gen.mix([gen.repeat(read), write])),
                                       gen.cycle([gen.sleep(5), {"f": "start"}, gen.sleep(5), {"f": "stop"}]))),
        gen.nemesis({"f": "stop"}),
        gen.clients(gen.each_thread(gen.once({"f": "read"}))),
    )

Plain values are generators: a dict `{"f": ..., "value": ...}` (or an invoke `Op`) is one op; a function
`fn(test, ctx)` returning such a value is called for every op; a list or tuple runs its elements in turn;
None is exhausted. Times are seconds in the API and integer nanoseconds (`ctx.time_ns`) inside.

`map`, `filter` and `any` shadow builtins on purpose (Jepsen's names): use them qualified, `gen.map(...)`.
"""

from harness.generator.combinators import (
    cycle,
    limit,
    mix,
    once,
    phases,
    repeat,
    synchronize,
    then,
)
from harness.generator.context import Context, Thread, ThreadFilter
from harness.generator.core import (
    PENDING,
    Event,
    Gen,
    GenLike,
    Log,
    OpResult,
    OpTemplate,
    Sleep,
    coerce,
    op,
    seq,
    stateful,
    update,
)
from harness.generator.flow import (
    concurrency_limit,
    filter,
    flip_flop,
    map,
    process_limit,
    until_ok,
)
from harness.generator.simulate import (
    brief,
    imperfect,
    invocations,
    perfect,
    perfect_all,
    perfect_info,
    quick,
    simulate,
)
from harness.generator.threads import (
    any,
    clients,
    each_thread,
    nemesis,
    on_threads,
    reserve,
)
from harness.generator.timing import delay, log, sleep, stagger, time_limit

__all__ = [
    # protocol
    "PENDING", "Context", "Thread", "ThreadFilter", "Gen", "GenLike", "Event", "OpResult", "OpTemplate",
    "Sleep", "Log", "op", "update", "coerce", "seq", "stateful",
    # combinators
    "once", "limit", "repeat", "cycle", "mix", "stagger", "delay", "sleep", "log", "time_limit", "phases",
    "then", "synchronize", "clients", "nemesis", "any", "reserve", "each_thread", "until_ok", "flip_flop",
    "concurrency_limit", "process_limit", "on_threads", "filter", "map",
    # simulator
    "simulate", "quick", "perfect", "perfect_all", "perfect_info", "imperfect", "invocations", "brief",
]  # fmt: skip
