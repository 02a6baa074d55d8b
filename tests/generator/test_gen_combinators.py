"""Every combinator, run through the simulator, with the exact ops (time, process, f) it yields.

Default world (as in jepsen-io/generator's tests): 2 client threads plus the nemesis thread; `perfect` completes
every op ok 10 ns after it was invoked, `quick` at once. Expected sequences are worked out by hand from the
semantics in each combinator's docstring; comments explain the less obvious steps. Which of several free
threads takes an op is a draw from the test's seeded RNG (seed 0 unless a test says otherwise): those
processes are pinned for the seed, as Jepsen's generator tests pin theirs (test_gen_fairness checks the draw
itself against an independent `random.Random`)."""

from __future__ import annotations

import random
from collections import Counter

from harness import generator as gen
from harness.generator import Context
from harness.op import Op
from harness.options import RunOptions
from harness.test import bare_test

A = {"f": "a"}
B = {"f": "b"}
S = 1_000_000_000  # one second in ns


def tpf(ops: list[Op]) -> list[tuple[int, object, str]]:
    return [(o.time_ns, o.process, o.f) for o in ops]


def seeded(seed: int, concurrency: int = 2):  # type: ignore[no-untyped-def]
    return bare_test(options=RunOptions(seed=seed), concurrency=concurrency)


def latency_by(fn):  # type: ignore[no-untyped-def]
    """A completer: ok, after fn(invoke) ns."""

    def complete(ctx: Context, inv: Op) -> Op:
        return inv.replace(type="ok", time_ns=inv.time_ns + fn(inv))

    return complete


# --- once, limit -------------------------------------------------------------------------------------------------


def test_once() -> None:
    assert tpf(gen.perfect(gen.once(gen.repeat(A)))) == [(0, "nemesis", "a")]


def test_limit() -> None:
    assert gen.perfect(gen.limit(0, gen.repeat(A))) == []
    assert tpf(gen.perfect(gen.clients(gen.limit(5, gen.repeat(A))))) == [
        (0, 1, "a"), (0, 0, "a"), (10, 1, "a"), (10, 0, "a"), (20, 1, "a"),
    ]  # fmt: skip


def test_limit_of_a_shorter_sequence() -> None:
    assert tpf(gen.perfect(gen.limit(3, [A, B]))) == [(0, "nemesis", "a"), (0, 1, "b")]


# --- repeat, cycle -------------------------------------------------------------------------------------------------


def test_repeat_n() -> None:
    assert tpf(gen.perfect(gen.repeat(3, A))) == [(0, "nemesis", "a"), (0, 1, "a"), (0, 0, "a")]
    assert gen.perfect(gen.repeat(0, A)) == []


def test_repeat_never_advances_its_generator() -> None:
    # Jepsen semantics: repeat re-asks the same generator, so a sequence yields its first op again and again
    assert tpf(gen.perfect(gen.clients(gen.limit(4, gen.repeat([A, B]))))) == [
        (0, 1, "a"), (0, 0, "a"), (10, 1, "a"), (10, 0, "a"),
    ]  # fmt: skip


def test_repeat_of_a_function_calls_it_each_time() -> None:
    g = gen.clients(gen.limit(4, gen.repeat(lambda test, ctx: {"f": "w", "value": ctx.time_ns})))
    assert [(o.time_ns, o.process, o.value) for o in gen.perfect(g)] == [
        (0, 1, 0), (0, 0, 0), (10, 1, 10), (10, 0, 10),
    ]  # fmt: skip


def test_cycle_n() -> None:
    assert tpf(gen.perfect(gen.clients(gen.cycle(2, [A, B])))) == [
        (0, 1, "a"), (0, 0, "b"), (10, 1, "a"), (10, 0, "b"),
    ]  # fmt: skip


def test_cycle_forever_and_of_nothing() -> None:
    assert tpf(gen.perfect(gen.limit(3, gen.clients(gen.cycle([A]))), concurrency=1)) == [
        (0, 0, "a"), (10, 0, "a"), (20, 0, "a"),
    ]  # fmt: skip
    assert gen.perfect(gen.cycle(3, [])) == []
    assert gen.perfect(gen.cycle([])) == []  # an empty round ends an endless cycle instead of spinning


# --- mix, stagger, delay ------------------------------------------------------------------------------------------


def test_mix_draws_every_generator_to_exhaustion_in_a_random_order() -> None:
    fs = [o.f for o in gen.quick(gen.clients(gen.mix([gen.repeat(5, A), gen.repeat(10, B)])), test=seeded(1))]
    assert Counter(fs) == {"a": 5, "b": 10}
    assert fs != ["a"] * 5 + ["b"] * 10


