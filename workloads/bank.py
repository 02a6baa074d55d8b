"""The bank workload: transfers between accounts and reads of every account; money is neither created nor
destroyed, and no balance goes negative (Jepsen's bank, checked by `checkers.invariants.bank`).

Op vocabulary (clients implement it):
    transfer  value {"from": a, "to": b, "amount": n}  -> ok if moved; fail if refused (e.g. insufficient funds:
                                                          a client must refuse a transfer that would make the
                                                          source negative) or aborted
    read      value None                              -> ok {account: balance, ...} read in one snapshot
Accounts are the integers 0..accounts-1; `initial_balances` says what a client's setup must create (the
total spread evenly, the remainder on account 0). The final phase reads once more.
"""

from __future__ import annotations


from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import at_least, final_read, registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="accounts", default=5, parse=int, help="number of accounts"),
    OptionSpec(name="total", default=100, parse=int, help="money in the bank, spread over the accounts"),
    OptionSpec(name="max-transfer", default=5, parse=int, help="largest amount of one transfer"),
    OptionSpec(name="read-ratio", default=0.3, parse=float, help="fraction of ops that read every account"),
)


def initial_balances(test: Test) -> dict[int, int]:
    """What each account holds before the test: the total spread evenly, the remainder on account 0."""
    n, total = test.workload_opts["accounts"], test.workload_opts["total"]
    balances = {a: total // n for a in range(n)}
    balances[0] += total - sum(balances.values())
    return balances


class BankWorkload:
    name = "bank"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        o = test.workload_opts
        at_least(self.name, o, 2, "accounts")
        at_least(self.name, o, 1, "max-transfer")
        at_least(self.name, o, 0, "total")
        rng, n, most, read_ratio = test.rng, o["accounts"], o["max-transfer"], o["read-ratio"]

        def next_op(test: Test, ctx: Context) -> dict[str, object]:
            if rng.random() < read_ratio:
                return {"f": "read", "value": None}
            src, dst = rng.sample(range(n), 2)
            return {"f": "transfer", "value": {"from": src, "to": dst, "amount": rng.randint(1, most)}}

        return next_op

    def final_generator(self, test: Test) -> GenLike:
        return final_read()

    def checker(self, test: Test) -> Checker:
        o = test.workload_opts
        bank = registered_checker(test, "bank", total=o["total"], accounts=tuple(range(o["accounts"])))
        return with_stats(test, bank)


PLUGIN = BankWorkload()
