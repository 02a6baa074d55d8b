"""The unique-ids workload: every client asks for ids; no id may be handed out twice (Jepsen's unique-ids,
checked by `checkers.invariants.unique_ids`).

Op vocabulary (clients implement it):
    generate  value None  -> ok id (any JSON value; the system's new id)
There is no final phase.
"""

from __future__ import annotations


from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import registered_checker, with_stats

OPTIONS: tuple[OptionSpec, ...] = ()


class UniqueIdsWorkload:
    name = "unique-ids"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        def next_op(test: Test, ctx: Context) -> dict[str, object]:
            return {"f": "generate", "value": None}

        return next_op

    def final_generator(self, test: Test) -> GenLike:
        return None

    def checker(self, test: Test) -> Checker:
        c = registered_checker(test, "unique-ids")
        return with_stats(test, c)


PLUGIN = UniqueIdsWorkload()
