"""The list-append workload: Elle-style transactions of appends to and reads of lists, checked by Elle's
list-append checker against a consistency model (see `workloads._txn`:
the workload option `consistency`, else the system's isolation level, else serializable).

Op vocabulary (clients implement it):
    txn  value [["append", k, v] | ["r", k, None], ...]
         -> ok with the same micro-ops, each read filled in with the whole list at k ([] if absent)
Keys and values are integers; every appended value is unique. A transaction that definitely did not commit
(aborted, serialization failure) is `fail`. See `workloads._txn` for the options (keys, transaction length and
shape, key retirement, consistency model).
"""

from __future__ import annotations

from harness.checker import Checker
from harness.generator.core import GenLike
from harness.test import Test
from workloads._txn import TXN_OPTIONS, elle_checker, txn_generator


class ListAppendWorkload:
    name = "list-append"
    option_specs = TXN_OPTIONS

    def generator(self, test: Test) -> GenLike:
        return txn_generator(self.name, "append", test)

    def final_generator(self, test: Test) -> GenLike:
        return None

    def checker(self, test: Test) -> Checker:
        return elle_checker(test, "list-append")


PLUGIN = ListAppendWorkload()