def test_mix_is_uniform() -> None:
    g = gen.clients(gen.limit(3000, gen.mix([gen.repeat(A), gen.repeat(B), gen.repeat({"f": "c"})])))
    counts = Counter(o.f for o in gen.quick(g, test=seeded(2), max_ops=5000))
    assert sum(counts.values()) == 3000
    assert all(850 < counts[f] < 1150 for f in "abc"), counts  # 1000 each; sd about 26


def test_stagger_delays_are_the_rng_draws() -> None:
    # one client thread, zero latency: op k goes at the sum of the first k gaps drawn with randrange(2*dt);
    # before each gap, the op's template draws its process (one random() per op, even with one free thread)
    dt = 0.5
    ops = gen.quick(gen.clients(gen.stagger(dt, gen.limit(6, gen.repeat(A)))), test=seeded(3, 1), concurrency=1)
    rng = random.Random(3)
    expected, t = [], 0
    for _ in range(6):
        expected.append(t)
        rng.random()
        t += rng.randrange(2 * int(dt * S))
    assert [o.time_ns for o in ops] == expected
    assert all(o.process == 0 for o in ops)


def test_stagger_gaps_average_dt() -> None:
    ops = gen.quick(gen.clients(gen.stagger(0.01, gen.limit(2000, gen.repeat(A)))), test=seeded(4, 1), concurrency=1)
    gaps = [b.time_ns - a.time_ns for a, b in zip(ops, ops[1:])]
    assert all(0 <= g < 2 * 10_000_000 for g in gaps)
    assert abs(sum(gaps) / len(gaps) - 10_000_000) < 600_000  # sd of the mean is about 130_000


def test_delay_spaces_ops_exactly() -> None:
    assert tpf(gen.perfect(gen.clients(gen.delay(1, gen.limit(3, gen.repeat(A)))))) == [
        (0, 1, "a"), (S, 1, "a"), (2 * S, 0, "a"),
    ]  # fmt: skip


