"""A history simulator for checker property tests and benchmarks (bench/checkers.py): concurrent clients against
a correct sequential model.

This is the checkers' collaborator, not a stand-in for a database: it produces histories that are correct by
construction (every op takes effect atomically at one instant between its invocation and its completion, or
never), with concurrency, definite failures (`fail`: the op never took effect) and indefinite ones (`info`:
the op may take effect at any later instant, or never; its process is then retired, as in Jepsen).

The models' defaults make small, collision-rich histories for property tests; their parameters let a benchmark
make large ones whose checking cost stays linear (few reads of whole collections, wide key spaces).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.op import History, Op


class Model(Protocol):
    """A correct sequential system. `gen(rng, process)` picks the next op of a process (f, invoke value);
    `apply(f, value, process)` performs it atomically and returns (took effect, completion value);
    `final()` lists the ops run one at a time after everything else (final reads, a drain)."""

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]: ...

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]: ...

    def final(self) -> list[tuple[str, Any]]: ...


@dataclass
class _Pending:
    process: int
    f: str
    value: Any
    node: str | None
    applied: bool = False
    happened: bool = False
    result: Any = None


@dataclass
class Sim:
    rng: random.Random
    model: Model
    concurrency: int = 3
    p_fail: float = 0.1
    p_info: float = 0.1
    nodes: tuple[str, ...] = ()
    indefinite_effects: bool = True  # False: an op that ends `info` never took effect
    ops: list[Op] = field(default_factory=list)

    def emit(self, type_: str, process: int | str, f: str, value: Any, node: str | None = None,
             error: Any = None) -> None:
        n = len(self.ops)
        self.ops.append(Op(index=n, time_ns=n * 1_000_000, type=type_, process=process, f=f, value=value,  # type: ignore[arg-type]
                           node=node, error=error))

    def run(self, n_ops: int) -> History:
        rng = self.rng
        idle = deque(range(self.concurrency))
        next_process = self.concurrency
        pending: list[_Pending] = []
        zombies: list[_Pending] = []  # info ops that have not taken effect yet: they may, any time, or never
        invoked = 0
        while invoked < n_ops or pending:
            choice = rng.random()
            if idle and invoked < n_ops and (choice < 0.35 or not pending):
                p = idle.popleft()
                f, v = self.model.gen(rng, p)
                node = rng.choice(self.nodes) if self.nodes else None
                pending.append(_Pending(p, f, v, node))
                self.emit("invoke", p, f, v, node)
                invoked += 1
                continue
            if zombies and choice < 0.4:
                z = zombies.pop(rng.randrange(len(zombies)))
                if rng.random() < 0.5:
                    self.model.apply(z.f, z.value, z.process)
                continue
            op = rng.choice(pending)
            if not op.applied and rng.random() < 0.6:
                op.applied = True
                op.happened, op.result = self.model.apply(op.f, op.value, op.process)
                continue
            pending.remove(op)
            r = rng.random()
            if op.applied and op.happened:
                if r < self.p_info and self.indefinite_effects:
                    self.emit("info", op.process, op.f, op.value, op.node, "timeout")
                else:
                    self.emit("ok", op.process, op.f, op.result, op.node)
            elif op.applied:  # the model rejected it: a definite failure
                self.emit("fail", op.process, op.f, op.value, op.node, "rejected")
            elif r < self.p_fail:
                self.emit("fail", op.process, op.f, op.value, op.node, "refused")
            elif r < self.p_fail + self.p_info:
                self.emit("info", op.process, op.f, op.value, op.node, "timeout")
                if self.indefinite_effects:
                    zombies.append(op)
            else:  # completes now, so it takes effect now
                op.happened, op.result = self.model.apply(op.f, op.value, op.process)
                if op.happened:
                    self.emit("ok", op.process, op.f, op.result, op.node)
                else:
                    self.emit("fail", op.process, op.f, op.value, op.node, "rejected")
            if self.ops[-1].type == "info":
                idle.append(next_process)  # a crashed process is never reused
                next_process += 1
            else:
                idle.append(op.process)
        for z in zombies:  # indefinite ops settle before the final phase (or never take effect)
            if rng.random() < 0.5:
                self.model.apply(z.f, z.value, z.process)
        for f, v in self.model.final():
            nodes = self.nodes or (None,)
            for node in nodes:
                p = next_process
                next_process += 1
                self.emit("invoke", p, f, v, node)
                ok, result = self.model.apply(f, v, p)
                self.emit("ok" if ok else "fail", p, f, result if ok else v, node)
        return History(self.ops)


def simulate(model: Model, seed: int, n_ops: int, concurrency: int = 3, p_fail: float = 0.1,
             p_info: float = 0.1, nodes: tuple[str, ...] = (), indefinite_effects: bool = True) -> History:
    """A history of `n_ops` invocations (each completed, or left info) plus the model's final ops."""
    return Sim(random.Random(seed), model, concurrency, p_fail, p_info, nodes, indefinite_effects).run(n_ops)


