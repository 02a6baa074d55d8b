"""The linearizability checker (Porcupine-style: Wing & Gong search with Lowe's memoization, P-compositional).

Owns the plugin object `PLUGIN` (entry point `linearizable = "checkers.linearizable:PLUGIN"` in the
`harness.checkers` group) and re-exports the public API: `LinearizableChecker`, `Model`, `UNKNOWN`,
`Independent`, `MODELS`, `find_model`. The parts live in: `model.py` (what a model is), `models.py` (built-in
models; how to add one through the `harness.checkers` group, named `linearizable.<model>`), `search.py` (the
search), `checker.py` (parts, processes, budgets, verdict), `explain.py` (counterexample words), `html.py`
(the `linearizable.html` page).

Semantics as Porcupine and Knossos: an op takes effect at one instant between its invocation and its
completion; `fail` ops did not happen and are dropped (except a failed cas under the `etcd` model);
`info` ops and invocations without completion may take effect at any time after their invocation, or never.

CLI: `harness check --checker linearizable --model cas-register --timeout 60 --format edn FILE`.
Options (key=value): model, init (an EDN value: `0`, `nil`, `{:x 0 :y 0}`), independent, timeout (seconds,
0 = none), memory-limit (MiB), workers (0 = one per CPU).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkers.linearizable.checker import LinearizableChecker
from checkers.linearizable.model import UNKNOWN, Entry, Independent, Model
from checkers.linearizable.models import MODELS, find_model, model_names
from harness.formats import edn
from harness.options import OptionSpec, parse_bool

__all__ = [
    "MODELS",
    "PLUGIN",
    "UNKNOWN",
    "Entry",
    "Independent",
    "LinearizableChecker",
    "LinearizablePlugin",
    "Model",
    "find_model",
    "model_names",
]


def _parse_init(text: str) -> object:
    try:
        return edn.loads(text)
    except edn.EdnError as e:
        raise ValueError(f"not an EDN value ({e})") from None


def _parse_seconds(text: str) -> float:
    v = float(text)
    if math.isnan(v) or v < 0:
        raise ValueError("expected a number of seconds >= 0 (0 = no limit)")
    return v


def _parse_mib(text: str) -> float:
    v = float(text)
    if not v > 0:
        raise ValueError("expected a positive number of MiB")
    return v


def _parse_workers(text: str) -> int:
    v = int(text)
    if v < 0:
        raise ValueError("expected 0 (one per CPU) or a positive number")
    return v


def _specs() -> tuple[OptionSpec, ...]:
    models = model_names()  # once: each call scans the installed distributions' entry points
    return (
        OptionSpec(name="model", default="cas-register", choices=models,
                   help="sequential model: " + ", ".join(models)),
        OptionSpec(name="init", default=None, parse=_parse_init,
                   help="initial value of the model, as EDN (0, nil, {:x 0 :y 0}); default nil"),
        OptionSpec(name="independent", default=False, parse=parse_bool,
                   help="values are (key, value): check each key on its own"),
        OptionSpec(name="timeout", default=60.0, parse=_parse_seconds,
                   help="seconds for the whole check; past it the verdict is unknown (0 = no limit)"),
        OptionSpec(name="memory-limit", default=1024.0, parse=_parse_mib,
                   help="MiB the search may use to remember configurations; past it the verdict is unknown"),
        OptionSpec(name="workers", default=0, parse=_parse_workers,
                   help="processes for independent parts (0 = one per CPU, 1 = none)"),
    )


@dataclass(frozen=True)
class LinearizablePlugin:
    """The `linearizable` checker plugin: `make(opts)` with opts parsed by harness.options.parse_opts."""

    name: str = "linearizable"
    option_specs: Sequence[OptionSpec] = field(default_factory=_specs)

    def make(self, opts: Mapping[str, Any]) -> LinearizableChecker:
        timeout = opts.get("timeout", 60.0)
        workers = opts.get("workers", 0)
        checker = LinearizableChecker(
            model=opts.get("model", "cas-register"),
            init=opts.get("init"),
            independent=bool(opts.get("independent", False)),
            timeout=None if not timeout else float(timeout),
            memory_limit_mb=float(opts.get("memory-limit", 1024.0)),
            workers=None if not workers else int(workers),
        )
        checker.resolved_model()  # an unknown model is bad input now, not a crash later
        return checker


PLUGIN = LinearizablePlugin()
