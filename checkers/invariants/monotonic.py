"""Monotonic checker: a value, version, revision or offset that must never go backwards, per key.

Owns `MonotonicChecker` and its plugin. Does not own workloads or clients.

Op vocabulary:
    {f: "read",  value: [key, version]}   ok completion: the version read (the invocation may carry [key, null])
    {f: "write", value: [key, version]}   ok completion: the version the write installed
A bare version (not a pair) means a single key. Versions must be mutually comparable (ints, floats or
strings). The workload promises that each write installs a version above every earlier one of its key
(revisions, counters, offsets), so an observation can never legitimately be older than one before it.

Two orders are checked (`mode`):
    process   within one process (a client session), successive observations of a key never decrease:
              monotonic reads, and with writes also read-your-writes and monotonic writes.
    realtime  across processes: an observation that began after another one completed (in history order)
              is never older than it.
    both      (default) both of the above.
Only ok ops are observations; fail and info ops are not (an info write may apply at any time, which cannot
lower a version). With `writes=false` only reads are observations.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op
from harness.options import OptionSpec

from ._common import CheckerPlugin, Findings, bad_value, bool_spec, freeze, max_findings_spec, show, verdict

if TYPE_CHECKING:
    from harness.test import Test

_NO_KEY = None


def _key_version(op: Op) -> tuple[Hashable, Any]:
    v = op.value
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise bad_value(op, "a monotonic op's value must be [key, version] or a version")
        return freeze(v[0]), v[1]
    return _NO_KEY, v


def _where(key: Hashable) -> str:
    return "" if key is _NO_KEY else f"key {show(key)} "


@dataclass
class _Floor:
    """The highest version of one key over observations completed so far, as a step function of position."""

    positions: list[int]
    versions: list[Any]
    ops: list[int]

    def at(self, pos: int) -> tuple[object, int] | None:
        """The highest version of observations completed before `pos`, and the op that showed it."""
        i = bisect.bisect_left(self.positions, pos) - 1
        return (self.versions[i], self.ops[i]) if i >= 0 else None

    def raise_to(self, pos: int, version: object, op_index: int) -> None:
        if not self.versions or version > self.versions[-1]:
            self.positions.append(pos)
            self.versions.append(version)
            self.ops.append(op_index)


@dataclass(frozen=True)
class MonotonicChecker:
    """Versions per key never go backwards, per process and/or in real-time order."""

    mode: str = "both"
    writes: bool = True
    read_f: str = "read"
    write_f: str = "write"
    max_findings: int = 10
    name: str = "monotonic"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        per_process = self.mode in ("process", "both")
        realtime = self.mode in ("realtime", "both")
        fs = {self.read_f} | ({self.write_f} if self.writes else set())
        floors: dict[Hashable, _Floor] = {}
        last_seen: dict[tuple[object, Hashable], tuple[object, int]] = {}  # (process, key) -> (version, op index)
        invoked_at: dict[object, tuple[int, int]] = {}  # process -> (position, index) of its pending invocation
        findings = Findings(self.max_findings)
        observations = 0
        keys: set[Hashable] = set()
        for pos, op in enumerate(history.ops):
            if op.f not in fs:
                continue
            if op.type == "invoke":
                invoked_at[op.process] = (pos, op.index)
                continue
            inv = invoked_at.pop(op.process, None)
            if op.type != "ok":
                continue
            key, version = _key_version(op)
            if version is None:
                continue  # read of a key that does not exist yet: nothing to order
            observations += 1
            keys.add(key)
            what = "read" if op.f == self.read_f else "wrote"
            try:
                if per_process:
                    prev = last_seen.get((op.process, key))
                    if prev is not None and version < prev[0]:
                        findings.note("nonmonotonic-process", lambda op=op, key=key, version=version, prev=prev,
                                      what=what: Finding(
                            kind="nonmonotonic-process",
                            failure_class=FailureClass.STALE_READ,
                            diagnosis=(f"read went backwards: process {op.process} {what} {_where(key)}version "
                                       f"{show(version)} (op #{op.index}) after version {show(prev[0])} "
                                       f"(op #{prev[1]})"),
                            ops=(prev[1], op.index),
                            scope=f"process {op.process}, {_where(key) or 'the key '}".strip(", "),
                        ))
                    if prev is None or version > prev[0]:
                        last_seen[(op.process, key)] = (version, op.index)
                if realtime:
                    floor = floors.get(key)
                    if floor is None:
                        floor = floors[key] = _Floor([], [], [])
                    if inv is not None:
                        before = floor.at(inv[0])
                        if before is not None and version < before[0]:
                            findings.note("nonmonotonic-realtime", lambda op=op, key=key, version=version,
                                          before=before, what=what, inv=inv: Finding(
                                kind="nonmonotonic-realtime",
                                failure_class=FailureClass.STALE_READ,
                                diagnosis=(f"read went backwards: {_where(key)}{what} version {show(version)} "
                                           f"(op #{op.index}) after version {show(before[0])} (op #{before[1]}), "
                                           f"which completed before op #{inv[1]} began"),
                                ops=(before[1], inv[1], op.index),
                                scope=_where(key).strip() or "the key",
                            ))
                    floor.raise_to(pos, version, op.index)
            except TypeError:
                raise bad_value(op, "versions of a key must be comparable with each other") from None
        details = {"observation_count": observations, "key_count": len(keys), "mode": self.mode}
        return verdict(self.name, findings, details,
                       ok_summary=f"{observations} observations of {len(keys)} keys never went backwards")


def _make(o: Mapping[str, Any]) -> MonotonicChecker:
    return MonotonicChecker(mode=o["mode"], writes=o["writes"], max_findings=o["max_findings"])


PLUGIN = CheckerPlugin(
    name="monotonic",
    option_specs=(
        OptionSpec(name="mode", default="both", help="order to check: per process, in real time, or both",
                   choices=("process", "realtime", "both")),
        bool_spec("writes", True, "ok writes count as observations (read-your-writes, monotonic writes)"),
        max_findings_spec(),
    ),
    build=_make,
    help="versions per key never go backwards, per process and in real-time order",
)
