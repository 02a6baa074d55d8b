"""Benchmark of the invariant checkers: each one on a generated 1,000,000-op history (target: under 10 s and
under 2 GiB). Prints one line per checker: generation time, check time, peak RSS of the process that generated
and checked the history (history included), and the verdict (which must be valid: the histories come from
correct sequential models).

    python bench/checkers.py                  # every checker, 1,000,000 ops each
    python bench/checkers.py --ops 200000 set-full bank

Each checker runs in its own forked process, so one checker's memory does not count against the next.
Histories: `concurrency` clients; each op takes effect at its completion (so the history is correct by
construction), 4% of ops fail (no effect), 3% end info (effect or not, at random; the process is retired;
for the queue, info ops never take effect, see `generate`).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from harness.checker import Checker  # noqa: E402
from harness.op import History, Op  # noqa: E402


class Model:
    """A correct sequential system: `gen` picks an op (f, invoke value), `apply` performs it atomically and
    returns (took effect, completion value), `final` lists ops run alone at the end."""

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        raise NotImplementedError

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        raise NotImplementedError

    def final(self) -> list[tuple[str, Any]]:
        return []


def generate(model: Model, n_ops: int, seed: int = 1, concurrency: int = 10,
             nodes: tuple[str, ...] = ("n1", "n2", "n3"), info_applies: bool = True) -> History:
    """With `info_applies`, half the info ops took effect; without, none did (a queue whose indefinite
    dequeues took elements nobody saw is rightly "unknown", which is not what a benchmark should measure)."""
    rng = random.Random(seed)
    ops: list[Op] = []
    append = ops.append
    inflight: deque[tuple[int, str, Any, str]] = deque()
    next_process = concurrency
    idle = list(range(concurrency))
    t = 0
    while len(ops) < n_ops - 2 * len(model.final()) * len(nodes) - 2 * concurrency:
        while idle:
            p = idle.pop()
            f, v = model.gen(rng, p)
            node = nodes[p % len(nodes)]
            t += 1000
            append(Op(index=len(ops), time_ns=t, type="invoke", process=p, f=f, value=v, node=node))
            inflight.append((p, f, v, node))
        p, f, v, node = inflight.popleft()
        r = rng.random()
        t += 1000
        if r < 0.04:
            append(Op(index=len(ops), time_ns=t, type="fail", process=p, f=f, value=v, node=node))
            idle.append(p)
            continue
        applies = r >= 0.07 or (info_applies and rng.random() < 0.5)
        happened, result = model.apply(f, v, p) if applies else (False, None)
        if r < 0.07:
            append(Op(index=len(ops), time_ns=t, type="info", process=p, f=f, value=v, node=node))
            idle.append(next_process)
            next_process += 1
        elif happened:
            append(Op(index=len(ops), time_ns=t, type="ok", process=p, f=f, value=result, node=node))
            idle.append(p)
        else:
            append(Op(index=len(ops), time_ns=t, type="fail", process=p, f=f, value=v, node=node))
            idle.append(p)
    while inflight:
        p, f, v, node = inflight.popleft()
        happened, result = model.apply(f, v, p)
        t += 1000
        append(Op(index=len(ops), time_ns=t, type="ok" if happened else "fail", process=p, f=f,
                  value=result if happened else v, node=node))
    for f, v in model.final():
        for node in nodes:
            p = next_process
            next_process += 1
            t += 1000
            append(Op(index=len(ops), time_ns=t, type="invoke", process=p, f=f, value=v, node=node))
            happened, result = model.apply(f, v, p)
            t += 1000
            append(Op(index=len(ops), time_ns=t, type="ok" if happened else "fail", process=p, f=f,
                      value=result if happened else v, node=node))
    return History(ops)


# --- models -------------------------------------------------------------------------------------------------

@dataclass
class SetModel(Model):
    """One set, adds only, read once at the end (Jepsen's set workload)."""

    elements: set[int] = field(default_factory=set)
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        self.next += 1
        return "add", self.next

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "add":
            self.elements.add(value)
            return True, value
        return True, list(self.elements)

    def final(self) -> list[tuple[str, Any]]:
        return [("read", None)]


@dataclass
class KeyedSetModel(Model):
    """Sets under independent keys (Jepsen's set-full runs this way): 200 adds per key, 20% reads of recent
    keys; values are [key, element] and [key, elements]."""

    sets: dict[int, set[int]] = field(default_factory=dict)
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.2 and self.next > 0:
            return "read", [max(0, self.next // 200 - rng.randrange(3)), None]
        self.next += 1
        return "add", [self.next // 200, self.next]

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        k = value[0]
        s = self.sets.setdefault(k, set())
        if f == "add":
            s.add(value[1])
            return True, value
        return True, [k, list(s)]


@dataclass
class CounterModel(Model):
    value: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        return ("add", rng.randint(-2, 5)) if rng.random() < 0.5 else ("read", None)

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "add":
            self.value += value
            return True, value
        return True, self.value


@dataclass
class BankModel(Model):
    balances: dict[int, int] = field(default_factory=lambda: {i: 100 for i in range(8)})

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.5:
            a, b = rng.sample(range(8), 2)
            return "transfer", {"from": a, "to": b, "amount": rng.randint(1, 30)}
        return "read", None

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "read":
            return True, dict(self.balances)
        if self.balances[value["from"]] < value["amount"]:
            return False, None
        self.balances[value["from"]] -= value["amount"]
        self.balances[value["to"]] += value["amount"]
        return True, value


@dataclass
class VersionModel(Model):
    versions: dict[int, int] = field(default_factory=dict)

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        k = rng.randrange(100)
        return ("write", [k, None]) if rng.random() < 0.3 else ("read", [k, None])

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        k = value[0]
        if f == "write":
            self.versions[k] = self.versions.get(k, 0) + 1
        return True, [k, self.versions.get(k)]


@dataclass
class IdempotentModel(Model):
    effects: list[str] = field(default_factory=list)
    results: dict[str, int] = field(default_factory=dict)
    n: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if rng.random() < 0.0001:
            return "read", None
        if self.n and rng.random() < 0.2:
            return "request", {"key": f"r-{rng.randrange(max(1, self.n - 50), self.n + 1)}", "amount": 1}
        self.n += 1
        return "request", {"key": f"r-{self.n}", "amount": 1}

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        if f == "read":
            return True, list(self.effects)
        k = value["key"]
        if k not in self.results:
            self.results[k] = len(self.effects)
            self.effects.append(k)
        return True, {**value, "result": self.results[k]}

    def final(self) -> list[tuple[str, Any]]:
        return [("read", None)]


@dataclass
class IdModel(Model):
    next: int = 0

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        return "generate", None

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        self.next += 1
        return True, self.next


@dataclass
class QueueModel(Model):
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
class LockModel(Model):
    holder: dict[str, int] = field(default_factory=dict)
    holding: dict[int, str] = field(default_factory=dict)

    def gen(self, rng: random.Random, process: int) -> tuple[str, Any]:
        if process in self.holding:
            return "release", {"resource": self.holding.pop(process), "owner": process}
        r = f"lock-{rng.randrange(100)}"
        self.holding[process] = r
        return "acquire", {"resource": r, "owner": process}

    def apply(self, f: str, value: Any, process: int) -> tuple[bool, Any]:
        r, o = value["resource"], value["owner"]
        if f == "acquire":
            if r in self.holder:
                return False, None
            self.holder[r] = o
            return True, value
        if self.holder.get(r) != o:
            return False, None
        del self.holder[r]
        return True, value


def with_faults(h: History, every: int = 50_000) -> History:
    """A partition (start/stop) every `every` ops, as a nemesis would record it."""
    ops: list[Op] = []
    for i, op in enumerate(h.ops):
        if i % every == every // 2:
            f = "start-partition" if (i // every) % 2 == 0 else "stop-partition"
            ops.append(Op(index=len(ops), time_ns=op.time_ns, type="invoke", process="nemesis", f=f))
            ops.append(Op(index=len(ops) + 1, time_ns=op.time_ns, type="info", process="nemesis", f=f))
        ops.append(op)
    ops.append(Op(type="invoke", process="nemesis", f="stop-partition", time_ns=ops[-1].time_ns))
    ops.append(Op(type="info", process="nemesis", f="stop-partition", time_ns=ops[-1].time_ns))
    return History.indexed(ops)


def _checkers() -> dict[str, tuple[Callable[[int], History], Callable[[], Checker]]]:
    from checkers.invariants import (
        AvailabilityChecker,
        BankChecker,
        CounterChecker,
        IdempotencyChecker,
        MonotonicChecker,
        SetChecker,
        SetFullChecker,
        StatsChecker,
        TotalQueueChecker,
        UniqueIdsChecker,
        UniquenessChecker,
    )

    return {
        "set": (lambda n: generate(SetModel(), n), SetChecker),
        "set-full (keyed)": (lambda n: generate(KeyedSetModel(), n), lambda: SetFullChecker(keyed=True)),
        "counter": (lambda n: generate(CounterModel(), n), CounterChecker),
        "bank": (lambda n: generate(BankModel(), n), BankChecker),
        "monotonic": (lambda n: generate(VersionModel(), n), MonotonicChecker),
        "idempotency": (lambda n: generate(IdempotentModel(), n), IdempotencyChecker),
        "unique-ids": (lambda n: generate(IdModel(), n), UniqueIdsChecker),
        "total-queue": (lambda n: generate(QueueModel(), n, info_applies=False), TotalQueueChecker),
        "uniqueness": (lambda n: generate(LockModel(), n), UniquenessChecker),
        "stats": (lambda n: generate(BankModel(), n), StatsChecker),
        "availability": (lambda n: with_faults(generate(CounterModel(), n - 44)), AvailabilityChecker),
    }


def _one(name: str, n: int, out: Any) -> None:
    make_history, make_checker = _checkers()[name]
    t0 = time.perf_counter()
    h = make_history(n)
    t1 = time.perf_counter()
    c1 = time.process_time()
    v = make_checker().check(None, h, "/tmp")
    c2 = time.process_time()
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    out.send((len(h), t1 - t0, t2 - t1, c2 - c1, rss, v.valid, v.summary))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ops", type=int, default=1_000_000)
    ap.add_argument("names", nargs="*", help="checkers to run (default: all)")
    args = ap.parse_args()
    names = [k for k in _checkers() if not args.names or k.split()[0] in args.names]
    ctx = mp.get_context("fork")
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} CPUs (wall time suffers when the machine is shared; "
          "CPU time is what the check itself costs)")
    print(f"{'checker':<18} {'ops':>9} {'generate s':>10} {'check s':>8} {'check CPU s':>11} {'peak MiB':>9}  verdict")
    worst = 0
    for name in names:
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_one, args=(name, args.ops, send))
        proc.start()
        n_ops, gen_s, check_s, cpu_s, rss, valid, summary = recv.recv()
        proc.join()
        print(f"{name:<18} {n_ops:>9} {gen_s:>10.2f} {check_s:>8.2f} {cpu_s:>11.2f} {rss:>9.0f}  {valid} ({summary})",
              flush=True)
        if cpu_s > 10 or rss > 2048 or valid is not True:
            worst = 1
    return worst


if __name__ == "__main__":
    sys.exit(main())
