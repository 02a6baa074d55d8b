"""The `combined` nemesis: several fault families as one package, one fault at a time in a random rotation
(start a randomly chosen family's fault, wait the interval, heal it, wait, choose again), like Jepsen's
combined nemesis package.

Option `combined-faults=partition,kill,...` names the families; by default every family from DEFAULT_FAULTS
whose abilities this system and cluster have (a default family that would be refused is left out, and the
label says which are in; a family named explicitly that would be refused stops the build with its reason).
With `schedule=FILE` the scenario's ops run instead, routed to the families that handle them.

(Naming several families directly, `--nemesis partition,kill`, instead runs each family's own schedule side by
side, each starting at its own seeded offset, so their faults may overlap.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from harness.errors import BadInput
from harness.generator import PENDING, Context, Gen, OpResult
from harness.generator.core import new_invoke, seconds_to_ns
from harness.nemesis import ComposedNemesis, Package
from harness.options import OptionSpec
from nemeses import clock, disk, membership, packet, partition, process, swizzle
from nemeses.schedule import Periodic, Step, family_generator, fault_plan

if TYPE_CHECKING:
    from harness.test import Test

FAMILIES: dict[str, Any] = {
    "partition": partition.PLUGIN, "kill": process.KILL, "pause": process.PAUSE, "clock": clock.PLUGIN,
    "packet": packet.PLUGIN, "swizzle-clog": swizzle.PLUGIN, "disk": disk.PLUGIN, "membership": membership.PLUGIN,
}
DEFAULT_FAULTS = ("partition", "kill", "pause", "clock", "packet", "swizzle-clog")


class Rotation(Gen):
    """One fault at a time: a random pair's start (drawn with test.rng), `interval` later its stop (if it has
    one), `interval` later the next random start, until `end_ns` (no start whose stop would come after it).
    Ops carry their due time ("not before"). Immutable."""

    __slots__ = ("current", "end_ns", "interval_ns", "next_ns", "offset_ns", "pairs")

    def __init__(self, pairs: tuple[tuple[Step, Step | None], ...], interval_ns: int, offset_ns: int,
                 current: int | None = None, next_ns: int | None = None, end_ns: int | None = None) -> None:
        self.pairs = pairs
        self.interval_ns = interval_ns
        self.offset_ns = offset_ns
        self.current = current  # index of the pair whose stop comes next, or None: a start comes next
        self.next_ns = next_ns
        self.end_ns = end_ns

    def op(self, test: Test, ctx: Context) -> OpResult:
        due = self.next_ns if self.next_ns is not None else self.offset_ns  # absolute: see schedule.Periodic
        if self.current is None and self.end_ns is not None and due + self.interval_ns > self.end_ns:
            return None  # a fault started now could not be healed before the quiet end of the main phase
        p = ctx.some_free_process()
        if p is None:
            return PENDING, self
        t = max(due, ctx.time_ns)
        nxt_due = due + self.interval_ns
        step: Step | None
        current: int | None
        if self.current is None:
            i = test.rng.randrange(len(self.pairs))
            step, current = self.pairs[i][0], (i if self.pairs[i][1] is not None else None)
        else:
            step, current = self.pairs[self.current][1], None
        assert step is not None  # `current` is set only for a pair that has a second step
        o = step(test) if callable(step) else step
        return new_invoke(p, t, str(o["f"]), o.get("value"), None), Rotation(
            self.pairs, self.interval_ns, self.offset_ns, current, nxt_due, self.end_ns)

    def __repr__(self) -> str:
        return f"Rotation({len(self.pairs)} faults, every {self.interval_ns / 1e9:g}s)"


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError("name at least one fault family")
    for n in names:
        if n not in FAMILIES:
            raise ValueError(f"unknown fault family {n!r} (one of {', '.join(FAMILIES)})")
    return names


def _all_specs() -> list[OptionSpec]:
    specs: dict[str, OptionSpec] = {}
    for plugin in FAMILIES.values():
        for s in plugin.option_specs:
            specs.setdefault(s.name, s)
    return list(specs.values())


class CombinedPlugin:
    """The `harness.nemeses` plugin `combined`."""

    name = "combined"
    fs = frozenset().union(*(p.fs for p in FAMILIES.values()))  # the ops of every family it may rotate through
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="combined-faults", default=(), parse=_names,
                   help="fault families to rotate through (default: " + ", ".join(DEFAULT_FAULTS) + " where possible)"),
        *_all_specs(),
    )

    def package(self, test: Test) -> Package:
        named: tuple[str, ...] = tuple(test.nemesis_opts.get("combined-faults") or ())
        overlap = [n for n in (named or DEFAULT_FAULTS) if n in test.options.nemeses]
        if overlap:
            raise BadInput(f"nemesis combined already includes {', '.join(overlap)}; do not name it twice")
        packages: list[Package] = []
        for name in named or DEFAULT_FAULTS:
            try:
                packages.append(FAMILIES[name].package(test))
            except BadInput:
                if named:
                    raise
        if not packages:
            raise BadInput(f"nemesis combined: none of {', '.join(DEFAULT_FAULTS)} can run against "
                           f"{test.options.system} on {test.options.cluster}")
        pairs: list[tuple[Step, Step | None]] = []
        for p in packages:
            g = p.generator
            if isinstance(g, Periodic):
                pairs.append((g.steps[0], g.steps[1] if len(g.steps) > 1 else None))
        plan = fault_plan(test)
        rotation = Rotation(tuple(pairs), seconds_to_ns(plan.interval_s, "nemesis interval"),
                            seconds_to_ns(plan.warm_up_s(test), "offset"),
                            end_ns=seconds_to_ns(plan.end_s, "end")) if pairs else None
        fs = frozenset().union(*(p.nemesis.fs for p in packages))
        gen = family_generator(test, "combined", fs, rotation)
        finals = [p.final_generator for p in packages if p.final_generator is not None]
        return Package(
            name="combined", nemesis=ComposedNemesis([p.nemesis for p in packages]), generator=gen,
            final_generator=finals or None, label="combined(" + "+".join(p.name for p in packages) + ")",
            start_fs=frozenset().union(*(p.start_fs for p in packages)),
            stop_fs=frozenset().union(*(p.stop_fs for p in packages)),
        )


PLUGIN = CombinedPlugin()
