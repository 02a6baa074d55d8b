"""The idempotent workload: payments, each carrying an idempotency key; a client that got an indefinite
answer retries with the same key, and the payment must be applied once however often it is retried (checked
by `checkers.invariants.idempotency`).

Op vocabulary (clients implement it):
    request  value {"key": "p<n>", "account": a, "amount": n}
             -> ok {..., "result": r}: the payment is applied (r identifies it; a retry of an applied key
                returns the same r without applying it again)
    read     value None -> ok {key: times applied, ...} for every key applied so far
After a request completes `info` (its process is retired), the request is sent again, same key and payload,
by the next free process, up to `max-retries` times; retries go before fresh requests. The final phase sends
the retries still due, then reads until one read is ok.
"""

from __future__ import annotations

from typing import Any

from harness import generator as g
from harness.checker import Checker
from harness.generator.context import Context
from harness.generator.core import GenLike
from harness.op import Op
from harness.options import OptionSpec
from harness.test import Test
from workloads._common import PerTest, at_least, final_read, registered_checker, with_stats

OPTIONS = (
    OptionSpec(name="accounts", default=5, parse=int, help="accounts payments go to"),
    OptionSpec(name="max-amount", default=100, parse=int, help="largest payment"),
    OptionSpec(name="max-retries", default=3, parse=int, help="retries of a request after indefinite answers"),
    OptionSpec(name="read-ratio", default=0.1, parse=float, help="fraction of fresh ops that read"),
)


class RetryState:
    """Requests due for a retry (in order), how many times each key was retried, and the number of fresh
    requests invoked (the next fresh key). Changed only by `update`, that is by dispatched events."""

    def __init__(self) -> None:
        self.due: list[dict[str, object]] = []
        self.retries: dict[str, int] = {}
        self.fresh = 0


_STATE: PerTest[RetryState] = PerTest(RetryState)


class RetryingRequests(g.Gen):
    """Emits a due retry if there is one, else (when `fresh`) a new request or read; learns from completions
    which requests need a retry. A retry leaves the due list when it is invoked, not when it is offered, since
    an offered op may not be dispatched. With `fresh` false it ends once no retry is due."""

    __slots__ = ("fresh", "make", "max_retries", "state")

    def __init__(self, state: RetryState, fresh: bool, max_retries: int, make: Any) -> None:
        self.state = state
        self.fresh = fresh
        self.max_retries = max_retries
        self.make = make

    def op(self, test: Test, ctx: Context) -> g.OpResult:
        if self.state.due:
            template = {"f": "request", "value": self.state.due[0]}
        elif self.fresh:
            template = self.make(test)
        else:
            return None
        r = g.op(template, test, ctx)
        if r is None:
            return None
        return r[0], self

    def update(self, test: Test, ctx: Context, event: object) -> g.GenLike:
        if not isinstance(event, Op) or event.f != "request" or not isinstance(event.value, dict):
            return self
        key = str(event.value.get("key"))
        st = self.state
        if event.type == "invoke":
            st.due = [v for v in st.due if str(v.get("key")) != key]
            if key == f"p{st.fresh}":
                st.fresh += 1
        elif event.type == "info":
            n = st.retries.get(key, 0)
            if n < self.max_retries and all(str(v.get("key")) != key for v in st.due):
                st.retries[key] = n + 1
                st.due.append({k: v for k, v in event.value.items() if k != "result"})
        return self


class IdempotentWorkload:
    name = "idempotent"
    option_specs = OPTIONS

    def generator(self, test: Test) -> GenLike:
        o = test.workload_opts
        at_least(self.name, o, 1, "accounts", "max-amount")
        at_least(self.name, o, 0, "max-retries")
        state = _STATE.get(test)
        rng, accounts, most, read_ratio = test.rng, o["accounts"], o["max-amount"], o["read-ratio"]

        def make(test: Test) -> dict[str, object]:
            if rng.random() < read_ratio:
                return {"f": "read", "value": None}
            value = {"key": f"p{state.fresh}", "account": rng.randrange(accounts), "amount": rng.randint(1, most)}
            return {"f": "request", "value": value}

        return RetryingRequests(state, True, o["max-retries"], make)

    def final_generator(self, test: Test) -> GenLike:
        state = _STATE.get(test)
        return [RetryingRequests(state, False, test.workload_opts["max-retries"], None), final_read()]

    def checker(self, test: Test) -> Checker:
        c = registered_checker(test, "idempotency")
        return with_stats(test, c)


PLUGIN = IdempotentWorkload()
