"""Elle-style transactions, shared by the list-append and rw-register workloads.

Owns `TxnState` and `txn_generator`: transactions over a small pool of active keys, each key retired (replaced
by a fresh one) after `max-writes-per-key` writes so that Elle's per-key version orders stay short, and every
written value unique across the test (Elle infers version orders from unique values). Also owns
`expected_isolation`, the choice of the model the checker expects: the `consistency` option if given, else what
the system's isolation option promises (`harness.db.DeclaresIsolation`), else serializable; the verdict names
the model and why. Does not own a checker.

An op is `{"f": "txn", "value": [[f, k, v], ...]}` with micro-ops `["r", k, None]` and `[write_f, k, v]`
(`write_f` is "append" for list-append, "w" for rw-register). Shapes (`shape` option):
    random      length uniform in [min-txn-length, max-txn-length], each micro-op a read with probability
                read-ratio, on a random active key
    write-skew  read two distinct active keys, then write one of them: the pattern of Adya's G2-item (write
                skew), which snapshot isolation (Postgres's repeatable read) allows and serializable forbids
"""

from __future__ import annotations

from typing import Any, NamedTuple

from harness import generator as g
from harness.checker import Checker
from harness.db import DeclaresIsolation, Isolation
from harness.errors import BadInput
from harness.generator.context import Context
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import at_least, registered_checker, with_stats

SHAPES = ("random", "write-skew")


def _model(name: str) -> str:
    """An Elle consistency model name, checked when the Elle checker is installed."""
    try:
        from checkers.elle.models import canonical_model
    except ImportError:
        return name
    try:
        return str(canonical_model(name))
    except BadInput as e:
        raise ValueError(str(e)) from None

TXN_OPTIONS = (
    OptionSpec(name="keys", default=8, parse=int, help="keys in use at any time"),
    OptionSpec(name="min-txn-length", default=1, parse=int, help="fewest micro-ops in a transaction"),
    OptionSpec(name="max-txn-length", default=4, parse=int, help="most micro-ops in a transaction"),
    OptionSpec(name="max-writes-per-key", default=32, parse=int, help="writes to a key before it is retired"),
    OptionSpec(name="read-ratio", default=0.5, parse=float, help="fraction of micro-ops that read (shape random)"),
    OptionSpec(name="shape", default="random", help="transaction shape", choices=SHAPES),
    OptionSpec(name="consistency", default=None, parse=_model, expectation=True,
               help="consistency model the history is checked against (an Elle model name; default: the one the "
               "system's isolation option promises, else serializable)"),
)

DEFAULT_MODEL = "serializable"


def expected_isolation(test: Test) -> Isolation:
    """The model to check and why: the workload option overrides the system's isolation level."""
    given = test.workload_opts.get("consistency")
    declared = test.system.isolation(test) if isinstance(test.system, DeclaresIsolation) else None
    if given:
        why = f"workload option consistency={given}"
        if declared is not None and declared.model != given:
            why += f" (overrides {declared.why}, which would check {declared.model})"
        notes = declared.notes if declared is not None and declared.model == given else ()
        return Isolation(model=str(given), why=why, notes=notes)
    if declared is not None:
        return declared
    return Isolation(model=DEFAULT_MODEL, why=f"the default ({test.options.system} declares no isolation level and "
                     "no consistency= was given)")


def elle_checker(test: Test, workload: str, **opts: object) -> Checker:
    """The registry's Elle checker for `workload` (list-append, rw-register) against the expected model, with
    the stats checker."""
    iso = expected_isolation(test)
    return with_stats(test, registered_checker(test, "elle", workload=workload, consistency_models=(iso.model,),
                                               why=iso.why, notes=iso.notes, compare_models=iso.compare, **opts))


class TxnState(NamedTuple):
    """The active keys with their write counts (aligned), the next fresh key and the next value. Immutable:
    it travels in the generator's value (`generator.stateful`), so it advances only with dispatched ops."""

    active: tuple[int, ...]
    writes: tuple[int, ...]
    next_key: int
    next_value: int

    @classmethod
    def initial(cls, n_keys: int) -> TxnState:
        return cls(tuple(range(n_keys)), (0,) * n_keys, n_keys, 1)


def validate(workload: str, o: Any) -> None:
    at_least(workload, o, 1, "keys", "min-txn-length", "max-txn-length", "max-writes-per-key")
    if o["min-txn-length"] > o["max-txn-length"]:
        raise BadInput(f"workload {workload}: min-txn-length is above max-txn-length")
    if not 0.0 <= o["read-ratio"] <= 1.0:
        raise BadInput(f"workload {workload}: read-ratio must be between 0 and 1")
    if o["shape"] == "write-skew" and o["keys"] < 2:
        raise BadInput(f"workload {workload}: shape write-skew needs keys >= 2")


def txn_generator(workload: str, write_f: str, test: Test) -> Any:
    """A function generator of txn ops (see the module docstring)."""
    o = test.workload_opts
    validate(workload, o)
    n_keys, lo, hi = o["keys"], o["min-txn-length"], o["max-txn-length"]
    per_key, read_ratio, shape = o["max-writes-per-key"], o["read-ratio"], o["shape"]

    def next_txn(test: Test, ctx: Context, state: TxnState) -> tuple[dict[str, object], TxnState]:
        rng = test.rng
        active, writes = list(state.active), list(state.writes)
        next_key, next_value = state.next_key, state.next_value

        def write(k: int) -> list[object]:
            nonlocal next_key, next_value
            i = active.index(k)
            writes[i] += 1
            if writes[i] >= per_key:  # retire the key: later micro-ops of this txn use the fresh one
                active[i], writes[i] = next_key, 0
                next_key += 1
            next_value += 1
            return [write_f, k, next_value - 1]

        if shape == "write-skew":
            a, b = rng.sample(active, 2)
            mops = [["r", a, None], ["r", b, None], write(rng.choice((a, b)))]
        else:
            mops = []
            for _ in range(rng.randint(lo, hi)):
                k = rng.choice(active)
                mops.append(["r", k, None] if rng.random() < read_ratio else write(k))
        return {"f": "txn", "value": mops}, TxnState(tuple(active), tuple(writes), next_key, next_value)

    return g.stateful(next_txn, TxnState.initial(n_keys))
