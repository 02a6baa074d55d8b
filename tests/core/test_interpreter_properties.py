"""Property: whatever the concurrency and op mix, the interpreter records a history that a correct
(linearizable) system passes. If the interpreter got real-time order wrong (an invocation stamped after its
completion, a completion recorded before the op returned), the linearizability checker would catch it.
The system is the built-in in-process store, named as such: the subject is the interpreter."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from clusters.memory import MemoryClient, MemoryDB
from checkers.linearizable import LinearizableChecker
from harness import generator as g
from harness.interpreter import Interpreter
from harness.nemesis import NoopNemesis
from harness.op import History, Op
from harness.options import RunOptions
from harness.test import bare_test


@settings(max_examples=25, deadline=None)
@given(concurrency=st.integers(1, 8), n_ops=st.integers(1, 300), seed=st.integers(0, 2**16),
       keys=st.integers(1, 3))
def test_a_linearizable_system_always_gets_a_valid_history(concurrency: int, n_ops: int, seed: int, keys: int,
                                                             tmp_path_factory) -> None:
    db = MemoryDB("none")
    test = bare_test(options=RunOptions(concurrency=concurrency, seed=seed), concurrency=concurrency,
                     nodes=("n1", "n2", "n3"), nemesis=NoopNemesis())
    test = dataclasses.replace(test, db=db, client=MemoryClient(db))
    rng = random.Random(seed)

    def next_op(test, ctx):
        k = rng.randrange(keys)
        r = rng.random()
        if r < 0.4:
            return {"f": "read", "value": (k, None)}
        if r < 0.7:
            return {"f": "write", "value": (k, rng.randrange(4))}
        return {"f": "cas", "value": (k, (rng.randrange(4), rng.randrange(4)))}

    ops: list[Op] = []
    Interpreter(test, record=lambda op, done: ops.append(op)).run(g.clients(g.limit(n_ops, next_op)))
    h = History(ops)
    assert [o.index for o in h] == list(range(len(h)))
    assert all(a.time_ns <= b.time_ns for a, b in zip(h, h[1:]))
    verdict = LinearizableChecker(model="register", independent=True).check(test, h, tmp_path_factory.mktemp("c"))
    assert verdict.valid is True, verdict.summary
