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

from collections.abc import Callable

from harness import generator as g
from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.op import INVOKE, Op
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="keys", default=4, parse=int, help="keys in use at any time"),
    OptionSpec(name="ops-per-key", default=150, parse=int, help="ops on a key before it is retired"),
    OptionSpec(name="values", default=5, parse=int, help="values are drawn from 0..values-1"),
    OptionSpec(name="read-ratio", default=0.5, parse=float, help="fraction of reads"),
)


class _KeyCursor:
    """The highest key the main phase invoked an op on: noted by `_NoteKeys`, read by the final reads."""

    def __init__(self) -> None:
        self.max_key = -1


class _NoteKeys(g.Gen):
    """`gen` unchanged, noting the key of every dispatched invocation in `cursor`. Generators are told only of
    dispatched events (`update`), so the cursor holds exactly the keys the main phase used, however often the
    generator was asked."""

    __slots__ = ("cursor", "gen")

    def __init__(self, cursor: _KeyCursor, gen: GenLike) -> None:
        self.cursor = cursor
        self.gen = gen

    def op(self, test: Test, ctx: Context) -> g.OpResult:
        r = g.op(self.gen, test, ctx)
        if r is None:
            return None
        e, g2 = r
        return e, (self if g2 is self.gen else _NoteKeys(self.cursor, g2))

    def update(self, test: Test, ctx: Context, event: g.Event) -> GenLike:
        if isinstance(event, Op) and event.type == INVOKE:
            self.cursor.max_key = max(self.cursor.max_key, event.value[0])
        g2 = g.update(self.gen, test, ctx, event)
        return self if g2 is self.gen else _NoteKeys(self.cursor, g2)


class RegisterWorkload:
    name = "register"
    option_specs = OPTIONS

    def __init__(self) -> None:
        self._cursors: dict[int, _KeyCursor] = {}

    def _cursor(self, test: Test) -> _KeyCursor:
        # One cursor per test (its rng is unique to it): the final reads must know the keys the main phase used.
        return self._cursors.setdefault(id(test.rng), _KeyCursor())

    def generator(self, test: Test) -> GenLike:
        o = test.workload_opts
        keys, per_key, values, read_ratio = o["keys"], o["ops-per-key"], o["values"], o["read-ratio"]
        if keys < 1 or per_key < 1 or values < 1:
            from harness.errors import BadInput

            raise BadInput("workload register: keys, ops-per-key and values must be at least 1")
        write_ratio = read_ratio + (1 - read_ratio) / 2

        def next_op(test: Test, ctx: Context, n: int) -> tuple[dict[str, object], int]:
            rng = test.rng
            key = (n // (per_key * keys)) * keys + rng.randrange(keys)
            r = rng.random()
            if r < read_ratio:
                return {"f": "read", "value": (key, None)}, n + 1
            if r < write_ratio:
                return {"f": "write", "value": (key, rng.randrange(values))}, n + 1
            return {"f": "cas", "value": (key, (rng.randrange(values), rng.randrange(values)))}, n + 1

        return _NoteKeys(self._cursor(test), g.stateful(next_op, 0))

    def final_generator(self, test: Test) -> GenLike:
        cursor = self._cursor(test)

        def final_reads(test: Test, ctx: Context) -> GenLike:
            return [{"f": "read", "value": (k, None)} for k in range(cursor.max_key + 1)]

        return _Lazy(final_reads)

    def checker(self, test: Test) -> Checker:
        # "register": a read of nil means the key is absent and is checked (Knossos's cas-register would let any
        # nil read pass); a failed cas is dropped, since a client also fails a cas it could not send.
        return with_stats(test, registered_checker(test, "linearizable", model="register", independent=True))


class _Lazy(g.Gen):
    """A generator built when first asked (the final reads depend on which keys the main phase used)."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Test, Context], GenLike]) -> None:
        self.fn = fn

    def op(self, test: Test, ctx: Context) -> g.OpResult:
        return g.op(self.fn(test, ctx), test, ctx)


PLUGIN = RegisterWorkload()
