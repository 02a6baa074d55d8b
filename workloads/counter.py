"""The counter workload: concurrent increments and reads of one counter; every read must lie between what the
acknowledged and the attempted increments allow (Jepsen's counter, checked by `checkers.invariants.counter`).

Op vocabulary (clients implement it):
    add   value delta (an int in 1..max-add)  -> ok once added
    read  value None                          -> ok count
The counter starts at 0. The final phase reads until one read is ok.
"""

from __future__ import annotations


from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import at_least, final_read, registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="max-add", default=5, parse=int, help="largest increment"),
    OptionSpec(name="read-ratio", default=0.3, parse=float, help="fraction of ops that read"),
)


class CounterWorkload:
    name = "counter"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        at_least(self.name, test.workload_opts, 1, "max-add")
        rng, most, read_ratio = test.rng, test.workload_opts["max-add"], test.workload_opts["read-ratio"]

        def next_op(test: Test, ctx: Context) -> dict[str, object]:
            if rng.random() < read_ratio:
                return {"f": "read", "value": None}
            return {"f": "add", "value": rng.randint(1, most)}

        return next_op

    def final_generator(self, test: Test) -> GenLike:
        return final_read()

    def checker(self, test: Test) -> Checker:
        return with_stats(test, registered_checker(test, "counter", initial=0))


PLUGIN = CounterWorkload()
