"""The rw-register workload: Elle-style transactions of writes and reads of registers, checked by Elle's
rw-register checker against a consistency model (see `workloads._txn`:
the workload option `consistency`, else the system's isolation level, else serializable).

Op vocabulary (clients implement it):
    txn  value [["w", k, v] | ["r", k, None], ...]
         -> ok with the same micro-ops, each read filled in with the value at k (None if never written)
Keys and values are integers; every written value is unique, which is what lets Elle infer who read whose
write. See `workloads._txn` for the options.
"""

from __future__ import annotations

from harness.checker import Checker
from harness.generator.core import GenLike
from harness.test import Test
from workloads._txn import TXN_OPTIONS, elle_checker, txn_generator


class RwRegisterWorkload:
    name = "rw-register"
    option_specs = TXN_OPTIONS

    def generator(self, test: Test) -> GenLike:
        return txn_generator(self.name, "w", test)

    def final_generator(self, test: Test) -> GenLike:
        return None

    def checker(self, test: Test) -> Checker:
        # wfr-keys: a committed transaction that read v1 of a key and then wrote v2 installed v2 after v1. That
        # holds for any system that never exposes uncommitted writes (and one that does shows G1 anyway).
        return elle_checker(test, "rw-register", wfr_keys=True)


PLUGIN = RwRegisterWorkload()
