"""Schedules of the nemeses through the deterministic generator simulator (exact ops and times), the
hand-written scenario form, and the refusals of bad scenarios; no cluster needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import generator as g
from harness.errors import BadInput
from harness.generator import Context, simulate
from harness.op import Op
from harness.options import RunOptions, parse_opts
from harness.test import bare_test
from nemeses.combined import Rotation
from nemeses.partition import OPTION_SPECS as PARTITION_SPECS
from nemeses.schedule import (
    SCHEDULE_SPEC,
    Scripted,
    family_generator,
    load_schedule,
    periodic,
)

S = 1_000_000_000


def _invokes(gen, limit_s: float, seed: int = 0):  # type: ignore[no-untyped-def]
    test = bare_test(options=RunOptions(seed=seed, concurrency=1), concurrency=1)
    h = simulate(g.time_limit(limit_s, g.nemesis(gen)), test=test, concurrency=1)
    return [(o.f, o.value, o.time_ns) for o in h if o.type == "invoke"]


def test_periodic_alternates_start_and_stop_at_fixed_times() -> None:
    gen = periodic([{"f": "start-partition", "value": "one"}, {"f": "stop-partition"}], 10, 3)
    lat = 10  # the simulator's ns per op: each stop is due an interval after its start completed
    assert _invokes(gen, 45) == [
        ("start-partition", "one", 3 * S),
        ("stop-partition", None, 13 * S + lat),
        ("start-partition", "one", 23 * S + lat),
        ("stop-partition", None, 33 * S + 2 * lat),
        ("start-partition", "one", 43 * S + 2 * lat),
    ]


def test_a_fault_is_in_place_a_whole_interval_and_not_started_unless_healed_by_the_quiet_end() -> None:
    """Nemesis ops that take 12 s (a partition of nine ssh hosts under load): the first start, invoked at 3 s,
    completes at 15 s, so its stop is due at 25 s (an interval after the fault was in place, not at 13 s), and
    completes at 37 s; the second start, due at 23 s, could only begin at 37 s and be healed past the end at 35 s
    (the clients stop there: its window would be untested), so it is not started. On time, it is."""
    test = bare_test(options=RunOptions(concurrency=1), concurrency=1)

    def invokes(latency_s: float) -> list[tuple[str, int]]:
        gen = periodic([{"f": "start-partition", "value": "one"}, {"f": "stop-partition"}], 10, 3, end=35)
        h = simulate(g.time_limit(60, g.nemesis(gen)), test=test, concurrency=1, latency_ns=int(latency_s * S))
        return [(o.f, o.time_ns // S) for o in h if o.type == "invoke"]

    assert invokes(0.001) == [("start-partition", 3), ("stop-partition", 13), ("start-partition", 23),
                              ("stop-partition", 33)]
    assert invokes(12) == [("start-partition", 3), ("stop-partition", 25)]


def test_a_fault_that_just_fits_is_started_though_the_clock_passes_its_due_time_before_dispatch() -> None:
    """Due at 5 s and healed by the end at 15 s exactly (a warm-up clamped to end - interval): the interpreter,
    asking again and again, may ask 1 ms after 5 s; the kill is still emitted. Ten seconds late, it is not."""
    test = bare_test(options=RunOptions(seed=0, concurrency=1), concurrency=1)
    gen = periodic([{"f": "kill"}, {"f": "start"}], 10, 5, end=15)
    late_by_a_hair = gen.op(test, Context.initial(1, 5 * S + 1_000_000))
    assert late_by_a_hair is not None and isinstance(late_by_a_hair[0], Op) and late_by_a_hair[0].f == "kill"
    assert gen.op(test, Context.initial(1, 15 * S)) is None


def test_periodic_draws_values_from_the_test_rng() -> None:
    gen = periodic([lambda t: {"f": "kill", "value": t.rng.choice(["one", "majority", "all"])}, {"f": "start"}],
                   1, 0)
    a, b = _invokes(gen, 20, seed=1), _invokes(gen, 20, seed=1)
    assert a == b  # same seed, same schedule
    assert len({v for f, v, _ in a if f == "kill"}) > 1


def test_scripted_ops_at_their_times(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text("- {at: 5, f: start-partition, value: majority}\n- {at: 2.5, f: kill, value: [n1]}\n"
                    "- {at: 9, f: stop-partition}\n- {at: 9, f: start}\n")
    entries = load_schedule(str(path))
    assert [e.at for e in entries] == [2.5, 5, 9, 9]
    assert _invokes(Scripted(entries), 60) == [
        ("kill", ["n1"], int(2.5 * S)),
        ("start-partition", "majority", 5 * S),
        ("stop-partition", None, 9 * S),
        ("start", None, 9 * S + 10),  # the nemesis thread was busy for the simulator's 10 ns
    ]


@pytest.mark.parametrize(
    "content, why",
    [
        ("not: a list", "non-empty list"),
        ("- {at: -1, f: kill}", "at must be a number"),
        ("- {f: kill}", "expected {at: seconds"),
        ("- {at: 1, f: kill, when: now}", "expected {at: seconds"),
        ("- {at: 1, f: ''}", "f must be an op name"),
        ("- [unclosed", "not valid YAML"),
    ],
)
def test_bad_scenarios_are_bad_input(tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(BadInput, match=why):
        parse_opts("nemesis partition", [SCHEDULE_SPEC], {"schedule": str(path)})


def test_missing_scenario_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        parse_opts("nemesis partition", [SCHEDULE_SPEC], {"schedule": str(tmp_path / "nope.json")})


def test_scenario_entries_go_to_their_family_and_strays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps([{"at": 1, "f": "start-partition", "value": "one"}, {"at": 2, "f": "kill"}]))
    opts = parse_opts("nemesis", PARTITION_SPECS, {"schedule": str(path)})
    both = bare_test(options=RunOptions(nemeses=("partition", "kill")), nemesis_opts=opts)
    mine = family_generator(both, "partition", frozenset({"start-partition", "stop-partition"}), None)
    assert isinstance(mine, Scripted) and [e.f for e in mine.entries] == ["start-partition"]
    only = bare_test(options=RunOptions(nemeses=("partition",)), nemesis_opts=opts)
    with pytest.raises(BadInput, match="no selected nemesis handles kill"):
        family_generator(only, "partition", frozenset({"start-partition", "stop-partition"}), None)


def test_rotation_heals_each_fault_before_the_next() -> None:
    pairs = (({"f": "start-partition"}, {"f": "stop-partition"}), ({"f": "kill"}, {"f": "start"}),
             ({"f": "corrupt-file"}, None))
    ops = _invokes(Rotation(pairs, 2 * S, S), 200, seed=4)
    stops = {"start-partition": "stop-partition", "kill": "start"}
    i = 0
    while i < len(ops):
        f, _, t = ops[i]
        assert f in ("start-partition", "kill", "corrupt-file"), ops[i]
        if f in stops and i + 1 < len(ops):
            assert ops[i + 1][0] == stops[f] and ops[i + 1][2] == t + 2 * S
            i += 1
        i += 1
    assert {f for f, _, _ in ops} >= {"start-partition", "kill", "corrupt-file"}


def test_periodic_fires_on_time_while_clients_keep_the_interpreter_busy() -> None:
    # the interpreter asks again after every client completion and drops the generator's next state while an
    # op is not due yet: the due times must not move with the asking
    gen = g.clients(g.repeat({"f": "read"}), g.nemesis(periodic([{"f": "kill"}, {"f": "start"}], 4, 3)))
    test = bare_test(options=RunOptions(seed=0, concurrency=1), concurrency=1)
    h = simulate(g.time_limit(12, gen), test=test, concurrency=1, latency_ns=1_000_000, max_ops=100_000)
    nem = [(o.f, o.time_ns) for o in h if o.type == "invoke" and o.process == "nemesis"]
    ms = 1_000_000  # each op's latency: the start is due 4 s after the kill completed
    assert nem == [("kill", 3 * S), ("start", 7 * S + ms), ("kill", 11 * S + ms)]


@pytest.mark.parametrize(("nodes", "minority"), [(("n1",), False), (("n1", "n2"), True), (("n1", "n2", "n3"), True)])
def test_kill_and_pause_leave_out_of_their_default_draw_a_spec_that_names_no_node(
        nodes: tuple[str, ...], minority: bool) -> None:
    """On one node "minority" names nobody: drawn by default it made faults that acted on nothing, and a
    run whose faults all did so ended unknown."""
    from nemeses.process import _default_specs

    test = bare_test(options=RunOptions(seed=0, concurrency=1), concurrency=1, nodes=nodes)
    for family in ("kill", "pause"):
        specs = _default_specs(test, family)
        assert ("minority" in specs) is minority and "one" in specs and "majority" in specs, specs
