"""Schedules of nemesis ops: when faults start and stop.

Owns `fault_plan` (how long faults last and when the last one must be healed, scaled to the time limit),
`Periodic` (a fault family's default schedule: start, then stop, `interval` seconds apart, the first op after a
seeded warm-up so that several families named together interleave instead of firing at once, and no fault
started that would not be healed before the quiet end of the main phase),
`Scripted` (ops at fixed times since the schedule started), the hand-written scenario form (the nemesis option
`schedule=FILE`, a JSON or YAML list of `{at: seconds, f: ..., value: ...}`) and `family_generator`, which picks
the scripted ops of one family when a scenario is given and its default schedule otherwise, and refuses a
scenario entry that none of the selected nemeses would perform (each plugin names its ops as `fs`).

Ops are emitted with a time in the future ("not before", as the generator contract allows) rather than with
`sleep`, so waiting never occupies the single nemesis thread and schedules of several families run side by
side under `generator.any`. Does not perform any op.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from harness.errors import BadInput
from harness.generator import PENDING, Context, Gen, OpResult
from harness.generator.core import Event, GenLike, new_invoke, seconds_to_ns
from harness.op import INVOKE, Op
from harness.options import OptionSpec
from harness.pacing import fault_interval
from harness.plugins import Registry

if TYPE_CHECKING:
    from harness.test import Test

# An op of a schedule: a fixed template, or a function of the test drawing its value from test.rng.
StepMaker = Callable[["Test"], Mapping[str, object]]
Step = Mapping[str, object] | StepMaker

def _step_op(step: Step, test: Test) -> Mapping[str, object]:
    return step(test) if callable(step) else step


@dataclass(frozen=True, kw_only=True)
class FaultPlan:
    """When faults happen in the main phase: each lasts `interval_s` with `interval_s` of calm between two;
    the first starts after a warm-up in [interval/2, interval); none is started unless it is healed by `end_s`,
    so the last `interval_s` of the main phase is quiet (the system recovers and recovery is measured) before
    the final heal and reads."""

    interval_s: float
    end_s: float

    def warm_up_s(self, test: Test) -> float:
        """A seeded warm-up for one fault family (draws from the generators' RNG), early enough for one fault."""
        drawn = self.interval_s * (0.5 + 0.5 * test.rng.random())
        return max(0.0, min(drawn, self.end_s - self.interval_s))


def fault_plan(test: Test) -> FaultPlan:
    """The plan for this test: `--nemesis-interval` if given, else the time limit / 6 (at most 10 s), so that a
    30 s run gets two full 5 s faults and a 60 s run two 10 s faults, each followed by calm. BadInput when the
    interval given leaves no room for one fault (a warm-up of half an interval, the fault, an interval of quiet
    after it: at most 0.4 x the time limit)."""
    limit = float(test.time_limit)
    chosen = test.options.nemesis_interval
    interval = fault_interval(limit, chosen)
    if chosen is not None:
        if not interval > 0:
            raise BadInput(f"--nemesis-interval must be positive, not {chosen}")
        if 2.5 * interval > limit:
            raise BadInput(
                f"--nemesis-interval {interval:g} is too long for --time-limit {limit:g}: a fault needs half an "
                f"interval of warm-up before it and an interval of quiet after it (at most {0.4 * limit:g} s)"
            )
    return FaultPlan(interval_s=interval, end_s=limit - interval)


class Periodic(Gen):
    """Emits `steps` in turn: the first at `offset_ns` after the test started (context time 0: the start of the
    main phase), each next one `interval_ns` after the previous one was due, and never sooner than `interval_ns`
    after the op that began the cycle completed: a fault whose start took seconds (a partition of nine ssh hosts,
    a power cut) is still in place for a whole interval, as after Jepsen's `sleep`. A cycle is begun only if all
    of it is due by `end_ns` (None: forever) and, counted from when it would really begin (the nemesis may be
    busy past the due time), ends at most half an interval later: a fault is started only if its stop comes
    before the quiet end of the main phase, or early in it; the rest of a begun cycle is always emitted (a
    fault is always healed). Due times are absolute, not relative to the first time the generator is asked: the
    interpreter asks again and again while it waits for an op due later and drops the next state each time, so
    a relative anchor would recede for ever. Immutable."""

    __slots__ = ("awaiting", "end_ns", "interval_ns", "k", "next_ns", "offset_ns", "steps")

    def __init__(self, steps: tuple[Step, ...], interval_ns: int, offset_ns: int, k: int = 0,
                 next_ns: int | None = None, end_ns: int | None = None, awaiting: str | None = None) -> None:
        self.steps = steps
        self.interval_ns = interval_ns
        self.offset_ns = offset_ns
        self.k = k
        self.next_ns = next_ns
        self.end_ns = end_ns
        self.awaiting = awaiting  # the f of the cycle's first op while its completion is awaited

    def _with(self, *, k: int, next_ns: int | None, awaiting: str | None) -> Periodic:
        return Periodic(self.steps, self.interval_ns, self.offset_ns, k, next_ns, self.end_ns, awaiting)

    def op(self, test: Test, ctx: Context) -> OpResult:
        due = self.next_ns if self.next_ns is not None else self.offset_ns
        rest = (len(self.steps) - 1) * self.interval_ns
        # A cycle due in time may begin late by up to half an interval (half the quiet end is then left); asked
        # again and again, the interpreter's clock passes the due time by a hair before it dispatches the op.
        if self.k == 0 and self.end_ns is not None and (
                due + rest > self.end_ns or ctx.time_ns + rest > self.end_ns + self.interval_ns // 2):
            return None
        if self.awaiting is not None:
            return PENDING, self  # the cycle's first op has not completed: the next is due from its completion
        p = ctx.some_free_process()
        if p is None:
            return PENDING, self
        t = max(due, ctx.time_ns)
        o = _step_op(self.steps[self.k], test)
        k = (self.k + 1) % len(self.steps)
        awaiting = str(o["f"]) if self.k == 0 and len(self.steps) > 1 else None
        return new_invoke(p, t, str(o["f"]), o.get("value"), None), self._with(
            k=k, next_ns=due + self.interval_ns, awaiting=awaiting)

    def update(self, test: Test, ctx: Context, event: Event) -> GenLike:
        if self.awaiting is None or not isinstance(event, Op) or event.type == INVOKE or event.f != self.awaiting \
                or isinstance(event.process, int):
            return self
        due = max(self.next_ns or 0, event.time_ns + self.interval_ns)
        return self._with(k=self.k, next_ns=due, awaiting=None)

    def __repr__(self) -> str:
        return f"Periodic({len(self.steps)} steps, every {self.interval_ns / 1e9:g}s)"


def periodic(steps: Sequence[Step], interval: float, offset: float, end: float | None = None) -> Periodic:
    """Steps `interval` seconds apart, the first `offset` seconds after the schedule starts; whole cycles only,
    the last step of each due by `end` seconds (None: forever)."""
    if not steps:
        raise ValueError("a periodic schedule needs at least one step")
    if interval <= 0:
        raise BadInput(f"the nemesis interval must be positive, not {interval}")
    return Periodic(tuple(steps), seconds_to_ns(interval, "nemesis interval"), seconds_to_ns(offset, "offset"),
                    end_ns=None if end is None else seconds_to_ns(max(0.0, end), "end"))


def default_schedule(test: Test, start: Step, stop: Step) -> Periodic:
    """Jepsen's `cycle([sleep(i), start, sleep(i), stop])` fitted to the time limit (`fault_plan`): a seeded
    warm-up in [i/2, i) before the first start, so that families named together do not all fire at the same
    instant, and only faults that are healed before the quiet end of the main phase."""
    plan = fault_plan(test)
    return periodic([start, stop], plan.interval_s, plan.warm_up_s(test), plan.end_s)


# --------------------------------------------------------------------------------------------- scripted
@dataclass(frozen=True, kw_only=True)
class ScheduleEntry:
    """One hand-written nemesis op: `f` with `value` at `at` seconds after the test started."""

    at: float
    f: str
    value: object = None


class Scripted(Gen):
    """Emits `entries` (sorted by time) at their times since the test started (context time 0), or at once
    when that time has passed."""

    __slots__ = ("entries", "i")

    def __init__(self, entries: tuple[ScheduleEntry, ...], i: int = 0) -> None:
        self.entries = entries
        self.i = i

    def op(self, test: Test, ctx: Context) -> OpResult:
        if self.i >= len(self.entries):
            return None
        p = ctx.some_free_process()
        if p is None:
            return PENDING, self
        e = self.entries[self.i]
        t = max(ctx.time_ns, seconds_to_ns(e.at, "schedule at"))
        nxt = Scripted(self.entries, self.i + 1) if self.i + 1 < len(self.entries) else None
        return new_invoke(p, t, e.f, e.value, None), nxt

    def __repr__(self) -> str:
        return f"Scripted({len(self.entries) - self.i} ops left)"


def load_schedule(path: str) -> tuple[ScheduleEntry, ...]:
    """Entries of a scenario file (JSON or YAML: a list of {at, f, value}); ValueError with a clear reason."""
    if not os.path.isfile(path):
        raise ValueError(f"no such file: {path}")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ValueError(f"{path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {e}") from None
    if not isinstance(data, list) or not data:
        raise ValueError(f"{path} must hold a non-empty list of {{at, f, value}} entries")
    entries = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, dict) or set(item) - {"at", "f", "value"} or "at" not in item or "f" not in item:
            raise ValueError(f"{path} entry {i}: expected {{at: seconds, f: name, value: ...}}, got {item!r}")
        at, f = item["at"], item["f"]
        if isinstance(at, bool) or not isinstance(at, (int, float)) or at < 0:
            raise ValueError(f"{path} entry {i}: at must be a number of seconds >= 0, not {at!r}")
        if not isinstance(f, str) or not f:
            raise ValueError(f"{path} entry {i}: f must be an op name, not {f!r}")
        entries.append(ScheduleEntry(at=float(at), f=f, value=item.get("value")))
    return tuple(sorted(entries, key=lambda e: e.at))


def _parse_schedule(text: str) -> tuple[ScheduleEntry, ...]:
    return load_schedule(text)


SCHEDULE_SPEC = OptionSpec(
    name="schedule", default=(), parse=_parse_schedule,
    help="a JSON/YAML file with a list of {at: seconds, f, value}: run exactly these nemesis ops instead of the "
    "default schedules",
)


def family_generator(test: Test, family: str, fs: frozenset[str], default: object) -> object:
    """The schedule of one family: its entries of the `schedule=FILE` scenario if one is given, else `default`.
    Raises BadInput for a scenario entry that no selected built-in family handles."""
    entries: tuple[ScheduleEntry, ...] = tuple(test.nemesis_opts.get("schedule") or ())
    if not entries:
        return default
    selected = list(test.options.nemeses)
    registry = test.registry if test.registry is not None else Registry()  # a bare test: this distribution's
    named: list[frozenset[str] | None] = [getattr(registry.get("nemeses", n), "fs", None) for n in selected]
    if all(fs is not None for fs in named):  # a plugin that does not name its ops: nothing to judge by
        handled = frozenset().union(*(fs for fs in named if fs is not None))
        stray = sorted({e.f for e in entries} - handled)
        if stray:
            raise BadInput(
                f"nemesis schedule: no selected nemesis handles {', '.join(stray)} "
                f"(selected: {', '.join(selected)}; they handle: {', '.join(sorted(handled))})"
            )
    mine = tuple(e for e in entries if e.f in fs)
    return Scripted(mine) if mine else None
