"""Plain values as generators, the context, and the simulator itself: exact op sequences with times, in the
style of jepsen-io/generator's test namespace. Default world: 2 client threads plus the nemesis thread, every
op completing ok 10 ns after its invocation (`perfect`). Processes chosen among several free threads are the
draws of seed 0 (the simulator's default test), pinned as Jepsen's generator tests pin theirs."""

from __future__ import annotations

import pytest

from harness import generator as gen
from harness.errors import BadInput
from harness.generator import PENDING, Context
from harness.op import Op
from harness.options import RunOptions
from harness.test import bare_test


def tpf(ops: list[Op]) -> list[tuple[int, object, str]]:
    """(time_ns, process, f) of each op."""
    return [(o.time_ns, o.process, o.f) for o in ops]


def test_none_and_empty_list_are_exhausted() -> None:
    assert gen.perfect(None) == []
    assert gen.perfect([]) == []


def test_dict_is_one_op_on_a_free_process() -> None:
    ops = gen.perfect({"f": "write", "value": 3})
    assert len(ops) == 1
    o = ops[0]
    assert (o.time_ns, o.process, o.type, o.f, o.value, o.index) == (0, "nemesis", "invoke", "write", 3, -1)


def test_partial_op_is_a_template() -> None:
    template = Op(type="invoke", process=None, f="read", value=None)  # type: ignore[arg-type]
    assert tpf(gen.perfect([template, template])) == [(0, "nemesis", "read"), (0, 1, "read")]


def test_list_runs_elements_in_order_on_free_threads() -> None:
    # the top level has no clients() restriction: the nemesis thread takes ops too
    ops = gen.perfect([{"f": "a"}, {"f": "b"}, {"f": "c"}, {"f": "d"}, {"f": "e"}])
    assert tpf(ops) == [(0, "nemesis", "a"), (0, 1, "b"), (0, 0, "c"), (10, "nemesis", "d"), (10, 1, "e")]


def test_template_time_means_not_before() -> None:
    ops = gen.perfect([{"f": "a"}, {"f": "b", "time_ns": 500}, {"f": "c"}])
    # c is ready at 0 too, but comes after b in the sequence: it goes at b's time
    assert tpf(ops) == [(0, "nemesis", "a"), (500, "nemesis", "b"), (500, 0, "c")]


def test_template_with_explicit_process_waits_for_it() -> None:
    ops = gen.perfect([{"f": "a", "process": 1}, {"f": "b", "process": 1}, {"f": "c"}])
    assert tpf(ops) == [(0, 1, "a"), (10, 1, "b"), (10, "nemesis", "c")]


def test_function_is_called_for_every_op_and_none_ends_it() -> None:
    def f(test, ctx):  # type: ignore[no-untyped-def]
        if ctx.time_ns >= 20:
            return None
        return {"f": "w", "value": ctx.time_ns}

    ops = gen.perfect(gen.clients(f))
    assert [(o.time_ns, o.process, o.value) for o in ops] == [(0, 1, 0), (0, 0, 0), (10, 1, 10), (10, 0, 10)]


def test_function_may_return_a_sequence() -> None:
    # the function is asked again only once the sequence it returned is used up
    def f(test, ctx):  # type: ignore[no-untyped-def]
        return [{"f": "a"}, {"f": "b"}] if ctx.time_ns < 30 else None

    assert tpf(gen.perfect(gen.clients(f), concurrency=1)) == [(0, 0, "a"), (10, 0, "b"), (20, 0, "a"), (30, 0, "b")]


@pytest.mark.parametrize(
    "value, message",
    [
        ({"f": "r", "colour": 1}, "unknown op field"),
        ({"value": 1}, "needs a string 'f'"),
        ({"f": "r", "type": "ok"}, "invocations only"),
        ({"f": "r", "time_ns": -1}, "time_ns"),
        (42, "not a generator"),
    ],
)
def test_bad_plain_values_are_bad_input(value: object, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        gen.perfect(value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: gen.limit(-1, {"f": "a"}),
        lambda: gen.repeat(1.5, {"f": "a"}),
        lambda: gen.cycle(-2, {"f": "a"}),
        lambda: gen.stagger(-1, {"f": "a"}),
        lambda: gen.delay(float("nan"), {"f": "a"}),
        lambda: gen.time_limit("10", {"f": "a"}),
        lambda: gen.sleep(-3),
        lambda: gen.concurrency_limit(0, {"f": "a"}),
        lambda: gen.reserve(1, {"f": "a"}),
        lambda: gen.reserve(-1, {"f": "a"}, {"f": "b"}),
    ],
)
def test_bad_combinator_arguments_are_bad_input(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BadInput):
        build()


