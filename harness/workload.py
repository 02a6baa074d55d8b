"""The `Workload` plugin protocol: what clients ask and what must hold.

A workload is a generator of client ops, an optional final generator (heal, quiet, final reads), and the
checker that judges the history. It never talks to nodes: the system's client performs its ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from harness.checker import Checker
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.generator.core import GenLike
    from harness.test import Test


class Workload(Protocol):
    """Plugin in `harness.workloads`. `generator(test)` yields the client ops of the main phase;
    `final_generator(test)` (or None) runs after faults are healed; `checker(test)` judges the history.
    Options arrive validated in `test.workload_opts`."""

    name: str
    option_specs: Sequence[OptionSpec]

    def generator(self, test: Test) -> GenLike: ...

    def final_generator(self, test: Test) -> GenLike: ...

    def checker(self, test: Test) -> Checker: ...
