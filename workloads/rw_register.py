"""The rw-register workload: Elle-style transactions of writes and reads of registers, checked by Elle's
rw-register checker against a consistency model (default serializable).

Op vocabulary (clients implement it):
    txn  value [["w", k, v] | ["r", k, None], ...]
         -> ok with the same micro-ops, each read filled in with the value at k (None if never written)
Keys and values are integers; every written value is unique, which is what lets Elle infer who read whose
write. See `workloads._txn` for the options.
"""

from __future__ import annotations

from typing import Any

from harness.checker import Checker
from harness.test import Test
from workloads._common import load_checker, with_stats
from workloads._txn import TXN_OPTIONS, txn_generator

ELLE_CANDIDATES = [("checkers.elle", "RWRegisterChecker")]


class RwRegisterWorkload:
    name = "rw-register"
    option_specs = TXN_OPTIONS

    def generator(self, test: Test) -> Any:
        return txn_generator(self.name, "w", test)

    def final_generator(self, test: Test) -> Any:
        return None

    def checker(self, test: Test) -> Checker:
        model = str(test.workload_opts.get("consistency", "serializable"))
        # wfr-keys: a committed transaction that read v1 of a key and then wrote v2 installed v2 after v1. That
        # holds for any system that never exposes uncommitted writes (and one that does shows G1 anyway).
        return with_stats(load_checker("elle", ELLE_CANDIDATES, consistency_models=(model,), wfr_keys=True))


PLUGIN = RwRegisterWorkload()