# --- correct sequential models ------------------------------------------------------------------------------

@dataclass
class SetModel:
    """One set: unique adds, reads of the whole set (`p_read` of the ops; 0: only the final read)."""

    p_read: float = 0.3
    elements: set[int] = field(default_factory=set)
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() >= self.p_read:
            self.next += 1
            return "add", self.next
        return "read", None

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "add":
            self.elements.add(value)
            return True, value
        return True, sorted(self.elements)

    def final(self) -> list[tuple[str, Any]]:
        return [("read", None)]


@dataclass
class CounterModel:
    low: int = -3  # deltas are drawn from [low, high]
    high: int = 5
    p_add: float = 0.6
    value: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        return ("add", rng.randint(self.low, self.high)) if rng.random() < self.p_add else ("read", None)

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "add":
            self.value += value
            return True, value
        return True, self.value

    def final(self) -> list[tuple[str, Any]]:
        return [("read", None)]


@dataclass
class BankModel:
    accounts: int = 5
    balance: int = 20  # of each account at the start
    max_transfer: int = 15
    balances: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.balances = self.balances or {str(i): self.balance for i in range(self.accounts)}

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.6:
            a, b = rng.sample(sorted(self.balances), 2)
            return "transfer", {"from": a, "to": b, "amount": rng.randint(1, self.max_transfer)}
        return "read", None

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "transfer":
            if self.balances[value["from"]] < value["amount"]:
                return False, None
            self.balances[value["from"]] -= value["amount"]
            self.balances[value["to"]] += value["amount"]
            return True, value
        return True, dict(self.balances)

    def final(self) -> list[tuple[str, Any]]:
        return [("read", None)]


@dataclass
class VersionModel:
    """Keys whose version grows by one with every write (a revision per key)."""

    keys: int = 3
    p_write: float = 0.4
    versions: dict[int, int] = field(default_factory=dict)

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        k = rng.randrange(self.keys)
        return ("write", [k, None]) if rng.random() < self.p_write else ("read", [k, None])

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        k = value[0]
        if f == "write":
            self.versions[k] = self.versions.get(k, 0) + 1
        return True, [k, self.versions.get(k)]

    def final(self) -> list[tuple[str, Any]]:
        return [("read", [k, None]) for k in range(self.keys)]


@dataclass
class IdempotentModel:
    """A ledger that applies each idempotency key once and answers retries with the stored result. A retry picks
    one of the last `retry_window` keys (None: any key so far)."""

    p_read: float = 0.15
    retry_window: int | None = None
    effects: list[str] = field(default_factory=list)
    results: dict[str, int] = field(default_factory=dict)
    total: int = 0
    keys: list[str] = field(default_factory=list)

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < self.p_read:
            return "read", None
        if self.keys and rng.random() < 0.3:
            k = rng.choice(self.keys[-self.retry_window:] if self.retry_window else self.keys)  # a retry
        else:
            k = f"p-{len(self.keys)}"
            self.keys.append(k)
        return "request", {"key": k, "amount": 1}

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "read":
            return True, list(self.effects)
        k = value["key"]
        if k not in self.results:
            self.total += value["amount"]
            self.results[k] = self.total
            self.effects.append(k)
        return True, {**value, "result": self.results[k]}

    def final(self) -> list[tuple[str, Any]]:
        return [("read", None)]


