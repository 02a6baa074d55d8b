"""A run's history as a report reads it: history.jsonl read fast, and what a page asks of it computed once.

Owns `read_history` (history.jsonl into a `ReportHistory`, several times faster than `History.from_jsonl` for
large runs, with exactly its result and errors) and `ReportHistory`, a `History` that keeps its pairs and its
client and nemesis sub-histories once computed: a page asks for them from the ops table, coverage, fault
intervals, evidence and the timeline, and on a million ops each recomputation cost seconds. A history is
immutable, so the kept answers never go stale. Does not own the history model, its pairing rule or its codec
(harness.op and harness.values), nor the tables built from it (harness.report.frames).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from harness.op import INVOKE, OP_TYPES, History, Op
from harness.values import decode_value


class ReportHistory(History):
    """A `History` that computes its pairs, `client_ops()` and `nemesis_ops()` once. Pairing is per process, so
    the pairs of a sub-history of whole processes are the whole history's pairs of those processes: the
    sub-histories get theirs from here instead of pairing again."""

    __slots__ = ("_pair_list", "_client", "_nemesis")

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        super().__init__(ops)
        self._pair_list: list[tuple[Op, Op | None]] | None = None
        self._client: ReportHistory | None = None
        self._nemesis: ReportHistory | None = None

    def _pair_all(self) -> list[tuple[Op, Op | None]]:
        if self._pair_list is None:
            self._pairs()  # fills it
        assert self._pair_list is not None
        return self._pair_list

    def _partner_positions(self) -> list[int]:
        """History's pairing computed with numpy (and the pairs kept): a stable sort by process puts each op right
        after the one before it on its process, and History's rule (a completion closes the open invocation of
        its process) pairs a completion with the op just before it there when that op is an invocation."""
        ops = self.ops
        n = len(ops)
        invoke = np.fromiter((op.type == INVOKE for op in ops), dtype=bool, count=n)
        process, _ = pd.factorize(np.fromiter((op.process for op in ops), dtype=object, count=n))
        order = np.argsort(process, kind="stable")
        inv, comp = order[:-1], order[1:]
        k = np.flatnonzero((process[inv] == process[comp]) & invoke[inv] & ~invoke[comp])
        partner = np.full(n, -1, dtype=np.int64)
        partner[inv[k]], partner[comp[k]] = comp[k], inv[k]
        at = np.flatnonzero(invoke)
        self._pair_list = list(zip([ops[i] for i in at.tolist()],
                                   [ops[j] if j >= 0 else None for j in partner[at].tolist()]))
        return partner.tolist()

    def pairs(self) -> Iterator[tuple[Op, Op | None]]:
        return iter(self._pair_all())

    def client_ops(self) -> ReportHistory:
        if self._client is None:
            self._client = self._part(True)
        return self._client

    def nemesis_ops(self) -> ReportHistory:
        if self._nemesis is None:
            self._nemesis = self._part(False)
        return self._nemesis

    def _part(self, client: bool) -> ReportHistory:
        part = ReportHistory(op for op in self.ops if isinstance(op.process, int) is client)
        part._pair_list = [pc for pc in self._pair_all() if isinstance(pc[0].process, int) is client]
        return part


def read_history(path: Path) -> ReportHistory:
    """history.jsonl, read with orjson and no per-field checks beyond the types; any line this fast path does
    not accept is left to `History.from_jsonl`, so the ops, the torn-last-line rule and the MalformedHistory
    messages are exactly harness.op's."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        return ReportHistory(History.from_jsonl(path))
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    ops: list[Op] = []
    last = len(lines) - 1
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            d = orjson.loads(line)
        except orjson.JSONDecodeError:
            if n == last:
                break  # torn final write of a killed harness (no newline after it)
            return ReportHistory(History.from_jsonl(path))
        if not isinstance(d, dict):
            return ReportHistory(History.from_jsonl(path))
        t, p, f = d.get("type"), d.get("process"), d.get("f")
        index, time_ns = d.get("index", n), d.get("time_ns", 0)
        if (t not in OP_TYPES or type(p) not in (int, str) or type(f) is not str or type(index) is not int
                or type(time_ns) is not int):
            return ReportHistory(History.from_jsonl(path))
        v, e = d.get("value"), d.get("error")
        ops.append(Op(index=index, time_ns=time_ns, type=t, process=p, f=f,  # type: ignore[arg-type]  # checked above
                      value=decode_value(v) if isinstance(v, (dict, list)) else v, node=d.get("node"),
                      error=decode_value(e) if isinstance(e, (dict, list)) else e))
    return ReportHistory(ops)
