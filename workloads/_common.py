"""Plumbing shared by the workloads of this package: per-test state, checker lookup, option checks, final reads.

Owns `PerTest` (state a workload's main and final generators share for one test, keyed weakly by the test's
RNG, which is unique to it), `registered_checker` (a checker from the `harness.checkers` registry: a name it
lacks is bad input while the test is built), `with_stats`, `at_least` and `final_read`. Does not own any
workload.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from harness import generator as g
from harness.checker import Checker, CheckerPlugin, compose
from harness.errors import BadInput, UnknownPlugin
from harness.plugins import Registry
from harness.test import Test

S = TypeVar("S")


class PerTest(Generic[S]):
    """State of one workload for one test: `get(test)` makes it with `make()` on first use."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._states: weakref.WeakKeyDictionary[object, S] = weakref.WeakKeyDictionary()

    def get(self, test: Test) -> S:
        state = self._states.get(test.rng)
        if state is None:
            state = self._states[test.rng] = self._make()
        return state


def registered_checker(test: Test, name: str, **opts: object) -> Checker:
    """The checker `name` of the `harness.checkers` registry, made with `opts` (the plugin's option names, values
    already parsed). A name no plugin has is UnknownPlugin (bad input, 254) while the test is built, before any
    node starts. A test built without a registry (unit tests of workloads) gets this distribution's one."""
    registry = test.registry if test.registry is not None else Registry()
    try:
        plugin: CheckerPlugin = registry.get("checkers", name)
    except UnknownPlugin as e:
        raise UnknownPlugin(f"workload {test.options.workload}: {e}") from None
    return plugin.make(opts)


def with_stats(test: Test, checker: Checker) -> Checker:
    """The workload's checker plus the stats checker (every f must succeed at least once)."""
    return compose(checker, registered_checker(test, "stats"))


def at_least(workload: str, opts: Any, minimum: int, *names: str) -> None:
    """BadInput unless every named integer option is at least `minimum`."""
    for n in names:
        if opts[n] < minimum:
            raise BadInput(f"workload {workload}: option {n} must be at least {minimum}, not {opts[n]}")


def final_read(f: str = "read", value: object = None, tries: int = 40, every: float = 0.5) -> Any:
    """One read at a time, `every` seconds apart, until one completes ok (at most `tries`, so a system still
    recovering after the heal, e.g. replaying its WAL after a kill, has tries * every seconds to serve):
    checkers judge the last ok read."""
    return g.concurrency_limit(1, g.until_ok(g.limit(tries, g.delay(every, g.repeat({"f": f, "value": value})))))
