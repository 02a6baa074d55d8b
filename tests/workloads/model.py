"""A sequential in-memory store that performs every workload's ops: a named fake, the collaborator of the
workload tests (the subject is the workload: its generator, its vocabulary, its checker wiring), never a
stand-in for a real system.

Each op takes effect atomically when `apply` is called; the simulator calls it when it dispatches the op, so
every effect lands inside its op's invoke/complete window and the history is linearizable: every workload's
checker must find it valid. A `bug` plants one well-known defect, which the workload's checker must catch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.op import Op

BUGS = {
    "list-append": "lost-append",  # an ok append is not applied
    "rw-register": "stale-read",  # reads return the value before the last write
    "bank": "mint-money",  # a transfer credits without debiting
    "set": "lose-add",  # every third ok add is not applied
    "counter": "drop-add",  # every other ok add is not applied
    "unique-ids": "reuse-id",  # every fifth id is handed out again
    "idempotent": "apply-retry",  # a retried request is applied again
    "monotonic": "go-back",  # a read sometimes returns an older version
    "queue": "drop-enqueue",  # every fourth ok enqueue is not queued
    "stream": "reuse-offset",  # every fifth append overwrites the last message, at its offset
}


class SequentialStore:
    def __init__(self, workload: str, bug: bool = False, balances: dict[int, int] | None = None) -> None:
        self.workload = workload
        self.bug = bug
        self.n = 0
        self.lists: dict[Any, list[Any]] = {}
        self.regs: dict[Any, Any] = {}
        self.prev_regs: dict[Any, Any] = {}
        self.balances = dict(balances or {})
        self.elements: list[Any] = []
        self.count = 0
        self.next_id = 0
        self.payments: dict[str, int] = {}
        self.results: dict[str, int] = {}
        self.versions: dict[Any, int] = {}
        self.queue: list[Any] = []
        self.log: list[Any] = []

    def apply(self, op: Op) -> tuple[str, Any]:
        """(completion type, completion value) of op, applied now."""
        self.n += 1
        fn: Callable[[Op], tuple[str, Any]] = getattr(self, "_" + self.workload.replace("-", "_"))
        return fn(op)

    def _list_append(self, op: Op) -> tuple[str, Any]:
        out = []
        for f, k, v in op.value:
            if f == "r":
                out.append(["r", k, list(self.lists.get(k, []))])
            else:
                if not (self.bug and self.n % 4 == 0):
                    self.lists.setdefault(k, []).append(v)
                out.append([f, k, v])
        return "ok", out

    def _rw_register(self, op: Op) -> tuple[str, Any]:
        out = []
        for f, k, v in op.value:
            if f == "r":
                out.append(["r", k, (self.prev_regs if self.bug else self.regs).get(k)])
            else:
                self.prev_regs[k] = self.regs.get(k)
                self.regs[k] = v
                out.append([f, k, v])
        return "ok", out

    def _bank(self, op: Op) -> tuple[str, Any]:
        if op.f == "read":
            return "ok", dict(self.balances)
        src, dst, amount = op.value["from"], op.value["to"], op.value["amount"]
        if self.balances[src] < amount:
            return "fail", op.value
        if not self.bug:
            self.balances[src] -= amount
        self.balances[dst] += amount
        return "ok", op.value

    def _set(self, op: Op) -> tuple[str, Any]:
        if op.f == "read":
            return "ok", sorted(self.elements)
        if not (self.bug and self.n % 3 == 0):
            self.elements.append(op.value)
        return "ok", op.value

    def _counter(self, op: Op) -> tuple[str, Any]:
        if op.f == "read":
            return "ok", self.count
        if not (self.bug and self.n % 2 == 0):
            self.count += op.value
        return "ok", op.value

    def _unique_ids(self, op: Op) -> tuple[str, Any]:
        if not (self.bug and self.n % 5 == 0):
            self.next_id += 1
        return "ok", self.next_id

    def _idempotent(self, op: Op) -> tuple[str, Any]:
        if op.f == "read":
            return "ok", dict(self.payments)
        key = op.value["key"]
        if key not in self.results or self.bug:
            self.payments[key] = self.payments.get(key, 0) + 1
            self.results.setdefault(key, self.n)
        return "ok", {**op.value, "result": self.results[key]}

    def _monotonic(self, op: Op) -> tuple[str, Any]:
        k = op.value[0]
        if op.f == "write":
            self.versions[k] = self.versions.get(k, 0) + 1
            return "ok", [k, self.versions[k]]
        v = self.versions.get(k, 0)
        if self.bug and self.n % 7 == 0 and v > 1:
            v -= 1
        return "ok", [k, v]

    def _queue(self, op: Op) -> tuple[str, Any]:
        if op.f == "enqueue":
            if not (self.bug and self.n % 4 == 0):
                self.queue.append(op.value)
            return "ok", op.value
        if op.f == "dequeue":
            return ("ok", self.queue.pop(0)) if self.queue else ("fail", None)
        taken, self.queue = self.queue, []
        return "ok", taken

    def _stream(self, op: Op) -> tuple[str, Any]:
        if op.f == "append":
            if self.bug and self.n % 5 == 0 and self.log:
                self.log[-1] = op.value
            else:
                self.log.append(op.value)
            return "ok", [len(self.log), op.value]
        start, limit = op.value if op.f == "read" else (1, len(self.log))
        return "ok", [[o, self.log[o - 1]] for o in range(max(1, start), len(self.log) + 1)][:limit]
