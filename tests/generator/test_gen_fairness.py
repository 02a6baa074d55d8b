"""Fair process choice: an op template goes to a free process drawn uniformly from `test.rng` (as Jepsen's
context does), not to the lowest free one. Checked at three levels: the context's draw itself against an
independent `random.Random` of the same seed; whole simulated runs (the draw sequence, the spread over threads
under `stagger`, reproducibility from the seed); and a run of the real interpreter with a stub client (named as
such: the subject is the generator's choice under real timing), where the lowest-free rule had sent almost
every op to worker 0 and so to one node."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from harness import generator as gen
from harness.generator import Context
from harness.interpreter import Interpreter
from harness.nemesis import NoopNemesis
from harness.op import Op
from harness.options import RunOptions
from harness.test import bare_test

A = {"f": "a"}
MS = 1_000_000  # one millisecond in ns


def seeded(seed: int, concurrency: int):  # type: ignore[no-untyped-def]
    return bare_test(options=RunOptions(seed=seed, concurrency=concurrency), concurrency=concurrency)


# --- the draw ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("busy", [(), (0,), (1, 3), (0, 2, "nemesis"), (0, 1, 2, 3)])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_choice_is_one_uniform_draw_over_free_threads_in_thread_order(busy: tuple[Any, ...], seed: int) -> None:
    ctx = Context.initial(4)
    for t in busy:
        ctx = ctx.busy(t)
    free = ctx.free_processes()  # in thread order: clients ascending, then the nemesis
    rng, ref = random.Random(seed), random.Random(seed)
    for _ in range(20):
        p = ctx.some_free_process(rng)
        if not free:
            assert p is None
        else:
            assert p == free[int(ref.random() * len(free))]
        assert rng.getstate() == ref.getstate(), "exactly one random() per choice, none when nothing is free"


def test_without_rng_the_choice_is_still_the_lowest_free_thread() -> None:
    # kept for callers that see one thread only (the nemesis schedules) or want a fixed choice
    ctx = Context.initial(3).busy(0)
    assert ctx.some_free_process() == 1
    assert ctx.restrict(lambda t: t == "nemesis").some_free_process() == "nemesis"


def test_a_retired_process_is_never_chosen() -> None:
    ctx = Context.initial(3).with_next_process(1).busy(2)  # thread 1 now runs process 4
    rng = random.Random(5)
    chosen = {ctx.some_free_process(rng) for _ in range(200)}
    assert chosen == {0, 4, "nemesis"}


# --- simulated runs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 3, 11])
@pytest.mark.parametrize("concurrency", [2, 5])
def test_template_processes_are_the_seeded_draws(seed: int, concurrency: int) -> None:
    # concurrency_limit(1): every thread is free whenever an op is chosen, so op k runs on the thread of the
    # k-th draw; asks while the one op runs return PENDING without drawing
    g = gen.clients(gen.concurrency_limit(1, gen.limit(40, gen.repeat(A))))
    ops = gen.perfect(g, test=seeded(seed, concurrency), concurrency=concurrency)
    ref = random.Random(seed)
    assert [o.process for o in ops] == [int(ref.random() * concurrency) for _ in range(40)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_stagger_spreads_ops_over_every_free_thread(seed: int) -> None:
    # 5 threads, an op every 10 ms on average, each taking 1 ms: nearly always every thread is free when the
    # next op is due; lowest-free would give thread 0 almost all of them
    g = gen.clients(gen.stagger(0.01, gen.limit(500, gen.repeat(A))))
    ops = gen.invocations(gen.simulate(g, test=seeded(seed, 5), concurrency=5, latency_ns=MS))
    per_thread = Counter(o.process % 5 for o in ops)  # type: ignore[operator]
    assert len(ops) == 500
    assert all(per_thread[t] >= 50 for t in range(5)), per_thread  # 100 each expected; sd about 9


def test_every_op_still_goes_to_a_free_thread_when_few_are_free() -> None:
    # long ops, short gaps: threads are often busy; the simulator refuses an op for a busy process
    g = gen.clients(gen.stagger(0.001, gen.limit(300, gen.repeat(A))))
    ops = gen.invocations(gen.simulate(g, test=seeded(9, 4), concurrency=4, latency_ns=5 * MS))
    assert len(ops) == 300
    assert set(Counter(o.process for o in ops)) == {0, 1, 2, 3}


def test_same_seed_same_processes_and_values() -> None:
    def write(test, ctx):  # type: ignore[no-untyped-def]
        return {"f": "write", "value": test.rng.randrange(100)}

    def run(seed: int) -> list[tuple[int, Any, str, Any]]:
        g = gen.clients(gen.stagger(0.001, gen.limit(200, gen.mix([gen.repeat({"f": "read"}), write]))))
        ops = gen.invocations(gen.simulate(g, test=seeded(seed, 4), concurrency=4, latency_ns=MS))
        return [(o.time_ns, o.process, o.f, o.value) for o in ops]

    assert run(21) == run(21)
    assert [r[1] for r in run(21)] != [r[1] for r in run(22)]


def test_reserve_and_each_thread_keep_their_threads() -> None:
    # reserve: threads 0..1 write, the rest read, whatever the draw; each_thread: one op per thread
    g = gen.clients(gen.reserve(2, gen.limit(60, gen.repeat({"f": "w"})), gen.limit(90, gen.repeat({"f": "r"}))))
    ops = gen.perfect(g, test=seeded(4, 5), concurrency=5)
    assert {o.process for o in ops if o.f == "w"} == {0, 1}
    assert {o.process for o in ops if o.f == "r"} == {2, 3, 4}
    ops = gen.perfect(gen.clients(gen.each_thread(gen.once(A))), test=seeded(4, 5), concurrency=5)
    assert sorted(o.process for o in ops) == [0, 1, 2, 3, 4]


# --- the real interpreter ----------------------------------------------------------------------------------------


class StubClient:
    """A stub client (the subject is the interpreter's choice of worker): completes every op ok at once and
    notes the node its worker was opened on."""

    def __init__(self, nodes: list[str]) -> None:
        self.nodes = nodes
        self.node = ""

    def open(self, test: Any, node: str) -> StubClient:
        c = StubClient(self.nodes)
        c.node = node
        return c

    def setup(self, test: Any) -> None: ...
    def teardown(self, test: Any) -> None: ...
    def close(self, test: Any) -> None: ...

    def invoke(self, test: Any, op: Op) -> Op:
        self.nodes.append(self.node)
        return op.replace(type="ok")


def test_interpreter_with_stagger_spreads_ops_over_workers_and_nodes() -> None:
    nodes = ("n1", "n2", "n3", "n4", "n5")
    hits: list[str] = []
    test = bare_test(options=RunOptions(concurrency=5, seed=17), concurrency=5, client=StubClient(hits),
                     nemesis=NoopNemesis(), nodes=nodes)  # fmt: skip
    ops: list[Op] = []
    Interpreter(test, record=lambda op, done: ops.append(op)).run(
        gen.clients(gen.stagger(0.001, gen.limit(500, gen.repeat(A))))
    )
    invokes = [o for o in ops if o.type == "invoke"]
    assert len(invokes) == 500
    per_thread = Counter(o.process % 5 for o in invokes)  # type: ignore[operator]
    assert all(per_thread[t] >= 50 for t in range(5)), per_thread
    per_node = Counter(hits)
    assert set(per_node) == set(nodes) and all(per_node[n] >= 50 for n in nodes), per_node
