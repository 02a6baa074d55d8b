"""Property tests of the invariant checkers: histories of correct sequential models, run concurrently with
definite and indefinite failures (tests/checkers/sim.py), are never invalid; a violation planted in such a
history is always found, with the failure class it belongs to."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.invariants import (
    AvailabilityChecker,
    BankChecker,
    CounterChecker,
    IdempotencyChecker,
    MonotonicChecker,
    SetChecker,
    SetFullChecker,
    StatsChecker,
    TotalQueueChecker,
    UniqueIdsChecker,
    UniquenessChecker,
)
from harness.checker import RECOVERY_WATCH_S, FailureClass, Verdict
from harness.op import History, Op

from . import sim

# CHECKER_EXAMPLES=2000 for a thorough run; the default keeps the suite quick on a shared machine
SETTINGS = settings(max_examples=int(os.environ.get("CHECKER_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2**32 - 1)
sizes = st.integers(1, 150)
conc = st.integers(1, 5)


def run(checker: Any, h: History) -> Verdict:
    return checker.check(None, h, "/nonexistent")  # these checkers write no files


def classes(v: Verdict) -> set[FailureClass]:
    return {f.failure_class for f in v.findings}


def replace_last(h: History, pred: Callable[[Op], bool], value: Any) -> History:
    ops = list(h.ops)
    i = max(i for i, op in enumerate(ops) if pred(op))
    ops[i] = ops[i].replace(value=value)
    return History(ops)


def final_read(h: History, f: str = "read") -> Op:
    return [op for op in h.ops if op.f == f and op.type == "ok"][-1]


# --- set, set-full ------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_set_valid_and_lost(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.SetModel(), seed, n, c)
    assert run(SetChecker(), h).valid is True
    assert run(SetFullChecker(), h).valid is True
    assert run(SetFullChecker(linearizable=True), h).valid is True  # the model is linearizable
    acked = [op.value for op in h.ops if op.f == "add" and op.type == "ok"]
    if acked:
        victim = random.Random(seed).choice(acked)
        bad = replace_last(h, lambda op: op.f == "read" and op.type == "ok",
                           [e for e in final_read(h).value if e != victim])
        for checker in (SetChecker(), SetFullChecker()):
            v = run(checker, bad)
            assert v.valid is False
            assert any(f.kind == "lost" and f"{victim}" in f.diagnosis for f in v.findings)


@SETTINGS
@given(seeds, sizes, conc)
def test_set_unexpected_planted(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.SetModel(), seed, n, c)
    bad = replace_last(h, lambda op: op.f == "read" and op.type == "ok", [*final_read(h).value, -1])
    for checker in (SetChecker(), SetFullChecker()):
        assert FailureClass.UNEXPECTED_VALUE in classes(run(checker, bad))


# --- counter ------------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_counter(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.CounterModel(), seed, n, c)
    assert run(CounterChecker(), h).valid is True
    most = sum(op.value for op in h.ops if op.f == "add" and op.type == "invoke" and op.value > 0)
    v = run(CounterChecker(), replace_last(h, lambda op: op.f == "read" and op.type == "ok", most + 1))
    assert v.valid is False and v.findings[-1].kind == "read-too-high"
    least = sum(op.value for op in h.ops if op.f == "add" and op.type == "invoke" and op.value < 0)
    v = run(CounterChecker(), replace_last(h, lambda op: op.f == "read" and op.type == "ok", least - 1))
    assert v.valid is False and v.findings[-1].kind == "read-too-low"


# --- bank ---------------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_bank(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.BankModel(), seed, n, c)
    assert run(BankChecker(), h).valid is True
    assert run(BankChecker(total=100, accounts=("0", "1", "2", "3", "4")), h).valid is True
    final = dict(final_read(h).value)
    final["0"] += 1
    v = run(BankChecker(total=100), replace_last(h, lambda op: op.f == "read" and op.type == "ok", final))
    assert v.valid is False and {f.kind for f in v.findings} == {"wrong-total"}
    final = dict(final_read(h).value)
    final["1"] += final["0"] + 3
    final["0"] = -3
    v = run(BankChecker(total=100), replace_last(h, lambda op: op.f == "read" and op.type == "ok", final))
    assert v.valid is False and {f.kind for f in v.findings} == {"negative-value"}
    assert "account 0 = -3" in v.findings[-1].diagnosis


# --- monotonic ----------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc, st.sampled_from(["process", "realtime", "both"]))
def test_monotonic(seed: int, n: int, c: int, mode: str) -> None:
    h = sim.simulate(sim.VersionModel(), seed, n, c)
    assert run(MonotonicChecker(mode=mode), h).valid is True
    # plant: after everything, a fresh client reads an older version than the final read just returned
    last = final_read(h)
    key, version = last.value
    if version is None or version < 2:
        return
    stale = [Op(type="invoke", process=10_000, f="read", value=[key, None]),
             Op(type="ok", process=10_000, f="read", value=[key, version - 1])]
    v = run(MonotonicChecker(mode="realtime"), History.indexed([*h.ops, *stale]))
    assert v.valid is False
    assert f"key {key} read version {version - 1}" in v.findings[0].diagnosis
    assert v.findings[0].failure_class is FailureClass.STALE_READ


# --- idempotency --------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_idempotency(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.IdempotentModel(), seed, n, c)
    assert run(IdempotencyChecker(), h).valid is True
    effects = final_read(h).value
    if not effects:
        return
    k = random.Random(seed).choice(effects)
    v = run(IdempotencyChecker(), replace_last(h, lambda op: op.f == "read" and op.type == "ok", [*effects, k]))
    assert v.valid is False and any(f.kind == "duplicate" and k in f.diagnosis for f in v.findings)
    acked = {op.value["key"] for op in h.ops if op.f == "request" and op.type == "ok"}
    if acked:
        k = sorted(acked)[0]
        v = run(IdempotencyChecker(),
                replace_last(h, lambda op: op.f == "read" and op.type == "ok", [e for e in effects if e != k]))
        assert v.valid is False and any(f.kind == "lost" and k in f.diagnosis for f in v.findings)


# --- unique ids ---------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_unique_ids(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.IdModel(), seed, n, c)
    assert run(UniqueIdsChecker(), h).valid is True
    oks = [op for op in h.ops if op.type == "ok"]
    if len(oks) < 2:
        return
    bad = replace_last(h, lambda op: op is oks[-1], oks[0].value)
    v = run(UniqueIdsChecker(), bad)
    assert v.valid is False and v.findings[0].ops == (oks[0].index, oks[-1].index)


# --- total queue --------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_total_queue(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.QueueModel(), seed, n, c)
    assert run(TotalQueueChecker(), h).valid is not False
    # with no indefinite dequeue the verdict is decided
    if not any(op.f in ("dequeue", "drain") and op.type == "info" for op in h.ops):
        assert run(TotalQueueChecker(), h).valid is True
    oks = [op.value for op in h.ops if op.f == "enqueue" and op.type == "ok"]
    if not oks:
        return
    drain = final_read(h, "drain")
    # twice more: one indefinite dequeue may explain one unseen copy, never two seen ones
    v = run(TotalQueueChecker(), replace_last(h, lambda op: op is drain, [*drain.value, oks[0], oks[0]]))
    assert v.valid is False and any(f.kind == "duplicated" for f in v.findings)


# --- uniqueness ---------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_uniqueness(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.LockModel(), seed, n, c)
    assert run(UniquenessChecker(), h).valid is True
    # plant: right after the first ok acquire, a fresh client acquires the same resource too
    ops = list(h.ops)
    i = next((i for i, op in enumerate(ops) if op.type == "ok" and op.f in ("acquire", "book")), None)
    if i is None:
        return
    res = ops[i].value["resource"]
    intruder = [Op(type="invoke", process=10_000, f="acquire", value={"resource": res, "owner": "x"}),
                Op(type="ok", process=10_000, f="acquire", value={"resource": res, "owner": "x"})]
    bad = History.indexed(ops[: i + 1] + intruder + ops[i + 1:])
    v = run(UniquenessChecker(), bad)
    assert v.valid is False and v.findings[0].failure_class is FailureClass.SPLIT_BRAIN
    assert res in v.findings[0].diagnosis


# --- stats --------------------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_stats(seed: int, n: int, c: int) -> None:
    h = sim.simulate(sim.SetModel(), seed, n, c)
    v = run(StatsChecker(), h)
    fs = {op.f for op in h.ops}
    judged = all(any(op.f == f and op.type == "ok" for op in h.ops) for f in fs)
    assert v.valid == (True if judged else "unknown")  # never invalid: an f that never succeeded is untested
    assert v.details["total"]["count"] == sum(1 for op in h.ops if op.type != "invoke")
    bad = History(op.replace(type="fail") if op.f == "read" and op.type == "ok" else op for op in h.ops)
    v = run(StatsChecker(), bad)
    assert v.valid == "unknown" and any("no read ever succeeded" in f.diagnosis for f in v.findings)


# --- availability -------------------------------------------------------------------------------------------

NODES = ("n1", "n2", "n3")


def with_faults(h: History, seed: int) -> History:
    """Nemesis start/stop pairs at random places before the final reads (the last len(NODES) * 2 ops)."""
    rng = random.Random(seed)
    ops = list(h.ops)
    body, tail = ops[: -2 * len(NODES)], ops[-2 * len(NODES):]
    cuts = sorted(rng.sample(range(len(body) + 1), k=min(4, len(body) + 1)))
    out: list[Op] = []
    prev = 0
    for j, cut in enumerate(cuts):
        out.extend(body[prev:cut])
        f = ("start-partition", "stop-partition", "kill", "restart")[j % 4]
        out.append(Op(type="invoke", process="nemesis", f=f, value=None))
        out.append(Op(type="info", process="nemesis", f=f, value=None))
        prev = cut
    out.extend(body[prev:])
    if len(cuts) % 2:
        out.append(Op(type="invoke", process="nemesis", f="stop-partition", value=None))
        out.append(Op(type="info", process="nemesis", f="stop-partition", value=None))
    return History.indexed(out + tail)


@SETTINGS
@given(seeds, sizes, conc)
def test_availability(seed: int, n: int, c: int) -> None:
    h = with_faults(sim.simulate(sim.SetModel(), seed, n, c, nodes=NODES), seed)
    v = run(AvailabilityChecker(), h)
    assert v.valid is True, [f.diagnosis for f in v.findings]
    assert v.details["intervals"]
    # plant: n2's final read fails (no recovery) ...
    ops = list(h.ops)
    heal = max(i for i, op in enumerate(ops) if op.is_nemesis)
    ops = [op.replace(type="fail") if i > heal and op.node == "n2" and op.type == "ok" else op
           for i, op in enumerate(ops)]
    if any(i > heal and op.node == "n2" for i, op in enumerate(ops)):
        # watched too briefly after the heal to call it unrecovered ...
        v = run(AvailabilityChecker(), History(ops))
        assert v.valid is True and "n2" in v.details["recovery"][-1]["not_measured"]
    # ... but asked again and again for RECOVERY_WATCH_S, never answering: no recovery
    last = ops[-1].time_ns + int(RECOVERY_WATCH_S * 1e9)
    p = 10_000 + c
    ops += [Op(index=len(ops), time_ns=last, type="invoke", process=p, f="read", node="n2"),
            Op(index=len(ops) + 1, time_ns=last + 1, type="fail", process=p, f="read", node="n2")]
    v = run(AvailabilityChecker(), History(ops))
    assert v.valid is False and any(f.kind == "no-recovery" and "n2" in f.diagnosis for f in v.findings)
    # ... or returns something else (replicas diverge; unknown if a write is indefinite)
    diverged = replace_last(h, lambda op: op.node == "n2" and op.type == "ok", [-1])
    v = run(AvailabilityChecker(), diverged)
    indefinite = any(op.f == "add" and op.type == "info" for op in h.ops) or \
        any(op.f == "add" and op.type == "invoke" and h.completion(op) is None for op in h.ops)
    assert v.valid is ("unknown" if indefinite else False)
    assert any(f.kind.startswith("diverged") for f in v.findings)


# --- independent keys ---------------------------------------------------------------------------------------

@SETTINGS
@given(seeds, sizes, conc)
def test_keyed_set_full_and_counter(seed: int, n: int, c: int) -> None:
    from checkers.invariants.independent import IndependentChecker

    h = sim.simulate(sim.Keyed(sim.SetModel), seed, n, c)
    assert run(SetFullChecker(keyed=True), h).valid is True
    assert run(SetChecker(keyed=True), h).valid is True
    acked = [op.value for op in h.ops if op.f == "add" and op.type == "ok"]
    if acked:
        key, victim = random.Random(seed).choice(acked)
        last = [op for op in h.ops if op.f == "read" and op.type == "ok" and op.value[0] == key][-1]
        bad = replace_last(h, lambda op: op is last, [key, [e for e in last.value[1] if e != victim]])
        v = run(SetFullChecker(keyed=True), bad)
        assert v.valid is False
        assert any(f.diagnosis.startswith(f"key {key}: lost acknowledged write") and f"{victim}" in f.diagnosis
                   for f in v.findings)
    h = sim.simulate(sim.Keyed(sim.CounterModel), seed, n, c)
    assert run(IndependentChecker(CounterChecker()), h).valid is True
