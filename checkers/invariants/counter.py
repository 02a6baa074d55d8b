"""Counter checker: every read lies between the bounds its concurrent increments allow (Jepsen's
`checker/counter`, extended to negative deltas).

Owns `CounterChecker` and its plugin. Does not own counter workloads or clients.

Op vocabulary (Jepsen's):
    {f: "add",  value: delta}      delta: an int (or float); negative deltas are decrements
    {f: "read", value: count}      the ok completion carries the counter's value

A read could have taken effect at any instant between its invocation and completion. Its lower bound is the
initial value plus every positive add acknowledged before the read began plus every negative add attempted
(invoked and not failed) before the read completed; its upper bound symmetrically (attempted positive adds,
acknowledged negative ones). A read below its lower bound lost acknowledged increments; a read above its upper
bound saw increments nobody made. A failed add is subtracted from the attempts when its failure is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.checker import FailureClass, Finding, Verdict
from harness.op import History, Op, Process
from harness.options import OptionSpec

from ._common import CheckerPlugin, Findings, FrozenChecker, bad_value, keyed_spec, max_findings_spec, verdict
from .independent import IndependentChecker

if TYPE_CHECKING:
    from harness.test import Test


def _number(op: Op, v: object, what: str) -> int | float:
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v
    raise bad_value(op, what)


@dataclass(frozen=True)
class CounterChecker:
    """Reads of a counter within the bounds of acknowledged and attempted adds."""

    initial: int = 0
    add_f: str = "add"
    read_f: str = "read"
    max_findings: int = 10
    name: str = "counter"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        add_f, read_f = self.add_f, self.read_f
        ok_pos: int | float = 0
        ok_neg: int | float = 0
        att_pos: int | float = 0
        att_neg: int | float = 0
        # sums of acknowledged / attempted positive and negative adds
        pending_add: dict[Process, int | float] = {}
        pending_read: dict[Process, tuple[int | float, int | float, int]] = {}  # process -> (ok_pos, ok_neg, index)
        findings = Findings(self.max_findings)
        reads = 0
        errors = 0
        first_error: int | None = None
        worst: tuple[float, int] | None = None
        for op in history.ops:
            f = op.f
            t = op.type
            if f == add_f:
                if t == "invoke":
                    d = _number(op, op.value, "an add needs a numeric delta")
                    pending_add[op.process] = d
                    if d >= 0:
                        att_pos += d
                    else:
                        att_neg += d
                else:
                    d2 = pending_add.pop(op.process, None)
                    if d2 is None:
                        continue  # completion without invocation: nothing was attempted that we saw
                    if t == "ok":
                        if d2 >= 0:
                            ok_pos += d2
                        else:
                            ok_neg += d2
                    elif t == "fail":
                        if d2 >= 0:
                            att_pos -= d2
                        else:
                            att_neg -= d2
            elif f == read_f:
                if t == "invoke":
                    pending_read[op.process] = (ok_pos, ok_neg, op.index)
                    continue
                started = pending_read.pop(op.process, None)
                if t != "ok" or started is None:
                    continue
                v = _number(op, op.value, "a counter read needs a numeric value")
                reads += 1
                lower = self.initial + started[0] + att_neg
                upper = self.initial + att_pos + started[1]
                if lower <= v <= upper:
                    continue
                errors += 1
                if first_error is None:
                    first_error = op.index
                off = float(lower - v if v < lower else v - upper)
                if worst is None or off > worst[0]:
                    worst = (off, op.index)
                kind = "read-too-low" if v < lower else "read-too-high"
                findings.note(kind, lambda v=v, lower=lower, upper=upper, op=op, inv=started[2]: _out_of_bounds(
                    v, lower, upper, op, inv))
        details = {
            "read_count": reads,
            "error_count": errors,
            "first_error": first_error,
            "worst_error": None if worst is None else {"op": worst[1], "off_by": worst[0]},
            "acknowledged_sum": ok_pos + ok_neg,
            "attempted_sum": att_pos + att_neg,
        }
        return verdict(self.name, findings, details, ok_summary=f"all {reads} reads within bounds")


def _out_of_bounds(v: float, lower: float, upper: float, op: Op, inv: int) -> Finding:
    """The finding for a read of `v` (completion `op`, invocation index `inv`) outside [lower, upper]."""
    return Finding(
        kind="read-too-low" if v < lower else "read-too-high",
        failure_class=FailureClass.LOST_WRITE if v < lower else FailureClass.UNEXPECTED_VALUE,
        diagnosis=(
            f"lost acknowledged write: counter read {v} (op #{op.index}) but adds acknowledged before "
            f"the read began put it at least at {lower}"
            if v < lower else
            f"unexpected value: counter read {v} (op #{op.index}) but all adds attempted by then "
            f"sum to at most {upper}"
        ),
        ops=(inv, op.index),
        explanation=(f"the read could have taken effect anywhere between op #{inv} and op #{op.index}",
                     f"in that window the counter could only be between {lower} and {upper}"),
    )


def _make(o: Mapping[str, Any]) -> FrozenChecker:
    c = CounterChecker(initial=o["initial"], max_findings=o["max_findings"])
    return IndependentChecker(c) if o["keyed"] else c


PLUGIN = CheckerPlugin(
    name="counter",
    option_specs=(
        OptionSpec(name="initial", default=0, help="the counter's value before the test", parse=int),
        keyed_spec(),
        max_findings_spec(),
    ),
    build=_make,
    help="reads of a counter within the bounds of acknowledged and attempted adds (Jepsen's counter)",
)
