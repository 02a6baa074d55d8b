"""The monotonic workload: a version per key, bumped by writers and read by many clients; no observation of a
key may be older than one before it, per client session or in real time (checked by
`checkers.invariants.monotonic`).

Op vocabulary (clients implement it):
    write  value [key, None]  -> ok [key, v]: the client raised the key's version and v is the new one (each
                                 write installs a version above every earlier one of its key)
    read   value [key, None]  -> ok [key, v]: the key's current version (0 if never written)
Keys are the integers 0..keys-1. The final phase reads every key once.
"""

from __future__ import annotations


from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import at_least, registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="keys", default=4, parse=int, help="number of keys"),
    OptionSpec(name="read-ratio", default=0.7, parse=float, help="fraction of ops that read"),
    OptionSpec(name="mode", default="both", help="orders checked: per process, real time, or both",
               choices=("process", "realtime", "both")),
)


class MonotonicWorkload:
    name = "monotonic"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        at_least(self.name, test.workload_opts, 1, "keys")
        rng, keys, read_ratio = test.rng, test.workload_opts["keys"], test.workload_opts["read-ratio"]

        def next_op(test: Test, ctx: Context) -> dict[str, object]:
            f = "read" if rng.random() < read_ratio else "write"
            return {"f": f, "value": [rng.randrange(keys), None]}

        return next_op

    def final_generator(self, test: Test) -> GenLike:
        return [{"f": "read", "value": [k, None]} for k in range(test.workload_opts["keys"])]

    def checker(self, test: Test) -> Checker:
        c = registered_checker(test, "monotonic", mode=test.workload_opts["mode"])
        return with_stats(test, c)


PLUGIN = MonotonicWorkload()
