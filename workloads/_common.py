"""Plumbing shared by the workloads of this package: per-test state, checker lookup, option checks, final reads.

Owns `PerTest` (state a workload's main and final generators share for one test, keyed weakly by the test's
RNG, which is unique to it), `load_checker` (a checker class from `checkers/`, or a stand-in that says "unknown"
when that checker is not installed: never a pass), `with_stats`, `at_least` and `final_read`. Does not own any
workload.
"""

from __future__ import annotations

import importlib
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

from harness import generator as g
from harness.checker import UNKNOWN, Checker, FailureClass, Finding, Verdict, compose
from harness.errors import BadInput
from harness.op import History
from harness.test import Test

S = TypeVar("S")


class PerTest(Generic[S]):
    """State of one workload for one test: `get(test)` makes it with `make()` on first use."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._states: weakref.WeakKeyDictionary[Any, S] = weakref.WeakKeyDictionary()

    def get(self, test: Test) -> S:
        state = self._states.get(test.rng)
        if state is None:
            state = self._states[test.rng] = self._make()
        return state


class MissingChecker:
    """Stands in for a checker module that is not installed: the verdict is unknown, naming what is missing."""

    def __init__(self, name: str, wanted: str) -> None:
        self.name = name
        self.wanted = wanted

    def check(self, test: Any, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        why = f"the {self.name} checker ({self.wanted}) is not installed, so this history was not judged"
        return Verdict(
            valid=UNKNOWN,
            checker=self.name,
            summary=why,
            findings=(Finding(kind="checker-missing", failure_class=FailureClass.INCOMPLETE, diagnosis=why),),
        )


def load_checker(name: str, candidates: Sequence[tuple[str, str]], **kwargs: Any) -> Checker:
    """The first importable (module, class) of `candidates`, built with kwargs; else a MissingChecker."""
    for module, cls in candidates:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        klass = getattr(mod, cls, None)
        if klass is not None:
            checker: Checker = klass(**kwargs)
            return checker
    return MissingChecker(name, " or ".join(f"{m}.{c}" for m, c in candidates))


def with_stats(checker: Checker) -> Checker:
    """The workload's checker plus the stats checker (every f must succeed at least once)."""
    stats = load_checker("stats", [("checkers.invariants.stats", "StatsChecker"), ("checkers.stats", "StatsChecker")])
    return cast(Checker, compose(checker, stats))


def at_least(workload: str, opts: Any, minimum: int, *names: str) -> None:
    """BadInput unless every named integer option is at least `minimum`."""
    for n in names:
        if opts[n] < minimum:
            raise BadInput(f"workload {workload}: option {n} must be at least {minimum}, not {opts[n]}")


def final_read(f: str = "read", value: Any = None, tries: int = 40, every: float = 0.5) -> Any:
    """One read at a time, `every` seconds apart, until one completes ok (at most `tries`, so a system still
    recovering after the heal, e.g. replaying its WAL after a kill, has tries * every seconds to serve):
    checkers judge the last ok read."""
    return g.concurrency_limit(1, g.until_ok(g.limit(tries, g.delay(every, g.repeat({"f": f, "value": value})))))
