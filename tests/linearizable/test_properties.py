"""MUST SHOW (2): histories generated from sequential objects with random concurrency, crashes (info) and
failed ops are always linearizable; planted stale reads and lost writes are always found; and on small random
histories the checker agrees with a brute-force search over every order."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.linearizable import UNKNOWN, LinearizableChecker, find_model
from checkers.linearizable.search import entries_of
from harness.checker import FailureClass
from harness.op import History, Op

from .sim import OBJECTS, REGISTER, REGISTER_ETCD, simulate

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(OBJECTS))
@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 40), processes=st.integers(1, 5),
       crash_rate=st.sampled_from([0.0, 0.05, 0.2]), fail_rate=st.sampled_from([0.0, 0.2]))
def test_simulated_histories_are_linearizable(name: str, seed: int, n_ops: int, processes: int, crash_rate: float,
                                              fail_rate: float) -> None:
    obj, model, init, independent = OBJECTS[name]
    if name.endswith("queue"):
        # Crashed enqueues may land anywhere in the queue: dozens of them make the search exponential (the
        # verdict is then "unknown", by budget); keep a few, which is what this property is about.
        crash_rate = min(crash_rate, 0.05)
    h = simulate(obj, random.Random(seed), n_ops=n_ops, processes=processes, crash_rate=crash_rate,
                 fail_rate=fail_rate)
    v = LinearizableChecker(model=model, init=init, independent=independent, timeout=None, html=False,
                            workers=1).check(None, h, None)
    assert v.valid is True, (v.summary, [str(op) for op in h])


def _with(h: History, extra: list[tuple[str, str, Any]], process: int = 999) -> History:
    """`h` followed by sequential ops of a fresh process, each invoked after the previous completed."""
    ops = list(h)
    for f, t, v in extra:
        invoke_value = v if f != "read" else (v[0], None) if isinstance(v, tuple) else None
        ops.append(Op(type="invoke", process=process, f=f, value=invoke_value))
        ops.append(Op(type=t, process=process, f=f, value=v))
    return History.indexed(ops)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 30), crash_rate=st.sampled_from([0.0, 0.1]))
def test_planted_stale_read_is_found(seed: int, n_ops: int, crash_rate: float) -> None:
    # REGISTER_ETCD: no cas fails except by its compare, so the base history is valid under all three models.
    h = simulate(REGISTER_ETCD, random.Random(seed), n_ops=n_ops, processes=3, crash_rate=crash_rate,
                 fail_rate=0.1)
    # Fresh values no random op writes or compares: write 100, write 101, a read of 100, then a read of 101.
    bad = _with(h, [("write", "ok", 100), ("write", "ok", 101), ("read", "ok", 100), ("read", "ok", 101)])
    for model in ("cas-register", "etcd", "register"):
        v = LinearizableChecker(model=model, html=False).check(None, bad, None)
        assert v.valid is False, model
        f = v.findings[0]
        assert f.failure_class is FailureClass.STALE_READ, f.diagnosis
        assert "read -> 100" in f.diagnosis


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 30))
def test_planted_lost_write_is_found(seed: int, n_ops: int) -> None:
    h = simulate(REGISTER, random.Random(seed), n_ops=n_ops, processes=3, crash_rate=0.05, fail_rate=0.1)
    bad = _with(h, [("write", "ok", 100), ("write", "ok", 101), ("read", "ok", 100)])
    v = LinearizableChecker(model="cas-register", html=False).check(None, bad, None)
    assert v.valid is False
    assert v.findings[0].failure_class is FailureClass.LOST_WRITE, v.findings[0].diagnosis


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(0, 40))
def test_planted_violation_in_one_key_of_many(seed: int, n_ops: int) -> None:
    obj, model, _init, _ = OBJECTS["register-independent"]
    h = simulate(obj, random.Random(seed), n_ops=n_ops, processes=4, crash_rate=0.05, fail_rate=0.1)
    bad = _with(h, [("write", "ok", (7, 100)), ("write", "ok", (7, 101)), ("read", "ok", (7, 100)),
                    ("read", "ok", (7, 101))])
    v = LinearizableChecker(model=model, independent=True, html=False, workers=1).check(None, bad, None)
    assert v.valid is False
    assert v.findings[0].scope == "key 7"
    assert v.details["counterexample"]["key"] == "key 7"


# --- agreement with brute force on tiny random histories -------------------------------------------------

def _brute_force(model_name: str, h: History) -> bool:
    """Is there an order of the ops, consistent with real time, that the model accepts, in which every op
    with a known outcome appears (ops with unknown outcome may be left out)? Tries every order."""
    # Without the model's `droppable` pruning: the brute force must see every op.
    model = dataclasses.replace(find_model(model_name), droppable=None)
    for entries in entries_of(h, model).values():
        if not _part_ok(model, list(entries)):
            return False
    return True


def _part_ok(model: Any, entries: list[Any]) -> bool:
    def rec(state: Any, remaining: list[Any]) -> bool:
        if all(e.ret is None for e in remaining):
            return True
        for i, e in enumerate(remaining):
            # e may go next only if no remaining op completed before e was invoked.
            if any(o.ret is not None and o.ret < e.call for o in remaining if o is not e):
                continue
            ok, ns = model.step(state, e.input, e.output)
            if ok and rec(ns, remaining[:i] + remaining[i + 1:]):
                return True
        return False

    return rec(model.init(), entries)


def _random_history(rng: random.Random, make: Any, n: int) -> History:
    """Random ops with random outputs (so often not linearizable), random overlap, some info and fail."""
    ops: list[Op] = []
    open_: dict[int, tuple[str, Any]] = {}
    procs = itertools.count()
    started = 0
    while started < n or open_:
        if started < n and (not open_ or rng.random() < 0.5):
            p = next(procs)
            f, v, out = make(rng)
            ops.append(Op(type="invoke", process=p, f=f, value=v))
            open_[p] = (f, out)
            started += 1
        else:
            p = rng.choice(list(open_))
            f, out = open_.pop(p)
            t = rng.choices(["ok", "info", "fail"], [0.7, 0.22, 0.08])[0]
            if t == "info" and rng.random() < 0.5:
                continue  # never completes
            ops.append(Op(type=t, process=p, f=f, value=out))
    return History.indexed(ops)


def _reg(rng: random.Random) -> tuple[str, Any, Any]:
    r = rng.random()
    if r < 0.45:
        return "read", None, rng.choice([None, 0, 1, 2])
    if r < 0.8:
        v = rng.randrange(3)
        return "write", v, v
    c = [rng.randrange(3), rng.randrange(3)]
    return "cas", c, c


def _queue(rng: random.Random) -> tuple[str, Any, Any]:
    if rng.random() < 0.5:
        v = rng.randrange(3)
        return "enqueue", v, v
    return "dequeue", None, rng.choice([None, 0, 1, 2])


def _mutex(rng: random.Random) -> tuple[str, Any, Any]:
    return rng.choice(["acquire", "release"]), None, None


def _set(rng: random.Random) -> tuple[str, Any, Any]:
    if rng.random() < 0.6:
        v = rng.randrange(4)
        return "add", v, v
    return "read", None, sorted(rng.sample(range(4), rng.randrange(0, 4)))


def _kv(rng: random.Random) -> tuple[str, object, object]:
    key = rng.choice("ab")
    r = rng.random()
    if r < 0.45:
        return "get", (key, None), (key, rng.choice(["", "x", "xy", "y", "yx", "xx", "yxy"]))
    v = rng.choice(["x", "y"]) if r < 0.88 else rng.choice(["x", "y", ""])
    return ("append" if r < 0.88 else "put"), (key, v), (key, v)


@pytest.mark.parametrize(("model", "make"), [("register", _reg), ("cas-register", _reg), ("etcd", _reg),
                                             ("fifo-queue", _queue), ("unordered-queue", _queue),
                                             ("mutex", _mutex), ("set", _set), ("kv", _kv)])
@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7))
def test_agrees_with_brute_force(model: str, make: Any, seed: int, n: int) -> None:
    h = _random_history(random.Random(seed), make, n)
    expected = _brute_force(model, h)
    v = LinearizableChecker(model=model, html=False, timeout=None).check(None, h, None)
    assert v.valid is expected, [str(op) for op in h]


def test_unknown_output_is_a_singleton() -> None:
    import pickle

    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN


def test_html_written(tmp_path: Path) -> None:
    h = _with(History(), [("write", "ok", 1), ("write", "ok", 2), ("read", "ok", 1)])
    v = LinearizableChecker(model="register").check(None, h, tmp_path)
    assert v.files == ("linearizable.html",)
    page = (tmp_path / "linearizable.html").read_text()
    assert "<script>" in page and "read -> 1" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
