"""Uniqueness (cardinality) checker: at most `limit` owners hold a resource at a time (a seat booked once, a
lock held by one client, a semaphore's permits).

Owns `UniquenessChecker` and its plugin. Does not own lock or booking workloads or clients.

Op vocabulary:
    {f: "acquire", value: {"resource": r, "owner": o}}   also f "book" or "lock"; ok: o holds r from now on
    {f: "release", value: {"resource": r, "owner": o}}   also f "cancel" or "unlock"; o no longer holds r
A bare value (not a map) is the resource, and the owner is the op's process. A booking that is never
cancelled holds its resource to the end of the history.

An owner certainly holds a resource from the ok completion of its acquire until the invocation of its next
release of it (or the end of the history if it never releases, or if that release did not complete ok and is
not followed by another one: a fail release did not happen; an info one may have, so the hold certainly lasts
only until its invocation). If more than `limit` distinct owners certainly hold one resource at the same time
(in history order), that is split brain. Holds that expire on their own (leases) are out of scope: a lease
service passes this check only if it fences expired holders.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op
from harness.options import OptionSpec

from ._common import CheckerPlugin, Findings, freeze, max_findings_spec, parse_f_set, show, verdict

if TYPE_CHECKING:
    from harness.test import Test

ACQUIRE_FS = frozenset({"acquire", "book", "lock"})
RELEASE_FS = frozenset({"release", "cancel", "unlock"})
_END = 1 << 62


def _resource_owner(op: Op, inv: Op | None) -> tuple[Hashable, Hashable]:
    v = inv.value if inv is not None else op.value
    if isinstance(v, Mapping) and "resource" in v:
        return freeze(v["resource"]), freeze(v.get("owner", op.process))
    return freeze(v), op.process


@dataclass(frozen=True)
class UniquenessChecker:
    """At most `limit` distinct owners certainly hold any resource at one time."""

    limit: int = 1
    acquire_fs: frozenset[str] = ACQUIRE_FS
    release_fs: frozenset[str] = RELEASE_FS
    max_findings: int = 10
    name: str = "uniqueness"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        # hold = [start position, end position, owner, acquire ok index, release invoke index or -1]
        holds: dict[Hashable, list[list[object]]] = {}
        open_hold: dict[tuple[Hashable, Hashable], list[object]] = {}
        pending: dict[object, tuple[int, Op]] = {}
        acq, rel = self.acquire_fs, self.release_fs
        for pos, op in enumerate(history.ops):
            f = op.f
            if f not in acq and f not in rel:
                continue
            if op.type == "invoke":
                pending[op.process] = (pos, op)
                continue
            inv = pending.pop(op.process, None)
            res, owner = _resource_owner(op, inv[1] if inv else None)
            if f in acq:
                if op.type == "ok" and (res, owner) not in open_hold:
                    h = [pos, _END, owner, op.index, -1]
                    holds.setdefault(res, []).append(h)
                    open_hold[(res, owner)] = h
            elif op.type != "fail" and inv is not None:
                # ok or info: the hold is certain only until this release began
                held = open_hold.pop((res, owner), None)
                if held is not None:
                    held[1], held[4] = inv[0], inv[1].index
        findings = Findings(self.max_findings)
        hold_count = 0
        for res, hs in holds.items():
            hold_count += len(hs)
            self._sweep(res, hs, findings)
        details = {"resource_count": len(holds), "hold_count": hold_count, "limit": self.limit}
        return verdict(self.name, findings, details,
                       ok_summary=f"{len(holds)} resources never held by more than {self.limit} at once")

    def _sweep(self, res: Hashable, hs: list[list[object]], findings: Findings) -> None:
        events = sorted([(h[0], 1, i) for i, h in enumerate(hs)] + [(h[1], 0, i) for i, h in enumerate(hs)])
        active: dict[int, list[object]] = {}
        for _pos, kind, i in events:
            if kind == 0:
                active.pop(i, None)
                continue
            active[i] = hs[i]
            owners = {h[2] for h in active.values()}
            if len(owners) <= self.limit:
                continue
            newest = hs[i]
            others = [h for j, h in active.items() if j != i and h[2] != newest[2]]
            findings.note("split-brain", lambda newest=newest, others=others, owners=owners: Finding(
                kind="split-brain",
                failure_class=FailureClass.SPLIT_BRAIN,
                diagnosis=(f"split brain: {show(res)} held by {len(owners)} owners at once "
                           f"({', '.join(show(o) for o in sorted(owners, key=repr)[:5])}): owner "
                           f"{show(newest[2])} acquired it (op #{newest[3]}) while "
                           + ", ".join(f"owner {show(h[2])} still held it (acquired op #{h[3]}"
                                       + (f", released op #{h[4]} later)" if h[4] >= 0 else ", never released)")
                                       for h in others[:3])),
                ops=tuple(sorted({newest[3], *(h[3] for h in others[:5])})),
                scope=f"resource {show(res)}",
            ))


def _make(o: Mapping[str, Any]) -> UniquenessChecker:
    return UniquenessChecker(limit=o["limit"], acquire_fs=o["acquire"], release_fs=o["release"],
                             max_findings=o["max_findings"])


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise ValueError("must be at least 1")
    return n


PLUGIN = CheckerPlugin(
    name="uniqueness",
    option_specs=(
        OptionSpec(name="limit", default=1, help="how many owners may hold a resource at once", parse=_positive),
        OptionSpec(name="acquire", default=ACQUIRE_FS, help="comma-separated fs that take a resource",
                   parse=parse_f_set),
        OptionSpec(name="release", default=RELEASE_FS, help="comma-separated fs that give a resource back",
                   parse=parse_f_set),
        max_findings_spec(),
    ),
    build=_make,
    help="at most one (or limit) owner holds each resource at a time: seats, locks, leaders",
)