@dataclass
class IdModel:
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        return "generate", None

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        self.next += 1
        return True, self.next

    def final(self) -> list[tuple[str, Any]]:
        return []


@dataclass
class QueueModel:
    items: deque[int] = field(default_factory=deque)
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.55:
            self.next += 1
            return "enqueue", self.next
        return "dequeue", None

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "enqueue":
            self.items.append(value)
            return True, value
        if f == "dequeue":
            return (True, self.items.popleft()) if self.items else (False, None)
        out = list(self.items)
        self.items.clear()
        return True, out

    def final(self) -> list[tuple[str, Any]]:
        return [("drain", None)]


@dataclass
class LockModel:
    """Locks (acquire/release, owner = process) and seats (book, never released)."""

    locks: int = 2
    seats: int = 4
    p_book: float = 0.2
    holder: dict[str, int] = field(default_factory=dict)
    holding: dict[int, str] = field(default_factory=dict)  # what each process believes it may hold

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if process in self.holding:
            return "release", {"resource": self.holding.pop(process), "owner": process}
        if rng.random() < self.p_book:
            return "book", {"resource": f"seat-{rng.randrange(self.seats)}", "owner": process}
        r = f"lock-{rng.randrange(self.locks)}"
        self.holding[process] = r  # it will release after, whatever the outcome (a release by a non-holder fails)
        return "acquire", {"resource": r, "owner": process}

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        r, o = value["resource"], value["owner"]
        if f in ("acquire", "book"):
            if r in self.holder:
                return False, None
            self.holder[r] = o
            return True, value
        if self.holder.get(r) != o:
            return False, None
        del self.holder[r]
        return True, value

    def final(self) -> list[tuple[str, Any]]:
        return []


@dataclass
class Keyed:
    """Independent keys (Jepsen's `independent`): one fresh inner model per key, values wrapped as [key, value]."""

    make: Any  # () -> Model
    keys: int = 3
    models: dict[int, Any] = field(default_factory=dict)

    def _model(self, k: int) -> Any:
        if k not in self.models:
            self.models[k] = self.make()
        return self.models[k]

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        k = rng.randrange(self.keys)
        f, v = self._model(k).gen(rng, process)
        return f, [k, v]

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        ok, result = self._model(value[0]).apply(f, value[1], process)
        return ok, [value[0], result]

    def final(self) -> list[tuple[str, Any]]:
        return [(f, [k, v]) for k in range(self.keys) for f, v in self._model(k).final()]


@dataclass
class GrowingKeyedSetModel:
    """Sets under independent keys that move on (Jepsen's set-full runs this way): `per_key` adds per key, then
    the next key; 20% reads of one of the three newest keys. Values are [key, element] and [key, elements]."""

    per_key: int = 200
    sets: dict[int, set[int]] = field(default_factory=dict)
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.2 and self.next > 0:
            return "read", [max(0, self.next // self.per_key - rng.randrange(3)), None]
        self.next += 1
        return "add", [self.next // self.per_key, self.next]

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        s = self.sets.setdefault(value[0], set())
        if f == "add":
            s.add(value[1])
            return True, value
        return True, [value[0], sorted(s)]

    def final(self) -> list[tuple[str, Any]]:
        return []


@dataclass
class StreamModel:
    """An append-only log whose offsets the server hands out in order (from 1): appends of unique elements,
    reads of up to `max_limit` messages from an offset near the end, and a final read of the whole log."""

    p_read: float = 0.35
    max_limit: int = 5
    log: list[int] = field(default_factory=list)
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() >= self.p_read:
            self.next += 1
            return "append", self.next
        return "read", [rng.randint(1, len(self.log) + 2), rng.randint(1, self.max_limit)]

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "append":
            self.log.append(value)
            return True, [len(self.log), value]
        start, limit = value if f == "read" else (1, len(self.log))
        return True, [[o, self.log[o - 1]] for o in range(max(1, start), len(self.log) + 1)][:limit]

    def final(self) -> list[tuple[str, Any]]:
        return [("read-all", None)]
