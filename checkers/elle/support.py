"""What a minimized transaction history needs beside the anomaly's transactions: the writes they read.

Owns `writes_read`, which, for the transactions kept in a minimized sub-history, names the other transactions
whose writes those reads observed (list-append: every appended element a read shows; rw-register: the value a
read returned), so a person reading the reproduction sees where each value came from. Does not own the
minimization itself (`harness.minimize`, which adds these back only if the history still fails the same way)
nor any analysis.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from harness.op import INVOKE, History

_APPEND, _WRITE, _READ = "append", "w", "r"


def _writes(history: History) -> dict[tuple[Hashable, Hashable], int]:
    """(key, value) written -> position of an op that wrote it (the completion, which comes later and so wins,
    where it carries the value; else the invocation). Failed writes count too: an aborted read (G1a) reads one.
    The minimizer keeps an invocation with its completion, so either position brings the whole op back."""
    out: dict[tuple[Hashable, Hashable], int] = {}
    for pos, op in enumerate(history):
        if op.f != "txn" or not isinstance(op.value, (list, tuple)):
            continue
        for m in op.value:
            if isinstance(m, (list, tuple)) and len(m) == 3 and m[0] in (_APPEND, _WRITE):
                out[(_h(m[1]), _h(m[2]))] = pos
    return out


def _h(v: object) -> Hashable:
    try:
        hash(v)
        return v
    except TypeError:
        return repr(v)


def writes_read(history: History, kept: Sequence[int]) -> set[int]:
    """Positions in `history` of the ops whose writes the reads of the ops at positions `kept` observed."""
    writes = _writes(history)
    need: set[int] = set()
    for pos in kept:
        op = history[pos]
        if op.type == INVOKE or op.f != "txn" or not isinstance(op.value, (list, tuple)):
            continue
        for m in op.value:
            if not (isinstance(m, (list, tuple)) and len(m) == 3 and m[0] == _READ and m[2] is not None):
                continue
            seen = m[2] if isinstance(m[2], (list, tuple)) else [m[2]]
            for v in seen:
                w = writes.get((_h(m[1]), _h(v)))
                if w is not None and w != pos:
                    need.add(w)
    return need