def test_delay_catches_up_after_falling_behind() -> None:
    # the first op takes 3.5 s, the others no time: ops 1..3 are late and go at once, then the 1 s grid resumes
    slow_first = latency_by(lambda inv: 3 * S + S // 2 if inv.time_ns == 0 else 0)
    ops = gen.simulate(gen.clients(gen.delay(1, gen.limit(6, gen.repeat(A)))), concurrency=1, complete=slow_first)
    assert [o.time_ns for o in gen.invocations(ops)] == [0, 3_500_000_000, 3_500_000_000, 3_500_000_000, 4 * S, 5 * S]


# --- sleep, log ---------------------------------------------------------------------------------------------------


def test_sleep_keeps_one_thread_busy() -> None:
    g = gen.clients(gen.phases(gen.limit(2, gen.repeat(A)), gen.sleep(1), gen.once(B)))
    assert gen.brief(gen.simulate(g, specials=True)) == [
        (0, 1, "invoke", "a", None),
        (0, 0, "invoke", "a", None),
        (10, 1, "ok", "a", None),
        (10, 0, "ok", "a", None),
        (10, 0, "sleep", 1.0),
        (S + 10, 0, "invoke", "b", None),
        (S + 20, 0, "ok", "b", None),
    ]


def test_sleep_on_one_thread_does_not_stop_the_others() -> None:
    g = gen.clients([gen.sleep(1), gen.limit(2, gen.repeat(A))])
    assert tpf(gen.perfect(g)) == [(0, 0, "a"), (10, 0, "a")]


def test_log() -> None:
    g = gen.clients([A, gen.log("hello"), B])
    assert gen.brief(gen.simulate(g, specials=True, concurrency=1)) == [
        (0, 0, "invoke", "a", None),
        (10, 0, "ok", "a", None),
        (10, 0, "log", "hello"),
        (10, 0, "invoke", "b", None),
        (20, 0, "ok", "b", None),
    ]


# --- time_limit ----------------------------------------------------------------------------------------------------


def test_time_limit_cuts_at_the_limit() -> None:
    ops = gen.perfect(gen.clients(gen.time_limit(3.5, gen.delay(1, gen.repeat(A)))), concurrency=1)
    assert [o.time_ns for o in ops] == [0, S, 2 * S, 3 * S]
    ops = gen.perfect(gen.clients(gen.time_limit(3, gen.delay(1, gen.repeat(A)))), concurrency=1)
    assert [o.time_ns for o in ops] == [0, S, 2 * S]  # an op exactly at the limit is past it


def test_time_limit_ends_while_its_generator_is_pending() -> None:
    # both threads busy for 5 s: at 5 s the limit (1 s) is past, so it ends instead of emitting
    ops = gen.simulate(gen.clients(gen.time_limit(1, gen.repeat(A))), latency_ns=5 * S)
    assert gen.brief(ops) == [
        (0, 1, "invoke", "a", None), (0, 0, "invoke", "a", None), (5 * S, 1, "ok", "a", None),
        (5 * S, 0, "ok", "a", None),
    ]  # fmt: skip


def test_time_limit_starts_when_first_asked() -> None:
    # a's take 1 s each; the time limit (0.5 s) starts after them, at 2 s
    lat = latency_by(lambda inv: S if inv.f == "a" else 10)
    g = gen.clients(gen.then(gen.limit(2, gen.repeat(A)), gen.time_limit(0.5, gen.delay(0.2, gen.repeat(B)))))
    ops = gen.invocations(gen.simulate(g, concurrency=1, complete=lat))
    assert tpf(ops) == [(0, 0, "a"), (S, 0, "a"), (2 * S, 0, "b"), (2_200_000_000, 0, "b"), (2_400_000_000, 0, "b")]


# --- synchronize, phases, then --------------------------------------------------------------------------------------

UNEVEN = latency_by(lambda inv: 100 if inv.process == 1 else (50 if inv.process == "nemesis" else 10))


def test_without_synchronize_c_goes_on_the_first_free_thread() -> None:
    ops = gen.invocations(gen.simulate(gen.clients([A, B, {"f": "c"}]), complete=UNEVEN))
    assert tpf(ops) == [(0, 1, "a"), (0, 0, "b"), (10, 0, "c")]


def test_synchronize_waits_for_every_thread() -> None:
    ops = gen.invocations(gen.simulate(gen.clients([A, B, gen.synchronize({"f": "c"})]), complete=UNEVEN))
    assert tpf(ops) == [(0, 1, "a"), (0, 0, "b"), (100, 0, "c")]


def test_phases() -> None:
    ops = gen.invocations(gen.simulate(gen.clients(gen.phases([A, B], {"f": "c"}, gen.limit(2, gen.repeat({"f": "d"})))), complete=UNEVEN))
    assert tpf(ops) == [(0, 1, "a"), (0, 0, "b"), (100, 0, "c"), (110, 0, "d"), (110, 1, "d")]


def test_top_level_phases_wait_for_the_nemesis_too() -> None:
    # the nemesis is the slowest (50 ns, clients 10 ns): b waits for it
    slow_nemesis = latency_by(lambda inv: 50 if inv.process == "nemesis" else 10)
    g = gen.phases(gen.any(gen.nemesis(gen.once({"f": "kill"})), gen.clients(gen.once(A))), gen.clients(gen.once(B)))
    ops = gen.invocations(gen.simulate(g, complete=slow_nemesis))
    assert tpf(ops) == [(0, "nemesis", "kill"), (0, 0, "a"), (50, 0, "b")]


def test_then() -> None:
    ops = gen.invocations(gen.simulate(gen.clients(gen.then([A, B], {"f": "c"})), complete=UNEVEN))
    assert tpf(ops) == [(0, 1, "a"), (0, 0, "b"), (100, 0, "c")]


# --- thread routing: clients, nemesis, on_threads, any, reserve, each_thread -------------------------------------


def test_clients_never_use_the_nemesis_thread() -> None:
    assert tpf(gen.perfect(gen.clients(gen.limit(3, gen.repeat(A))))) == [(0, 1, "a"), (0, 0, "a"), (10, 1, "a")]


def test_nemesis_only_uses_the_nemesis_thread() -> None:
    assert tpf(gen.perfect(gen.nemesis(gen.limit(2, gen.repeat(A))))) == [(0, "nemesis", "a"), (10, "nemesis", "a")]


def test_clients_with_nemesis() -> None:
    g = gen.clients(gen.limit(3, gen.repeat({"f": "r"})), gen.limit(2, gen.repeat({"f": "kill"})))
    assert tpf(gen.perfect(g)) == [
        (0, 1, "r"), (0, 0, "r"), (0, "nemesis", "kill"), (10, 1, "r"), (10, "nemesis", "kill"),
    ]  # fmt: skip


def test_nemesis_with_clients_prefers_the_nemesis_on_ties() -> None:
    g = gen.nemesis(gen.limit(2, gen.repeat({"f": "kill"})), gen.limit(3, gen.repeat({"f": "r"})))
    assert tpf(gen.perfect(g)) == [
        (0, "nemesis", "kill"), (0, 0, "r"), (0, 1, "r"), (10, "nemesis", "kill"), (10, 0, "r"),
    ]  # fmt: skip


def test_on_threads() -> None:
    g = gen.limit(3, gen.on_threads(lambda t: t == 1, gen.repeat(A)))
    assert tpf(gen.perfect(g)) == [(0, 1, "a"), (10, 1, "a"), (20, 1, "a")]


def test_any_takes_the_soonest_op() -> None:
    g = gen.any(gen.delay(1, gen.limit(2, gen.repeat(A))), gen.once({"f": "b", "time_ns": S // 2}))
    assert tpf(gen.perfect(g)) == [(0, "nemesis", "a"), (S // 2, 0, "b"), (S, 1, "a")]


def test_reserve() -> None:
    g = gen.limit(6, gen.clients(gen.reserve(1, gen.repeat({"f": "w"}), gen.repeat({"f": "r"}))))
    assert tpf(gen.perfect(g, concurrency=3)) == [
        (0, 0, "w"), (0, 1, "r"), (0, 2, "r"), (10, 0, "w"), (10, 1, "r"), (10, 2, "r"),
    ]  # fmt: skip


def test_reserve_three_groups() -> None:
    g = gen.limit(3, gen.clients(gen.reserve(1, gen.repeat({"f": "w"}), 1, gen.repeat({"f": "cas"}), gen.repeat({"f": "r"}))))
    assert tpf(gen.perfect(g, concurrency=3)) == [(0, 0, "w"), (0, 1, "cas"), (0, 2, "r")]


def test_reserve_default_takes_the_nemesis_outside_clients() -> None:
    g = gen.limit(4, gen.reserve(2, gen.repeat({"f": "w"}), gen.repeat({"f": "r"})))
    assert tpf(gen.perfect(g)) == [(0, 1, "w"), (0, 0, "w"), (0, "nemesis", "r"), (10, 1, "w")]


def test_each_thread() -> None:
    assert tpf(gen.perfect(gen.each_thread(gen.once(A)))) == [(0, 0, "a"), (0, 1, "a"), (0, "nemesis", "a")]
    assert tpf(gen.perfect(gen.clients(gen.each_thread(gen.limit(2, gen.repeat(A)))))) == [
        (0, 0, "a"), (0, 1, "a"), (10, 0, "a"), (10, 1, "a"),
    ]  # fmt: skip


def test_each_thread_sees_only_its_own_thread() -> None:
    g = gen.clients(gen.each_thread(gen.once(lambda test, ctx: {"f": "r", "value": ctx.all_threads})))
    assert [(o.process, o.value) for o in gen.perfect(g)] == [(0, (0,)), (1, (1,))]


def test_each_thread_follows_the_thread_across_crashes() -> None:
    ops = gen.invocations(gen.perfect_info(gen.clients(gen.each_thread(gen.limit(2, gen.repeat(A))))))
    assert tpf(ops) == [(0, 0, "a"), (0, 1, "a"), (10, 2, "a"), (10, 3, "a")]


# --- outcome-driven: until_ok; flip_flop, concurrency/process limits; filter, map ----------------------------------


def test_until_ok_one_thread() -> None:
    # imperfect: each thread's ops fail, crash (info), then succeed
    ops = gen.invocations(gen.imperfect(gen.clients(gen.until_ok(gen.repeat(A))), concurrency=1))
    assert tpf(ops) == [(0, 0, "a"), (10, 0, "a"), (20, 1, "a")]


def test_until_ok_two_threads() -> None:
    ops = gen.invocations(gen.imperfect(gen.clients(gen.until_ok(gen.repeat(A)))))
    assert tpf(ops) == [(0, 1, "a"), (0, 0, "a"), (10, 1, "a"), (10, 0, "a"), (20, 3, "a"), (20, 2, "a")]


def test_until_ok_ignores_oks_of_other_generators() -> None:
    def complete(ctx: Context, inv: Op) -> str:
        return "ok" if inv.process == "nemesis" or inv.time_ns >= 20 else "fail"

    g = gen.any(gen.clients(gen.until_ok(gen.repeat(A))), gen.nemesis(gen.once({"f": "kill"})))
    ops = gen.invocations(gen.simulate(g, concurrency=1, complete=complete))
    assert tpf(ops) == [(0, 0, "a"), (0, "nemesis", "kill"), (10, 0, "a"), (20, 0, "a")]


def test_flip_flop() -> None:
    g = gen.limit(5, gen.clients(gen.flip_flop(gen.repeat(A), gen.repeat(B))))
    assert tpf(gen.perfect(g, concurrency=1)) == [(0, 0, "a"), (10, 0, "b"), (20, 0, "a"), (30, 0, "b"), (40, 0, "a")]
    assert [o.f for o in gen.perfect(gen.flip_flop(gen.once(A), gen.repeat(B)))] == ["a", "b"]


def test_concurrency_limit() -> None:
    g = gen.clients(gen.concurrency_limit(1, gen.limit(3, gen.repeat(A))))
    assert tpf(gen.perfect(g, concurrency=3)) == [(0, 2, "a"), (10, 2, "a"), (20, 1, "a")]
    g = gen.clients(gen.concurrency_limit(2, gen.limit(4, gen.repeat(A))))
    assert tpf(gen.perfect(g, concurrency=3)) == [(0, 2, "a"), (0, 1, "a"), (10, 0, "a"), (10, 1, "a")]


def test_concurrency_limit_does_not_count_an_op_that_a_filter_skipped() -> None:
    """An op the limit emitted and a filter around it rejected was never invoked: it must not hold the limit (it
    did: the generator stayed pending for ever with nothing in flight). Found by the random compositions."""
    g = gen.clients(gen.filter(lambda o: o.value != 3, gen.concurrency_limit(1, {"f": "r", "value": 3})))
    assert tpf(gen.perfect(g)) == []
    ops = [{"f": "w", "value": v} for v in (3, 4, 3, 5)]
    g = gen.clients(gen.filter(lambda o: o.value != 3, gen.concurrency_limit(1, ops)))
    assert [(t, f) for t, _, f in tpf(gen.perfect(g, concurrency=3))] == [(0, "w"), (10, "w")]  # one at a time


def test_process_limit() -> None:
    g = gen.clients(gen.process_limit(3, gen.repeat(A)))
    assert tpf(gen.invocations(gen.perfect_info(g))) == [(0, 1, "a"), (0, 0, "a"), (10, 3, "a")]
    g = gen.limit(4, gen.clients(gen.process_limit(2, gen.repeat(A))))
    assert tpf(gen.perfect(g)) == [(0, 1, "a"), (0, 0, "a"), (10, 1, "a"), (10, 0, "a")]


def test_filter() -> None:
    g = gen.clients(gen.filter(lambda o: o.value % 2 == 0, [{"f": "w", "value": i} for i in range(6)]))
    assert [(o.time_ns, o.process, o.value) for o in gen.perfect(g)] == [(0, 1, 0), (0, 0, 2), (10, 1, 4)]


def test_map() -> None:
    g = gen.clients(gen.map(lambda o: o.replace(value=o.process), gen.limit(3, gen.repeat(A))))
    assert [(o.time_ns, o.process, o.value) for o in gen.perfect(g)] == [(0, 1, 1), (0, 0, 0), (10, 1, 1)]


def test_the_example_of_the_package_docstring() -> None:
    read = {"f": "read"}

    def write(test, ctx):  # type: ignore[no-untyped-def]
        return {"f": "write", "value": test.rng.randrange(5)}

    g = gen.phases(
        gen.time_limit(60, gen.clients(gen.stagger(0.01, gen.mix([gen.repeat(read), write])),
                                       gen.cycle([gen.sleep(5), {"f": "start"}, gen.sleep(5), {"f": "stop"}]))),
        gen.nemesis({"f": "stop"}),
        gen.clients(gen.each_thread(gen.once({"f": "read"}))),
    )  # fmt: skip
    ops = gen.perfect(g, test=seeded(9, 3), max_ops=100_000)
    main = [o for o in ops if o.time_ns < 60 * S]
    # the nemesis: start at 5, 15, ... 55 s and stop at 10, 20, ... 50 s (the one due at 60 s is past the
    # limit); each sleep begins when the op before it completes, 10 ns after its invocation
    assert [(o.time_ns, o.f) for o in main if o.process == "nemesis"] == [
        ((k + 1) * 5 * S + 10 * k, "start" if k % 2 == 0 else "stop") for k in range(11)
    ]
    counts = Counter(o.f for o in main if o.process != "nemesis")
    assert 5500 < counts["read"] + counts["write"] < 6500  # one every 10 ms on average for 60 s
    assert abs(counts["read"] - counts["write"]) < 300
    # then the final phase: the nemesis heals, then every client thread reads once
    tail = ops[len(main):]
    assert [(o.process, o.f) for o in tail] == [("nemesis", "stop"), (0, "read"), (1, "read"), (2, "read")]
