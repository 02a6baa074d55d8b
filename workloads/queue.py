"""The queue workload: clients enqueue unique values and dequeue them (with an ack); after the heal every client
drains the queue from its own node. Every acknowledged enqueue must come out exactly once (Jepsen's queue,
checked by `checkers.invariants.queue`, registry name "total-queue").

Op vocabulary (clients implement it; the checker's module documents the same):
    enqueue  value element (an int, unique in the test)  -> ok once the broker confirmed it
    dequeue  value None  -> ok element (taken and acknowledged); fail with `refused("empty")` when the queue
                            was empty; info when the element may have been taken but the ack's answer was lost
    drain    value None  -> ok [element, ...]: everything the client took until the queue was empty
The final phase gives every client thread one drain, retried until ok (so each node's view of the queue is
drained once the cluster has healed). Does not own any client or broker.
"""

from __future__ import annotations


from harness import generator as g
from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import at_least, registered_checker, with_stats


def _ratio(text: str) -> float:
    r = float(text)
    if not 0.0 <= r < 1.0:
        raise ValueError(f"{r} is not in [0, 1)")
    return r


OPTIONS = (
    OptionSpec(name="dequeue-ratio", default=0.3, parse=_ratio,
               help="fraction of main-phase ops that dequeue (the rest enqueue); below 0.5 the queue grows, so "
                    "a fault finds elements in it"),
    OptionSpec(name="drain-tries", default=30, parse=int,
               help="drains each client tries after the heal (a node restarted during a partition may still be "
                    "booting)"),
    OptionSpec(name="drain-every", default=1.0, parse=float, help="seconds between a client's drain tries"),
)


class QueueWorkload:
    name = "queue"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        at_least(self.name, test.workload_opts, 1, "drain-tries")
        ratio = test.workload_opts["dequeue-ratio"]

        # The counter lives in the generator's state, so the values are unique and repeat from the seed.
        def next_op(test: Test, ctx: Context, element: int) -> tuple[dict[str, object], int]:
            if test.rng.random() < ratio:
                return {"f": "dequeue", "value": None}, element
            return {"f": "enqueue", "value": element}, element + 1

        return g.stateful(next_op, 0)

    def final_generator(self, test: Test) -> GenLike:
        tries, every = test.workload_opts["drain-tries"], test.workload_opts["drain-every"]
        at_least(self.name, test.workload_opts, 1, "drain-tries")
        # Each thread drains through its own node until one drain is ok; a failed try (the node still
        # recovering) waits `every` seconds before the next.
        return g.each_thread(g.until_ok(g.limit(tries, g.delay(every, g.repeat({"f": "drain", "value": None})))))

    def checker(self, test: Test) -> Checker:
        return with_stats(test, registered_checker(test, "total-queue"))


PLUGIN = QueueWorkload()
