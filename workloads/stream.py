"""The stream workload: clients append unique elements to one append-only stream and read it back by offset;
every acknowledged append must be read back once, at the offset the server gave it, in order and without holes
(checked by `checkers.invariants.stream`).

Op vocabulary (clients implement it; the offsets are the system's own, e.g. JetStream's sequence numbers):
    append    value element (an int, unique in the test)  -> ok [offset, element]: the offset the server assigned
    read      value [from, limit]                          -> ok [[offset, element], ...]: up to `limit` messages
              in offset order, starting with the first message at or after offset `from` (fewer than `limit`
              need not mean the stream ends there)
    read-all  value None                                   -> ok [[offset, element], ...]: the whole stream, from its
              first message to its last (final phase, after the heal; one at a time until one is ok)
A read's `from` is drawn from the `read-back` offsets below the number of appends invoked so far (about the
highest offset handed out, for a stream whose offsets start at 1), so reads look at the recent end of the
stream, where faults leave their marks; a `from` past the end reads nothing, which is fine.
"""

from __future__ import annotations


from harness import generator as g
from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import at_least, final_read, registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="read-ratio", default=0.25, parse=float, help="fraction of main-phase ops that read"),
    OptionSpec(name="read-limit", default=8, parse=int, help="at most this many messages per read"),
    OptionSpec(name="read-back", default=32, parse=int,
               help="a read starts at most this many offsets below the highest offset appended so far"),
)


class StreamWorkload:
    name = "stream"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        opts = test.workload_opts
        at_least(self.name, opts, 1, "read-limit", "read-back")
        read_ratio, limit, back = float(opts["read-ratio"]), int(opts["read-limit"]), int(opts["read-back"])

        def next_op(test: Test, ctx: Context, element: int) -> tuple[dict[str, object], int]:
            if element > 0 and test.rng.random() < read_ratio:
                # the elements appended so far are about as many as the offsets handed out (offsets from 1)
                start = max(1, element - test.rng.randrange(back))
                return {"f": "read", "value": [start, limit]}, element
            return {"f": "append", "value": element + 1}, element + 1

        return g.stateful(next_op, 0)

    def final_generator(self, test: Test) -> GenLike:
        return final_read("read-all")

    def checker(self, test: Test) -> Checker:
        return with_stats(test, registered_checker(test, "stream"))


PLUGIN = StreamWorkload()
