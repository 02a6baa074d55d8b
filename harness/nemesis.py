"""The `Nemesis` protocol and the fault `Package` a nemesis plugin provides.

Owns the interfaces and `NoopNemesis`; fault families live in `nemeses/`. A package is what a fault travels as
(as in Jepsen's combined nemesis): the nemesis, its schedule (a generator of nemesis ops), the final generator
that heals, and a label for reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.op import Op
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.test import Test


@runtime_checkable
class Nemesis(Protocol):
    """Injects faults.

    `setup(test)` prepares (and records in the ledger what it will create); `invoke(test, op)` performs a
    nemesis op and returns its completion (type info, value saying what was actually done; a fault that could
    not be injected completes with `error` set, which makes the run's verdict unknown); `teardown(test)` heals
    every fault this nemesis may have left, is idempotent, and must work even after a crash of the run.
    `fs` names the ops it handles.
    """

    fs: frozenset[str]

    def setup(self, test: Test) -> None: ...

    def invoke(self, test: Test, op: Op) -> Op: ...

    def teardown(self, test: Test) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Package:
    """A fault family ready to run: nemesis, schedule (generator), final heal generator, report label.
    `start_fs`/`stop_fs` tell reports which ops open and close a fault interval."""

    name: str
    nemesis: Nemesis
    generator: object
    final_generator: object
    label: str
    start_fs: frozenset[str] = frozenset()
    stop_fs: frozenset[str] = frozenset()


class NemesisPlugin(Protocol):
    """Plugin in `harness.nemeses`: `package(test, opts)` builds the fault package for this test, checking the
    abilities it needs (raise MissingAbility before the run, naming it). A plugin may name the ops its nemesis
    handles as `fs` (a frozenset), so that a hand-written schedule naming an op no selected nemesis handles is
    refused before the run (`nemeses.schedule.family_generator`)."""

    name: str
    option_specs: Sequence[OptionSpec]

    def package(self, test: Test) -> Package: ...


@runtime_checkable
class ChecksResidue(Protocol):
    """Optional: after teardown, `residue(test)` inspects the nodes and returns what of this nemesis is still in
    place (rules, qdiscs, stopped processes, clock offsets), one line each; empty when everything is healed."""

    def residue(self, test: Test) -> list[str]: ...


class NoopNemesis:
    """A nemesis that does nothing: used when no fault is asked for."""

    fs: frozenset[str] = frozenset()

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Op) -> Op:
        return op.replace(type="info")

    def teardown(self, test: Test) -> None:
        pass


class ComposedNemesis:
    """Several nemeses as one: each op goes to the nemesis whose `fs` contains its f. Setup runs in order;
    teardown runs for all, in reverse, even when one fails (the first error is raised after all ran)."""

    def __init__(self, nemeses: Sequence[Nemesis]) -> None:
        self.nemeses = list(nemeses)
        self.fs = frozenset(f for n in self.nemeses for f in n.fs)
        self._by_f: dict[str, Nemesis] = {}
        for n in self.nemeses:
            for f in n.fs:
                if f in self._by_f:
                    raise ValueError(f"two nemeses handle op {f!r}")
                self._by_f[f] = n

    def setup(self, test: Test) -> None:
        for n in self.nemeses:
            n.setup(test)

    def invoke(self, test: Test, op: Op) -> Op:
        n = self._by_f.get(op.f)
        if n is None:
            return op.replace(type="info", error=f"no nemesis handles {op.f!r}")
        return n.invoke(test, op)

    def residue(self, test: Test) -> list[str]:
        return [r for n in self.nemeses if isinstance(n, ChecksResidue) for r in n.residue(test)]

    def teardown(self, test: Test) -> None:
        first: BaseException | None = None
        for n in reversed(self.nemeses):
            try:
                n.teardown(test)
            except Exception as e:  # noqa: BLE001 - heal every nemesis even if one fails
                first = first or e
        if first is not None:
            raise first
