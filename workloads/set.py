"""The set workload: unique adds, then a final read of the whole set; no acknowledged add may be lost and no
element may appear that nobody added (Jepsen's set, checked by `checkers.invariants.set`).

Op vocabulary (clients implement it):
    add   value element (an int, unique in the test)  -> ok once it is in the set
    read  value None                                   -> ok [element, ...] (the whole set)
Reads during the main phase are optional (`read-ratio`, default 0); the final phase reads until one read is ok.
With `checker=set-full` every read is judged (lost, stale and never-read elements), not only the last.
"""

from __future__ import annotations


from harness import generator as g
from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import final_read, registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="read-ratio", default=0.0, parse=float, help="fraction of main-phase ops that read the set"),
    OptionSpec(name="checker", default="set", help="set (final read) or set-full (every read)",
               choices=("set", "set-full")),
)


class SetWorkload:
    name = "set"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        read_ratio = test.workload_opts["read-ratio"]

        def next_op(test: Test, ctx: Context, element: int) -> tuple[dict[str, object], int]:
            if read_ratio and test.rng.random() < read_ratio:
                return {"f": "read", "value": None}, element
            return {"f": "add", "value": element}, element + 1

        return g.stateful(next_op, 0)

    def final_generator(self, test: Test) -> GenLike:
        return final_read()

    def checker(self, test: Test) -> Checker:
        if test.workload_opts["checker"] == "set-full":
            c = registered_checker(test, "set-full")
        else:
            c = registered_checker(test, "set")
        return with_stats(test, c)


PLUGIN = SetWorkload()