# --- context ---------------------------------------------------------------------------------------------------


def test_initial_context() -> None:
    ctx = Context.initial(3, time_ns=7)
    assert ctx.time_ns == 7
    assert ctx.all_threads == (0, 1, 2, "nemesis")
    assert ctx.free_threads == frozenset((0, 1, 2, "nemesis"))
    assert [ctx.process_of(t) for t in ctx.all_threads] == [0, 1, 2, "nemesis"]
    assert ctx.thread_of("nemesis") == "nemesis"
    assert ctx.some_free_process() == 0
    assert ctx.free_processes() == (0, 1, 2, "nemesis")


def test_busy_free_and_lowest_free_process() -> None:
    ctx = Context.initial(3).busy(0).busy(1)
    assert ctx.some_free_process() == 2
    assert ctx.free_processes() == (2, "nemesis")
    ctx = ctx.busy(2)
    assert ctx.some_free_process() == "nemesis"
    ctx = ctx.busy("nemesis")
    assert ctx.some_free_process() is None and ctx.free_processes() == ()
    ctx = ctx.free(1)
    assert ctx.some_free_process() == 1


def test_with_next_process_after_a_crash() -> None:
    ctx = Context.initial(3)
    c2 = ctx.with_next_process(1).with_next_process(1)
    assert c2.process_of(1) == 7
    assert c2.thread_of(7) == 1
    assert c2.thread_of(1) is None and c2.thread_of(4) is None
    assert ctx.process_of(1) == 1, "the original context is unchanged"
    assert ctx.with_next_process("nemesis").process_of("nemesis") == "nemesis"


def test_restrict_is_a_view() -> None:
    ctx = Context.initial(3).busy(1)
    view = ctx.restrict(lambda t: t != 0)
    assert view.all_threads == (1, 2, "nemesis")
    assert view.free_threads == frozenset((2, "nemesis"))
    assert view.some_free_process() == 2
    only = ctx.only([1])
    assert only.all_threads == (1,) and only.some_free_process() is None


def test_bad_concurrency() -> None:
    with pytest.raises(BadInput):
        Context.initial(-1)


# --- the simulator -----------------------------------------------------------------------------------------------


def test_perfect_all_has_completions() -> None:
    hist = gen.perfect_all(gen.clients(gen.limit(3, gen.repeat({"f": "r"}))))
    assert gen.brief(hist) == [
        (0, 1, "invoke", "r", None), (0, 0, "invoke", "r", None), (10, 1, "ok", "r", None),
        (10, 1, "invoke", "r", None), (10, 0, "ok", "r", None), (20, 1, "ok", "r", None),
    ]  # fmt: skip


def test_quick_completes_instantly() -> None:
    assert tpf(gen.quick(gen.clients(gen.limit(3, gen.repeat({"f": "r"}))))) == [
        (0, 1, "r"), (0, 0, "r"), (0, 1, "r"),
    ]  # fmt: skip


def test_info_retires_the_process() -> None:
    hist = gen.perfect_info(gen.clients(gen.limit(5, gen.repeat({"f": "r"}))), concurrency=2)
    assert [(o.time_ns, o.process, o.type) for o in hist] == [
        (0, 1, "invoke"), (0, 0, "invoke"), (10, 1, "info"), (10, 3, "invoke"), (10, 0, "info"), (10, 2, "invoke"),
        (20, 3, "info"), (20, 5, "invoke"), (20, 2, "info"), (30, 5, "info"),
    ]  # fmt: skip


def test_nemesis_keeps_its_process_after_info() -> None:
    hist = gen.perfect_info(gen.nemesis(gen.limit(2, gen.repeat({"f": "kill"}))))
    assert [(o.time_ns, o.process, o.type) for o in hist] == [
        (0, "nemesis", "invoke"),
        (10, "nemesis", "info"),
        (10, "nemesis", "invoke"),
        (20, "nemesis", "info"),
    ]


def test_imperfect_cycles_fail_info_ok_per_thread() -> None:
    hist = gen.imperfect(gen.clients(gen.limit(3, gen.repeat({"f": "r"}))), concurrency=1)
    assert [(o.time_ns, o.process, o.type) for o in hist] == [
        (0, 0, "invoke"),
        (10, 0, "fail"),
        (10, 0, "invoke"),
        (20, 0, "info"),
        (20, 1, "invoke"),
        (30, 1, "ok"),
    ]


