"""Test helpers: simulated transactional databases that produce valid histories, and planted anomalies.

`simulate` runs random transactions against an in-memory store whose every transaction takes effect
atomically at one instant between its invocation and its completion (strict serializability); with
concurrency 1 it is a serial database. Outcomes include `fail` (did not happen) and `info` (may or may not
have happened; the process is then retired, as in Jepsen). `PATTERNS` are small transaction sets on fresh
keys that each show one named anomaly; `plant` inserts one into a history.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from harness.op import History, Op, OpType


@dataclass
class _Pending:
    process: int
    txn: list[list[Any]]  # the invocation's micro-ops (reads have value None)
    result: list[list[Any]] | None = None  # set once applied
    snapshot: dict[Any, Any] | None = None  # snapshot isolation: committed state when it began
    snap_versions: dict[Any, int] = field(default_factory=dict)
    aborted: bool = False


def _apply_si(state: dict[Any, Any], versions: dict[Any, int], p: _Pending) -> None:
    """Snapshot isolation: read the snapshot taken at the start plus own writes; commit only if no key it
    writes was committed by another transaction since (first committer wins), else abort."""
    assert p.snapshot is not None
    local = {k: (list(v) if isinstance(v, list) else v) for k, v in p.snapshot.items()}
    out = _apply(local, p.txn)
    written = {k for f, k, _ in p.txn if f != "r"}
    if any(versions.get(k, 0) != p.snap_versions.get(k, 0) for k in written):
        p.aborted = True
        p.result = out
        return
    for k in written:
        state[k] = local[k]
        versions[k] = versions.get(k, 0) + 1
    p.result = out


def _apply(state: dict[Any, Any], txn: list[list[Any]]) -> list[list[Any]]:
    out = []
    for f, k, v in txn:
        if f == "r":
            cur = state.get(k)
            out.append(["r", k, list(cur) if isinstance(cur, list) else cur])
        elif f == "append":
            state.setdefault(k, []).append(v)
            out.append(["append", k, v])
        else:
            state[k] = v
            out.append(["w", k, v])
    return out


def _random_txn(rng: random.Random, workload: str, keys: list[Any], counter: list[int]) -> list[list[Any]]:
    """Micro-ops with their write values chosen at invocation (unique per history), as clients do."""
    wf = "append" if workload == "list-append" else "w"
    out = []
    for _ in range(rng.randint(1, 4)):
        f = rng.choice(("r", wf))
        v = None
        if f != "r":
            counter[0] += 1
            v = counter[0]
        out.append([f, rng.choice(keys), v])
    return out


def simulate(
    seed: int,
    *,
    workload: str = "list-append",
    n_txns: int = 60,
    concurrency: int = 3,
    n_keys: int = 4,
    p_fail: float = 0.05,
    p_info: float = 0.05,
    isolation: str = "strict-serializable",
) -> History:
    """A history of about `n_txns` transactions from a strict-serializable database (serial when concurrency
    is 1), or with isolation="snapshot-isolation" from one giving snapshot isolation (first committer wins)."""
    si = isolation == "snapshot-isolation"
    versions: dict[Any, int] = {}
    rng = random.Random(seed)
    keys: list[Any] = [f"k{i}" for i in range(n_keys)]
    state: dict[Any, Any] = {}
    counter = [0]
    ops: list[Op] = []
    pending: dict[int, _Pending] = {}
    next_process = concurrency
    idle = list(range(concurrency))
    started = 0

    def emit(type_: OpType, process: int, value: Any) -> None:
        ops.append(Op(index=len(ops), time_ns=len(ops), type=type_, process=process, f="txn", value=value))

    while started < n_txns or pending:
        choices = []
        if idle and started < n_txns:
            choices.append("invoke")
        if any(p.result is None for p in pending.values()):
            choices.append("apply")
        if pending:
            choices.append("complete")
        action = rng.choice(choices)
        if action == "invoke":
            proc = idle.pop(rng.randrange(len(idle)))
            txn = _random_txn(rng, workload, keys, counter)
            pending[proc] = _Pending(proc, txn)
            if si:
                pending[proc].snapshot = {k: (list(v) if isinstance(v, list) else v) for k, v in state.items()}
                pending[proc].snap_versions = dict(versions)
            emit("invoke", proc, [list(m) for m in txn])
            started += 1
        elif action == "apply":
            p = rng.choice([p for p in pending.values() if p.result is None])
            if si:
                _apply_si(state, versions, p)
            else:
                p.result = _apply(state, p.txn)
        else:
            p = pending.pop(rng.choice(sorted(pending)))
            r = rng.random()
            if si and p.result is None and r >= p_fail + p_info:
                _apply_si(state, versions, p)
            if p.aborted or (p.result is None and r < p_fail):
                emit("fail", p.process, [list(m) for m in p.txn])
                idle.append(p.process)
            elif r < p_fail + p_info:
                # indeterminate: it may have been applied (result set) or not; the outcome is not observed
                if p.result is None and rng.random() < 0.5:
                    if si:
                        _apply_si(state, versions, p)
                    else:
                        p.result = _apply(state, p.txn)
                emit("info", p.process, [list(m) for m in p.txn])
                idle.append(next_process)  # the process is retired; a fresh one takes its place
                next_process += 1
            else:
                if p.result is None:
                    p.result = _apply(state, p.txn)
                emit("ok", p.process, p.result)
                idle.append(p.process)
    return History(ops)


def simulate_read_committed(seed: int, *, workload: str = "list-append", n_txns: int = 60,
                            concurrency: int = 4, n_keys: int = 3) -> History:
    """A read-committed database with long write locks (Adya's PL-2 by locking): a transaction's micro-ops
    run one at a time, interleaved with others'; a write locks its key until commit (a transaction waiting
    for a lock waits; when every running transaction waits, one aborts); a read sees the latest committed
    state plus the transaction's own writes. No G0/G1 can appear; G-single, G2, lost updates and
    non-repeatable reads can."""
    rng = random.Random(seed)
    keys: list[Any] = [f"k{i}" for i in range(n_keys)]
    state: dict[Any, Any] = {}
    counter = [0]
    ops: list[Op] = []
    running: dict[int, tuple[list[list[Any]], list[list[Any]], dict[Any, Any]]] = {}
    locks: dict[Any, int] = {}
    idle = list(range(concurrency))
    started = 0

    def emit(type_: OpType, process: int, value: Any) -> None:
        ops.append(Op(index=len(ops), time_ns=len(ops), type=type_, process=process, f="txn", value=value))

    def blocked(proc: int) -> bool:
        txn, done, _ = running[proc]
        if len(done) == len(txn):
            return False
        f, k, _ = txn[len(done)]
        return f != "r" and locks.get(k, proc) != proc

    def finish(proc: int, commit: bool) -> None:
        txn, done, buf = running.pop(proc)
        for k in [k for k, owner in locks.items() if owner == proc]:
            del locks[k]
        if commit:
            for k, v in buf.items():
                if workload == "list-append":
                    state.setdefault(k, []).extend(v)
                else:
                    state[k] = v
            emit("ok", proc, done)
        else:
            emit("fail", proc, [list(m) for m in txn])
        idle.append(proc)

    while started < n_txns or running:
        if idle and started < n_txns and (not running or rng.random() < 0.4):
            proc = idle.pop(rng.randrange(len(idle)))
            txn = _random_txn(rng, workload, keys, counter)
            running[proc] = (txn, [], {})
            emit("invoke", proc, [list(m) for m in txn])
            started += 1
            continue
        ready = [p for p in sorted(running) if not blocked(p)]
        if not ready:
            finish(rng.choice(sorted(running)), commit=False)  # deadlock: abort a victim
            continue
        proc = rng.choice(ready)
        txn, done, buf = running[proc]
        if len(done) < len(txn):
            f, k, v = txn[len(done)]
            if f == "r":
                cur = state.get(k)
                if workload == "list-append":
                    done.append(["r", k, list(cur or []) + buf.get(k, [])])
                else:
                    done.append(["r", k, buf.get(k, cur)])
            else:
                locks[k] = proc
                if workload == "list-append":
                    buf.setdefault(k, []).append(v)
                else:
                    buf[k] = v
                done.append([f, k, v])
            continue
        finish(proc, commit=rng.random() >= 0.05)
    return History(ops)


@dataclass(frozen=True)
class Pattern:
    """Transactions showing one anomaly: (type, micro-ops) pairs, each run by its own process, all
    concurrently; `after` makes the last `after` of them begin only once the others completed; `sequential`
    runs every one after the previous (real-time ordered), on one process if `same_process`."""

    kind: str
    workload: str
    txns: tuple[tuple[OpType, tuple[tuple[Any, ...], ...]], ...]
    sequential: bool = False
    same_process: bool = False
    after: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def groups(self) -> list[list[int]]:
        n = len(self.txns)
        if self.sequential:
            return [[i] for i in range(n)]
        if self.after:
            return [list(range(n - self.after)), list(range(n - self.after, n))]
        return [list(range(n))]


def _t(spec: OpType, *mops: tuple[Any, ...]) -> tuple[OpType, tuple[tuple[Any, ...], ...]]:
    return (spec, mops)


X, Y, Z, W = "planted-x", "planted-y", "planted-z", "planted-w"

PATTERNS: tuple[Pattern, ...] = (
    Pattern("G0", "list-append", (
        _t("ok", ("append", X, 1), ("append", Y, 1)),
        _t("ok", ("append", X, 2), ("append", Y, 2)),
        _t("ok", ("r", X, [1, 2]), ("r", Y, [2, 1])),
    )),
    Pattern("G1a", "list-append", (_t("fail", ("append", X, 1)), _t("ok", ("r", X, [1])))),
    Pattern("G1b", "list-append", (_t("ok", ("append", X, 1), ("append", X, 2)), _t("ok", ("r", X, [1])))),
    Pattern("G1c", "list-append", (
        _t("ok", ("append", X, 1), ("r", Y, [1])),
        _t("ok", ("append", X, 2), ("append", Y, 1)),
        _t("ok", ("r", X, [1, 2])),
    )),
    Pattern("G-single-item", "list-append", (
        _t("ok", ("append", X, 1), ("append", Y, 1)),
        _t("ok", ("append", X, 2), ("r", Y, None)),
        _t("ok", ("r", X, [1, 2])),
    )),
    Pattern("G-nonadjacent-item", "list-append", (
        _t("ok", ("append", X, 1), ("append", W, 1)),
        _t("ok", ("r", X, [1]), ("r", Y, None)),
        _t("ok", ("append", Y, 1), ("append", Z, 2)),
        _t("ok", ("r", Z, [2]), ("r", W, None)),
    )),
    Pattern("G2-item", "list-append", (
        _t("ok", ("append", X, 1), ("r", Y, None)),
        _t("ok", ("append", Y, 1), ("r", X, None)),
    )),
    Pattern("lost-update", "list-append", (
        _t("ok", ("append", X, 0)),
        _t("ok", ("r", X, [0]), ("append", X, 1)),
        _t("ok", ("r", X, [0]), ("append", X, 2)),
    )),
    Pattern("internal", "list-append", (_t("ok", ("append", X, 1), ("r", X, [])),)),
    Pattern("future-read", "list-append", (_t("ok", ("r", X, [1]), ("append", X, 1)),)),
    Pattern("dirty-update", "list-append", (
        _t("fail", ("append", X, 1)), _t("ok", ("append", X, 2)), _t("ok", ("r", X, [1, 2])),
    )),
    Pattern("duplicate-elements", "list-append", (_t("ok", ("append", X, 1)), _t("ok", ("r", X, [1, 1])))),
    Pattern("incompatible-order", "list-append", (
        _t("ok", ("append", X, 1)), _t("ok", ("append", X, 2)),
        _t("ok", ("r", X, [1, 2])), _t("ok", ("r", X, [2, 1])),
    )),
    Pattern("garbage-read", "list-append", (_t("ok", ("r", X, [99])),)),
    Pattern("G-single-item-realtime", "list-append", (
        _t("ok", ("append", X, 1)), _t("ok", ("r", X, None)),
    ), sequential=True),
    Pattern("G-single-item-process", "list-append", (
        _t("ok", ("append", X, 1)), _t("ok", ("r", X, None)),
    ), sequential=True, same_process=True,
        options={"consistency_models": ("strong-session-serializable",)}),
    Pattern("G0", "rw-register", (
        _t("ok", ("w", X, 1), ("w", Y, 2)),
        _t("ok", ("w", X, 2), ("w", Y, 1)),
        _t("ok", ("r", X, 2), ("r", Y, 2)),
    ), after=1, options={"linearizable_keys": True}),
    Pattern("G1a", "rw-register", (_t("fail", ("w", X, 1)), _t("ok", ("r", X, 1)))),
    Pattern("G1b", "rw-register", (_t("ok", ("w", X, 1), ("w", X, 2)), _t("ok", ("r", X, 1)))),
    Pattern("G1c", "rw-register", (_t("ok", ("w", X, 1), ("r", Y, 1)), _t("ok", ("w", Y, 1), ("r", X, 1)))),
    Pattern("G-single-item", "rw-register", (
        _t("ok", ("r", X, None), ("r", Y, 1)), _t("ok", ("w", Y, 1), ("w", X, 2)),
    )),
    Pattern("G2-item", "rw-register", (
        _t("ok", ("r", X, None), ("w", Y, 1)), _t("ok", ("r", Y, None), ("w", X, 1)),
    )),
    Pattern("lost-update", "rw-register", (
        _t("ok", ("r", X, 0), ("w", X, 1)), _t("ok", ("r", X, 0), ("w", X, 2)),
    )),
    Pattern("internal", "rw-register", (_t("ok", ("w", X, 1), ("r", X, 2)),)),
    Pattern("cyclic-versions", "rw-register", (
        _t("ok", ("w", X, 1)), _t("ok", ("w", X, 2)), _t("ok", ("r", X, 1)),
    ), sequential=True, same_process=True, options={"sequential_keys": True}),
)


def plant(history: History, pattern: Pattern, at: int) -> History:
    """`history` with the pattern's transactions inserted before position `at`, on fresh processes."""
    base = list(history)
    procs = [op.process for op in base if isinstance(op.process, int)]
    p0 = max(procs, default=-1) + 1
    ins: list[Op] = []

    def op(type_: OpType, proc: int, value: Any) -> Op:
        return Op(index=0, time_ns=0, type=type_, process=proc, f="txn", value=value)

    def inv_value(mops: tuple[tuple[Any, ...], ...]) -> list[list[Any]]:
        return [[f, k, None if f == "r" else v] for f, k, v in mops]

    for group in pattern.groups():
        for i in group:
            proc = p0 if pattern.same_process else p0 + i
            ins.append(op("invoke", proc, inv_value(pattern.txns[i][1])))
        for i in group:
            proc = p0 if pattern.same_process else p0 + i
            typ, mops = pattern.txns[i]
            ins.append(op(typ, proc, [list(m) for m in mops]))
    merged = base[:at] + ins + base[at:]
    return History.indexed(o.replace(time_ns=i) for i, o in enumerate(merged))
