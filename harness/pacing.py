"""Pacing: how long a fault lasts by default, and how long a client op may take before it is recorded info.

Owns `fault_interval` (the `--nemesis-interval` given, else the time limit / 6, at most 10 s) and `op_timeout`
(the `--op-timeout` given, else 5 s without faults, else derived from the fault interval), with `OpTimeout`
saying which rule chose it for the console, test.json and results.json. Does not validate the interval against
the time limit (`nemeses.schedule.fault_plan` does) nor enforce any deadline (`harness.interpreter` does).

Why the op timeout follows the interval: a fault that makes a CP system unavailable (a paused or killed majority,
a partition with no quorum) leaves every client waiting out its timeout, and a fault window is tested only when
`--min-fault-ops` client ops completed in it (`harness.coverage`). With 5 s ops and the 5 s faults of a 30 s run,
each client finished at most one op per window, five in all: the window was untested and the run unknown for a
reason that was the defaults' fault. A quarter of the interval gives each client about four attempts in every
window (5 clients: about 20 ops where 10 are needed), and the 1 s floor keeps healthy ops from timing out when a
short run makes the interval short (a leader election after a heal takes about a second on a loaded machine).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.options import RunOptions

MAX_DEFAULT_INTERVAL_S = 10.0
FAULT_SHARE = 6  # the default interval is the time limit / FAULT_SHARE (at most MAX_DEFAULT_INTERVAL_S)

DEFAULT_OP_TIMEOUT_S = 5.0  # without faults, and the ceiling of a derived op timeout
ATTEMPTS_PER_WINDOW = 4  # a derived op timeout is the fault interval / this ...
MIN_DERIVED_OP_TIMEOUT_S = 1.0  # ... but never shorter than this


def fault_interval(time_limit: float, chosen: float | None) -> float:
    """Seconds each fault lasts (and the calm between two): `chosen` (`--nemesis-interval`) if given, else the
    time limit / 6, at most 10 s, so that a 30 s run gets two 5 s faults and a 60 s run two 10 s faults."""
    if chosen is not None:
        return float(chosen)
    return min(MAX_DEFAULT_INTERVAL_S, float(time_limit) / FAULT_SHARE)


@dataclass(frozen=True, kw_only=True)
class OpTimeout:
    """The op timeout a run uses and why: `given` (--op-timeout), `default` (no faults) or `derived` (from the
    fault interval)."""

    seconds: float
    rule: str
    why: str

    def to_json(self) -> dict[str, object]:
        return {"seconds": self.seconds, "rule": self.rule, "why": self.why}


def op_timeout(options: RunOptions) -> OpTimeout:
    """The op timeout of a run with these options: the one given is always obeyed; without faults 5 s; with
    faults and none given, the fault interval / 4, within 1-5 s (see the module docstring)."""
    if options.op_timeout is not None:
        return OpTimeout(seconds=float(options.op_timeout), rule="given", why="--op-timeout")
    if not options.nemeses:
        return OpTimeout(seconds=DEFAULT_OP_TIMEOUT_S, rule="default", why="no faults: the default")
    interval = fault_interval(options.time_limit, options.nemesis_interval)
    seconds = min(DEFAULT_OP_TIMEOUT_S, max(MIN_DERIVED_OP_TIMEOUT_S, interval / ATTEMPTS_PER_WINDOW))
    return OpTimeout(seconds=seconds, rule="derived",
                     why=f"the {interval:g} s fault interval / {ATTEMPTS_PER_WINDOW}, within "
                         f"{MIN_DERIVED_OP_TIMEOUT_S:g}-{DEFAULT_OP_TIMEOUT_S:g} s, so that every client gets "
                         "several attempts in each fault window")
