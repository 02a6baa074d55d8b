"""Independent keys: run one checker per key of a history whose op values are [key, value] pairs (Jepsen's
`jepsen.independent/checker`).

Owns `IndependentChecker` and `split_by_key`. Does not own any judgement: the inner checker judges each key's
sub-history. A completion belongs to the key of its invocation (paired by process), so a failed op whose
completion carries no value still lands in the right key. Ops whose values are not pairs (nemesis ops, for
instance) are left out of every sub-history. Sub-histories keep the ops' original indices, so findings name
ops of the whole history.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.checker import UNKNOWN, Finding, Verdict, merge_validity, safe_check
from harness.op import History, Op

from ._common import ATOMS, FrozenChecker, freeze, incomplete, show

if TYPE_CHECKING:
    from harness.test import Test


def split_by_key(history: History) -> dict[Hashable, list[Op]]:
    """Ops per key, with values unwrapped from their [key, value] pairs, in history order."""
    out: dict[Hashable, list[Op]] = {}
    pending: dict[object, Hashable] = {}
    for op in history.ops:
        v = op.value
        if op.type == "invoke":
            if type(v) is not list and type(v) is not tuple or len(v) != 2:
                continue
            k = v[0]
            if type(k) not in ATOMS:
                k = freeze(k)
            pending[op.process] = k
            inner = v[1]
        else:
            k = pending.pop(op.process, None)
            if k is None:
                continue
            if (type(v) is list or type(v) is tuple) and len(v) == 2 and (v[0] == k or freeze(v[0]) == k):
                inner = v[1]
            else:
                inner = v
        sub = out.get(k)
        if sub is None:
            sub = out[k] = []
        sub.append(Op(index=op.index, time_ns=op.time_ns, type=op.type, process=op.process, f=op.f, value=inner,
                      node=op.node, error=op.error))
    return out


@dataclass(frozen=True)
class IndependentChecker:
    """`inner` run on every key's sub-history; the verdict merges theirs (false > unknown > true) and every
    finding's diagnosis is prefixed with its key."""

    inner: FrozenChecker
    max_keys_in_details: int = 100

    @property
    def name(self) -> str:
        return self.inner.name

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        per_key = split_by_key(history)
        if not per_key and any(op.is_client for op in history.ops):
            return Verdict(valid=UNKNOWN, checker=self.name, summary="no keyed ops",
                           findings=(incomplete("no-keys", "incomplete check: independent keys were asked for, but "
                                                "no client op value is a [key, value] pair"),))
        findings: list[Finding] = []
        bad_keys: dict[str, object] = {}
        valids = []
        for k in sorted(per_key, key=repr):
            v = safe_check(self.inner, test, History(per_key[k]), out_dir)
            valids.append(v.valid)
            if v.valid is True:
                continue
            if len(bad_keys) < self.max_keys_in_details:
                bad_keys[show(k)] = {"valid": v.valid, "summary": v.summary}
            for f in v.findings:
                findings.append(Finding(kind=f.kind, failure_class=f.failure_class,
                                        diagnosis=f"key {show(k)}: {f.diagnosis}", ops=f.ops,
                                        explanation=f.explanation, scope=f"key {show(k)}"))
        valid = merge_validity(*valids)
        n_bad = sum(1 for x in valids if x is not True)
        summary = f"all {len(per_key)} keys valid" if valid is True else f"{n_bad} of {len(per_key)} keys not valid"
        return Verdict(valid=valid, checker=self.name, summary=summary, findings=tuple(findings[:1000]),
                       details={"key_count": len(per_key), "bad_key_count": n_bad, "bad_keys": bad_keys})
