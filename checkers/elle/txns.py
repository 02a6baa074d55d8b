"""Transactions of a history as integer-indexed columns, and the edges that need no data: process and real time.

Owns `Txns` (one row per transaction: its op index, status, process, micro-ops, where it started and ended in
the history) built from a `History` by `txns_of`, micro-op validation (a malformed txn raises
`MalformedHistory` naming the op), and `session_edges`, which adds process-order and real-time edges to a
`Graph`. Does not own any workload's data dependencies (see list_append.py, rw_register.py).

A transaction is a client op with f "txn" whose value is a list of micro-ops `[f, key, value]` (lists or
tuples; `[f, key]` is a read with unknown value). Rows: every completion (`ok`, `fail`, `info`), plus every
invocation that never completed (treated like `info`: it may have happened). An `ok` or `fail` completion
without an invocation (hand-written histories) counts as invoked just before it completed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from collections.abc import Sequence

from checkers.elle.graph import PROCESS, REALTIME, Graph
from harness.errors import MalformedHistory
from harness.op import History, Process

OK = 0
INFO = 1
FAIL = 2
STATUS_NAMES = ("ok", "info", "fail")

_OTHER_WORKLOAD = {"append": "list-append", "w": "rw-register"}

MicroOp = Sequence[object]  # a list or tuple [f, key, value]; kept as recorded to avoid copying millions of them


@dataclass(slots=True)
class Txns:
    """Column store of transactions; row t is transaction T<op_index[t]>."""

    op_index: list[int] = field(default_factory=list)  # history index of the completion (or of the invoke)
    invoke_index: list[int] = field(default_factory=list)  # history index of the invoke, -1 if none
    status: bytearray = field(default_factory=bytearray)  # OK, INFO or FAIL
    process: list[Process] = field(default_factory=list)
    mops: list[list[MicroOp]] = field(default_factory=list)
    start: list[int] = field(default_factory=list)  # history position the txn began at
    end: list[int] = field(default_factory=list)  # history position it completed at; -1 if never (info)

    def __len__(self) -> int:
        return len(self.op_index)

    def name(self, t: int) -> str:
        return f"T{self.op_index[t]}"

    def describe(self, t: int) -> str:
        """`T12 (process 3, ok: append 1 to x, read x = [1])` for explanations."""
        parts = []
        for m in self.mops[t]:
            if m[0] == "r":
                parts.append(f"read {m[1]!r}" + ("" if m[2] is None else f" = {m[2]!r}"))
            elif m[0] == "append":
                parts.append(f"append {m[2]!r} to {m[1]!r}")
            else:
                parts.append(f"write {m[2]!r} to {m[1]!r}")
        return f"{self.name(t)} (process {self.process[t]}, {STATUS_NAMES[self.status[t]]}: {', '.join(parts)})"


def _norm_mops(value: object, op_index: int, allowed: frozenset[str], read_values: bool) -> list[MicroOp]:
    if type(value) is list:
        # fast path (nearly every txn): well-formed [f, key, value] lists that need no rewriting
        for m in value:
            if not (type(m) is list and len(m) == 3 and m[0] in allowed and not isinstance(m[1], list)
                    and (read_values or m[2] is None or m[0] != "r")):
                break
        else:
            return value
    return _norm_mops_slow(value, op_index, allowed, read_values)


def _norm_mops_slow(value: object, op_index: int, allowed: frozenset[str], read_values: bool) -> list[MicroOp]:
    if not isinstance(value, (list, tuple)):
        raise MalformedHistory(f"op {op_index}: a txn value must be a list of micro-ops, not {value!r}")
    out: list[MicroOp] = value if isinstance(value, list) else list(value)
    for i, m in enumerate(out):
        if not isinstance(m, (list, tuple)) or len(m) not in (2, 3) or m[0] not in allowed:
            want = "/".join(sorted(allowed))
            hint = ""
            if isinstance(m, (list, tuple)) and m and m[0] in _OTHER_WORKLOAD:
                hint = f" (it looks like a {_OTHER_WORKLOAD[m[0]]} history: check the workload option)"
            raise MalformedHistory(f"op {op_index}: micro-op {m!r} is not [f, key, value] with f in {want}{hint}")
        if len(m) == 2:
            out = list(out) if out is value else out
            out[i] = (m[0], m[1], None)
            m = out[i]
        k = m[1]
        if isinstance(k, list):
            out = list(out) if out is value else out
            k = _freeze(k)
            out[i] = (m[0], k, m[2])
        if not read_values and m[0] == "r" and m[2] is not None:
            out = list(out) if out is value else out
            out[i] = (m[0], k, None)
    return out


def _freeze(v: object) -> object:
    return tuple(_freeze(x) for x in v) if isinstance(v, (list, tuple)) else v


def txns_of(history: History, allowed: frozenset[str]) -> Txns:
    """The transactions of `history` (client ops with f "txn"); `allowed` names the micro-op functions."""
    t = Txns()
    open_invoke: dict[Process, tuple[int, int, object]] = {}  # process -> (position, index, value)
    # bound methods: this loop runs once per op of histories of millions
    op_index, invoke_index, status = t.op_index.append, t.invoke_index.append, t.status.append
    process, mops, start, end = t.process.append, t.mops.append, t.start.append, t.end.append
    for pos, op in enumerate(history):
        if op.f != "txn" or not isinstance(op.process, int):
            continue
        typ = op.type
        if typ == "invoke":
            open_invoke[op.process] = (pos, op.index, op.value)
            continue
        inv = open_invoke.pop(op.process, None)
        st = OK if typ == "ok" else FAIL if typ == "fail" else INFO
        value = op.value
        if st != OK and (value is None) and inv is not None:
            value = inv[2]
        if value is None:
            value = []
        op_index(op.index)
        invoke_index(inv[1] if inv is not None else -1)
        status(st)
        process(op.process)
        mops(_norm_mops(value, op.index, allowed, st == OK))
        start(inv[0] if inv is not None else pos)
        end(pos if st != INFO else -1)
    for proc, (pos, index, value) in open_invoke.items():
        op_index(index)
        invoke_index(index)
        status(INFO)
        process(proc)
        mops(_norm_mops(value if value is not None else [], index, allowed, False))
        start(pos)
        end(-1)
    return t


def session_edges(txns: Txns, graph: Graph, *, process: bool, realtime: bool) -> None:
    """Add process-order edges (each process's successive transactions) and/or real-time edges (a completed
    before b began), skipping failed transactions, which did not happen. Real-time edges are a transitive
    reduction: each txn links from the frontier of latest completed txns when it begins (Elle's method)."""
    n = len(txns)
    status = txns.status
    if process:
        order = sorted((i for i in range(n) if status[i] != FAIL), key=txns.start.__getitem__)
        last: dict[Process, int] = {}
        src: list[int] = []
        dst: list[int] = []
        for i in order:
            p = txns.process[i]
            prev = last.get(p)
            if prev is not None:
                src.append(prev)
                dst.append(i)
            last[p] = i
        graph.add_edges(src, dst, PROCESS)
    if realtime:
        src, dst = _realtime_edges(txns)
        graph.add_edges(src, dst, REALTIME)


def _realtime_edges(txns: Txns) -> tuple[list[int], list[int]]:
    """Real-time edges (sources, targets): begins and ends of non-failed txns swept in history order (an event
    at position p sorts as 2p, or 2p + 1 for an end: positions are distinct, and a txn without an invocation
    begins and ends at the same position, begin first)."""
    status = np.frombuffer(txns.status, dtype=np.uint8)
    live = np.flatnonzero(status != FAIL)
    start = np.asarray(txns.start, dtype=np.int64)[live]
    end = np.asarray(txns.end, dtype=np.int64)[live]
    ended = end >= 0
    enc = np.concatenate((start * 2, end[ended] * 2 + 1))
    ids = np.concatenate((live, live[ended]))
    order = np.argsort(enc, kind="stable")
    kinds = (enc[order] & 1).tolist()
    txn_ids = ids[order].tolist()
    del enc, ids, order
    src: list[int] = []
    dst: list[int] = []
    frontier: set[int] = set()
    seen_at_begin: dict[int, tuple[int, ...]] = {}
    for kind, i in zip(kinds, txn_ids):
        if kind == 0:
            preds = tuple(frontier)
            src += preds
            dst += [i] * len(preds)
            seen_at_begin[i] = preds
        else:
            frontier.difference_update(seen_at_begin.pop(i, ()))
            frontier.add(i)
    return src, dst
