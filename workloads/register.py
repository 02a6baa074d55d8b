"""The register workload: reads, writes and compare-and-set on many independent keys, checked for
linearizability per key (as Jepsen's etcd and Knossos tests do).

Op vocabulary (clients implement it):
    read   value (key, None)         -> ok (key, v) where v is None if the key is absent
    write  value (key, v)            -> ok
    cas    value (key, (old, new))   -> ok if the register held `old` and now holds `new`;
                                        fail if it did not hold `old` (definite: nothing changed)
Keys are integers. Each key receives at most `ops-per-key` ops, then the workload moves on to fresh keys, so
that every key's history stays small enough to check. The final phase reads every key once.
"""

from __future__ import annotations

import itertools
from typing import Any

from harness import generator as g
from harness.checker import Checker, compose
from harness.options import OptionSpec
from harness.test import Test

OPTIONS = (
    OptionSpec(name="keys", default=4, parse=int, help="keys in use at any time"),
    OptionSpec(name="ops-per-key", default=150, parse=int, help="ops on a key before it is retired"),
    OptionSpec(name="values", default=5, parse=int, help="values are drawn from 0..values-1"),
    OptionSpec(name="read-ratio", default=0.5, parse=float, help="fraction of reads"),
)


class _KeyCursor:
    """Which keys are in use: shared by the main generator and the final reads (the highest key used)."""

    def __init__(self) -> None:
        self.count = itertools.count()
        self.max_key = -1


class RegisterWorkload:
    name = "register"
    option_specs = OPTIONS

    def __init__(self) -> None:
        self._cursors: dict[int, _KeyCursor] = {}

    def _cursor(self, test: Test) -> _KeyCursor:
        # One cursor per test (its rng is unique to it): the final reads must know the keys the main phase used.
        return self._cursors.setdefault(id(test.rng), _KeyCursor())

    def generator(self, test: Test) -> Any:
        o = test.workload_opts
        keys, per_key, values, read_ratio = o["keys"], o["ops-per-key"], o["values"], o["read-ratio"]
        if keys < 1 or per_key < 1 or values < 1:
            from harness.errors import BadInput

            raise BadInput("workload register: keys, ops-per-key and values must be at least 1")
        cursor = self._cursor(test)
        rng = test.rng
        write_ratio = read_ratio + (1 - read_ratio) / 2

        def next_op(test: Test, ctx: Any) -> dict[str, Any]:
            n = next(cursor.count)
            key = (n // (per_key * keys)) * keys + rng.randrange(keys)
            cursor.max_key = max(cursor.max_key, key)
            r = rng.random()
            if r < read_ratio:
                return {"f": "read", "value": (key, None)}
            if r < write_ratio:
                return {"f": "write", "value": (key, rng.randrange(values))}
            return {"f": "cas", "value": (key, (rng.randrange(values), rng.randrange(values)))}

        return next_op

    def final_generator(self, test: Test) -> Any:
        cursor = self._cursor(test)

        def final_reads(test: Test, ctx: Any) -> Any:
            return [{"f": "read", "value": (k, None)} for k in range(cursor.max_key + 1)]

        return _Lazy(final_reads)

    def checker(self, test: Test) -> Checker:
        from checkers.linearizable import LinearizableChecker

        # "register": a read of nil means the key is absent and is checked (Knossos's cas-register would let any
        # nil read pass); a failed cas is dropped, since a client also fails a cas it could not send.
        parts: list[Checker] = [LinearizableChecker(model="register", independent=True)]
        try:
            from checkers.invariants.stats import StatsChecker

            parts.append(StatsChecker())
        except ImportError:
            pass
        return compose(*parts)


class _Lazy(g.Gen):
    """A generator built when first asked (the final reads depend on which keys the main phase used)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def op(self, test: Test, ctx: Any) -> Any:
        return g.op(self.fn(test, ctx), test, ctx)


PLUGIN = RegisterWorkload()