def test_completion_function_sets_latency_and_type() -> None:
    def complete(ctx: Context, inv: Op) -> Op:
        return inv.replace(type="fail" if inv.process == 1 else "ok", time_ns=inv.time_ns + 100 * (inv.process + 1))

    hist = gen.simulate(gen.clients(gen.limit(3, gen.repeat({"f": "r"}))), complete=complete)
    assert [(o.time_ns, o.process, o.type) for o in hist] == [
        (0, 1, "invoke"), (0, 0, "invoke"), (100, 0, "ok"), (100, 0, "invoke"), (200, 1, "fail"), (200, 0, "ok"),
    ]  # fmt: skip


def test_max_ops_truncates_an_endless_generator() -> None:
    assert len(gen.perfect(gen.repeat({"f": "r"}), max_ops=7)) == 7


def test_max_ops_counts_sleeps_and_logs_too() -> None:
    # a log holds its thread until the worker has written it (at once, in the simulator)
    assert gen.simulate(gen.repeat(gen.log("x")), max_ops=5, specials=True) == [
        gen.Log("nemesis", 0, "x"), gen.Log(1, 0, "x"), gen.Log(0, 0, "x"), gen.Log("nemesis", 0, "x"),
        gen.Log(1, 0, "x"),
    ]  # fmt: skip


def test_filter_that_never_passes_is_reported() -> None:
    with pytest.raises(BadInput, match="filter: 10000 ops in a row rejected"):
        gen.perfect(gen.filter(lambda o: o.value != 3, gen.repeat({"f": "w", "value": 3})))


def test_stuck_generator_is_reported() -> None:
    with pytest.raises(BadInput, match="pending while nothing is in flight"):
        gen.perfect(gen.repeat({"f": "r", "process": 99}))  # no thread will ever run process 99


def test_a_generator_without_threads_is_exhausted() -> None:
    assert gen.perfect(gen.on_threads(lambda t: False, gen.repeat({"f": "r"}))) == []
    g = gen.clients(gen.reserve(2, gen.limit(3, gen.repeat({"f": "w"})), gen.repeat({"f": "r"})))
    assert [o.f for o in gen.perfect(g)] == ["w", "w", "w"]  # the default has no thread left


def test_simulation_is_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[tuple[int, object, str]]:
        test = bare_test(options=RunOptions(seed=seed), concurrency=3)
        g = gen.clients(gen.limit(30, gen.stagger(0.001, gen.mix([gen.repeat({"f": "a"}), gen.repeat({"f": "b"})]))))
        return tpf(gen.perfect(g, test=test))

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_op_is_pure() -> None:
    # pure except for draws from test.rng (here: the choice among the free processes): from the same rng
    # state, the same answer
    test = bare_test(concurrency=4)
    ctx = Context.initial(4)
    g = gen.clients(gen.limit(3, gen.repeat({"f": "r"})))
    state = test.rng.getstate()
    first = gen.op(g, test, ctx)
    answers: set[object] = set()
    for i in range(20):
        test.rng.setstate(state)
        again = gen.op(g, test, ctx)
        assert again is not None and first is not None and again[0] == first[0]
        test.rng.seed(i)
        answers.add(gen.op(g, test, ctx)[0].process)  # type: ignore[index, union-attr]
    assert len(answers) > 1, "other rng states choose other processes"
    assert gen.op(g, test, ctx.busy(0).busy(1).busy(2).busy(3))[0] is PENDING  # type: ignore[index]


def test_fast_invoke_equals_the_constructor() -> None:
    from harness.generator.core import new_invoke

    assert new_invoke(4, 99, "cas", (1, 2), "n2") == Op(
        index=-1, time_ns=99, type="invoke", process=4, f="cas", value=(1, 2), node="n2"
    )


def test_public_api_is_pinned() -> None:
    # the names the interpreter, workloads and nemeses build on (issue 2); removing one is a breaking change
    expected = {
        "PENDING", "Context", "Sleep", "Log", "op", "update", "coerce",
        "once", "limit", "repeat", "cycle", "mix", "stagger", "delay", "sleep", "log", "time_limit", "phases",
        "then", "synchronize", "clients", "nemesis", "any", "reserve", "each_thread", "until_ok", "flip_flop",
        "concurrency_limit", "process_limit", "on_threads", "filter", "map",
        "simulate", "quick", "perfect", "perfect_all", "perfect_info", "imperfect", "invocations", "brief",
    }  # fmt: skip
    assert expected <= set(gen.__all__)
    assert all(hasattr(gen, name) for name in gen.__all__)
