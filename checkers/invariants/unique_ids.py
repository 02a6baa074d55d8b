"""Unique-ids checker: no id is handed out twice (Jepsen's `checker/unique-ids`).

Owns `UniqueIdsChecker` and its plugin. Does not own id-generating workloads or clients.

Op vocabulary (Jepsen's):
    {f: "generate", value: null}   invocation
    {f: "generate", value: id}     ok completion: the id the system handed out (any JSON value)

Only ok completions carry ids; failed and indefinite generations hand out nothing we can see. Two ok
completions with the same id are a duplicate (a second request was given an id already given).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History

from ._common import CheckerPlugin, Findings, FrozenChecker, freeze, keyed_spec, max_findings_spec, show, verdict
from .independent import IndependentChecker

if TYPE_CHECKING:
    from harness.test import Test


@dataclass(frozen=True)
class UniqueIdsChecker:
    """Every acknowledged id is distinct."""

    f: str = "generate"
    max_findings: int = 10
    name: str = "unique-ids"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        first: dict[Hashable, int] = {}
        dups: dict[Hashable, list[int]] = {}
        attempts = 0
        ints: list[int] = []
        for op in history.ops:
            if op.f != self.f:
                continue
            if op.type == "invoke":
                attempts += 1
                continue
            if op.type != "ok":
                continue
            v = freeze(op.value)
            prev = first.setdefault(v, op.index)
            if prev != op.index:
                dups.setdefault(v, [prev]).append(op.index)
            elif isinstance(v, int):
                ints.append(v)
        findings = Findings(self.max_findings)
        for v, idxs in dups.items():
            findings.note("duplicated", lambda v=v, idxs=idxs: Finding(
                kind="duplicated",
                failure_class=FailureClass.DUPLICATE_EFFECT,
                diagnosis=(f"duplicate effect: id {show(v)} was generated {len(idxs)} times "
                           f"(ops {', '.join('#' + str(i) for i in idxs[:6])})"),
                ops=tuple(idxs),
                scope=f"id {show(v)}",
            ))
        details = {
            "attempted_count": attempts,
            "acknowledged_count": len(first) + sum(len(i) - 1 for i in dups.values()),
            "duplicated_count": len(dups),
            "range": [min(ints), max(ints)] if ints else None,
        }
        return verdict(self.name, findings, details, ok_summary=f"{len(first)} distinct ids")


def _make(o: Mapping[str, Any]) -> FrozenChecker:
    c = UniqueIdsChecker(max_findings=o["max_findings"])
    return IndependentChecker(c) if o["keyed"] else c


PLUGIN = CheckerPlugin(
    name="unique-ids",
    option_specs=(keyed_spec(), max_findings_spec()),
    build=_make,
    help="no id generated twice (Jepsen's unique-ids)",
)
