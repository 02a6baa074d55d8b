"""Bank checker: money is neither created nor destroyed, and no balance goes below zero (Jepsen's bank).

Owns `BankChecker` and its plugin. Does not own bank workloads or clients.

Op vocabulary (Jepsen's):
    {f: "transfer", value: {"from": account, "to": account, "amount": n}}   not judged (its effect shows in reads)
    {f: "read",     value: {account: balance, ...}}                           ok completion: a snapshot of all accounts

Every ok read is judged: its accounts must be known ones (`accounts`, default: those of the first ok read), no
balance may be missing (None), the balances must sum to the total (`total`, default: the sum of the first ok
read), and no balance may be negative unless `allow_negative`. The diagnosis names the first, the worst and the
last bad read of each kind. No ok read at all: unknown. Account keys are compared as given, except that keys
that are decimal strings are read as ints (elle-cli JSON writes `{"0": 100}` for EDN's `{0 100}`).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op
from harness.options import OptionSpec

from ._common import CheckerPlugin, Findings, bad_value, bool_spec, freeze, incomplete, max_findings_spec, show, verdict

if TYPE_CHECKING:
    from harness.test import Test


def _account(k: object) -> Hashable:
    if isinstance(k, str) and k.lstrip("-").isdigit():
        return int(k)
    return freeze(k)


def _balances(op: Op) -> dict[Hashable, Any]:
    v = op.value
    if isinstance(v, Mapping):
        return {_account(k): b for k, b in v.items()}
    if isinstance(v, list | tuple) and all(isinstance(x, list | tuple) and len(x) == 2 for x in v):
        return {_account(k): b for k, b in v}
    raise bad_value(op, "a bank read must return a map of account to balance")


@dataclass
class _Bad:
    """First, worst and last read with one kind of error."""

    count: int = 0
    first: tuple[int, str] | None = None
    worst: tuple[float, int, str] | None = None
    last: tuple[int, str] | None = None

    def see(self, index: int, severity: float, text: str) -> None:
        self.count += 1
        if self.first is None:
            self.first = (index, text)
        if self.worst is None or severity > self.worst[0]:
            self.worst = (severity, index, text)
        self.last = (index, text)


_KINDS: dict[str, tuple[FailureClass, str]] = {
    "wrong-total": (FailureClass.BROKEN_INVARIANT, "invariant broken: total changed"),
    "negative-value": (FailureClass.BROKEN_INVARIANT, "invariant broken: balance below zero"),
    "unexpected-key": (FailureClass.UNEXPECTED_VALUE, "unexpected value: unknown account"),
    "nil-balance": (FailureClass.UNEXPECTED_VALUE, "unexpected value: missing balance"),
}


@dataclass(frozen=True)
class BankChecker:
    """Every ok read of all accounts sums to the total, with no negative balance."""

    total: int | None = None
    accounts: tuple[Hashable, ...] | None = None
    allow_negative: bool = False
    read_f: str = "read"
    max_findings: int = 10
    name: str = "bank"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        total: int | float | None = self.total
        accounts: set[Hashable] | None = None if self.accounts is None else {_account(a) for a in self.accounts}
        bad: dict[str, _Bad] = {k: _Bad() for k in _KINDS}
        total_source = "the total option"
        reads = 0
        bad_reads = 0
        first_read: int | None = None
        for op in history.ops:
            if op.type != "ok" or op.f != self.read_f:
                continue
            bal = _balances(op)
            reads += 1
            if first_read is None:
                first_read = op.index
                if accounts is None:
                    accounts = set(bal)
                if total is None:
                    total = sum(b for b in bal.values() if isinstance(b, int | float))
                    total_source = f"the first read, op #{op.index}"
            assert accounts is not None and total is not None
            errs = 0
            odd = [k for k in bal if k not in accounts]
            if odd:
                errs += 1
                bad["unexpected-key"].see(op.index, len(odd), f"read op #{op.index} has accounts "
                                          f"{', '.join(show(k) for k in odd[:5])} that do not exist")
            nil = [k for k, b in bal.items() if b is None]
            if nil:
                errs += 1
                bad["nil-balance"].see(op.index, len(nil), f"read op #{op.index} has no balance for account "
                                       f"{', '.join(show(k) for k in nil[:5])}")
            nums = [b for b in bal.values() if b is not None]
            if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in nums):
                raise bad_value(op, "balances must be numbers")
            s = sum(nums)
            if not nil and s != total:
                errs += 1
                bad["wrong-total"].see(op.index, abs(s - total),
                                       f"total is {s}, not {total}, in read op #{op.index}")
            if not self.allow_negative:
                neg = [(k, b) for k, b in bal.items() if b is not None and b < 0]
                if neg:
                    errs += 1
                    k, b = min(neg, key=lambda kb: kb[1])
                    bad["negative-value"].see(op.index, -b, f"account {show(k)} = {b} in read op #{op.index}"
                                              + (f" (and {len(neg) - 1} more)" if len(neg) > 1 else ""))
            if errs:
                bad_reads += 1
        findings = Findings(self.max_findings)
        for kind, b in bad.items():
            if b.first is None or b.worst is None or b.last is None:
                continue
            cls, head = _KINDS[kind]
            seen: set[int] = set()
            for which, (idx, text) in (("first", b.first), ("worst", (b.worst[1], b.worst[2])), ("last", b.last)):
                if idx in seen:
                    continue
                seen.add(idx)
                findings.add(Finding(
                    kind=kind,
                    failure_class=cls,
                    diagnosis=f"{head} ({text}); {which} of {b.count} such reads",
                    ops=(idx,),
                ))
        if reads == 0:
            findings.add(incomplete("never-read", "incomplete check: no read of the accounts completed"))
        details = {
            "read_count": reads,
            "bad_read_count": bad_reads,
            "total": total,
            "total_from": total_source,
            "accounts": sorted((str(a) for a in accounts or ()), key=lambda s: (len(s), s)),
            "errors": {k: {"count": b.count,
                           "first": b.first[0] if b.first else None,
                           "worst": b.worst[1] if b.worst else None,
                           "last": b.last[0] if b.last else None}
                       for k, b in bad.items() if b.count},
        }
        return verdict(self.name, findings, details, ok_summary=f"all {reads} reads sum to {total}")


def _parse_accounts(text: str) -> tuple[Hashable, ...] | None:
    items = [x.strip() for x in text.split(",") if x.strip()]
    return tuple(_account(x) for x in items) or None


def _parse_total(text: str) -> int | None:
    return None if text.strip() in ("", "auto") else int(text)


def _make(o: Mapping[str, Any]) -> BankChecker:
    return BankChecker(total=o["total"], accounts=o["accounts"], allow_negative=o["allow_negative"],
                       max_findings=o["max_findings"])


PLUGIN = CheckerPlugin(
    name="bank",
    option_specs=(
        OptionSpec(name="total", default=None, help="the constant total (default: the first read's sum)",
                   parse=_parse_total),
        OptionSpec(name="accounts", default=None, help="comma-separated accounts (default: the first read's)",
                   parse=_parse_accounts),
        bool_spec("allow_negative", False, "negative balances are allowed"),
        max_findings_spec(),
    ),
    build=_make,
    help="every read of all accounts sums to the total, no balance below zero (Jepsen's bank)",
)
