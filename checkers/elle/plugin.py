"""The `elle` entry point of `harness.checkers`: option specs and `make(opts) -> Checker`.

Owns the option names `harness check` and `--opt` accept (workload, consistency-models, anomalies,
sequential-keys, linearizable-keys, wfr-keys, cycle-search-timeout (alias timeout), cycle-search-steps,
max-findings, elle-cli, elle-cli-timeout, and what the verdict says beside it: why, notes, compare-models), their
parsing (bad values raise ValueError, which `parse_opts`
turns into BadInput naming the option) and the plugin object. Does not own checking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from checkers.elle.analysis import WORKLOADS, ElleOptions
from checkers.elle.checker import ElleChecker
from checkers.elle.models import canonical_model, check_anomaly_name
from harness.errors import BadInput
from harness.options import OptionSpec, parse_bool, parse_opts


def _names(text: str, check: Any) -> tuple[str, ...] | None:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items or items == ["none"]:
        return None
    try:
        return tuple(check(x) for x in items)
    except BadInput as e:
        raise ValueError(str(e)) from None


def parse_models(text: str) -> tuple[str, ...] | None:
    """`"serializable,snapshot-isolation"` -> canonical names; "" or "none" -> not given."""
    return _names(text, canonical_model)


def parse_anomalies(text: str) -> tuple[str, ...] | None:
    return _names(text, check_anomaly_name)


def _nonneg_float(text: str) -> float:
    v = float(text)
    if v < 0:
        raise ValueError("must not be negative")
    return v


def _nonneg_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise ValueError("must not be negative")
    return v


def _one_note(text: str) -> tuple[str, ...]:
    return (text,)


def _compared(text: str) -> tuple[str, ...]:
    return parse_models(text) or ()


OPTION_SPECS: tuple[OptionSpec, ...] = (
    OptionSpec(name="workload", default="list-append", help="list-append or rw-register", choices=WORKLOADS),
    OptionSpec(
        name="consistency-models",
        default=("strict-serializable",),
        help="comma list of expected models (serializable, snapshot-isolation, ...); 'none' with anomalies",
        parse=parse_models,
    ),
    OptionSpec(name="anomalies", default=None, help="comma list of anomalies to look for (G0, G1, G2, ...)",
               parse=parse_anomalies),
    OptionSpec(name="sequential-keys", default=False, help="rw-register: each process sees a key's versions in order",
               parse=parse_bool),
    OptionSpec(name="linearizable-keys", default=False, help="rw-register: versions of a key follow real time",
               parse=parse_bool),
    OptionSpec(name="wfr-keys", default=False, help="rw-register: a txn's write follows its read of the same key",
               parse=parse_bool),
    OptionSpec(name="cycle-search-timeout", default=1.0,
               help="seconds of cycle search per strongly connected component (0: no limit)", parse=_nonneg_float),
    OptionSpec(name="timeout", default=None, help="harness check --timeout: same as cycle-search-timeout",
               parse=_nonneg_float),
    OptionSpec(name="cycle-search-steps", default=0,
               help="reproducible bound on search states per component (0: no limit)", parse=_nonneg_int),
    OptionSpec(name="max-findings", default=10, help="findings listed per anomaly type", parse=_nonneg_int),
    OptionSpec(name="elle-cli", default="", help="elle-cli executable or jar to cross-check with (or env ELLE_CLI)"),
    OptionSpec(name="elle-cli-timeout", default=300.0, help="seconds elle-cli may run", parse=_nonneg_float),
    OptionSpec(name="why", default="", help="why these models are expected, said in the verdict"),
    OptionSpec(name="notes", default=(), help="a note for the reader of the verdict", parse=_one_note),
    OptionSpec(name="compare-models", default=(), help="comma list of models the verdict also says are ruled out or not",
               parse=_compared),
)


@dataclass(frozen=True)
class EllePlugin:
    """What `elle = "checkers.elle:PLUGIN"` resolves to."""

    name: str = "elle"
    option_specs: tuple[OptionSpec, ...] = OPTION_SPECS
    help: str = "Elle-style transactional isolation checker (list-append, rw-register), optional elle-cli cross-check"

    def make(self, opts: Mapping[str, object]) -> ElleChecker:
        """A checker from options parsed by `harness.options.parse_opts` (missing keys take defaults)."""
        o = {s.name: s.default for s in self.option_specs}
        o.update({k.replace("_", "-"): v for k, v in opts.items()})  # accept python-style keys too
        unknown = set(o) - {s.name for s in self.option_specs}
        if unknown:
            raise BadInput(f"unknown option(s) {', '.join(sorted(unknown))} for checker elle")
        options = ElleOptions(
            workload=o["workload"],
            consistency_models=o["consistency-models"],
            anomalies=o["anomalies"],
            sequential_keys=o["sequential-keys"],
            linearizable_keys=o["linearizable-keys"],
            wfr_keys=o["wfr-keys"],
            cycle_search_timeout=o["timeout"] if o["timeout"] is not None else o["cycle-search-timeout"],
            cycle_search_steps=o["cycle-search-steps"],
        )
        return ElleChecker(
            options,
            elle_cli=o["elle-cli"] or None,
            elle_cli_timeout=o["elle-cli-timeout"],
            max_findings=o["max-findings"],
            why=o["why"],
            notes=tuple(o["notes"]),
            compare_models=tuple(o["compare-models"]),
        )

    def from_strings(self, raw: Mapping[str, str]) -> ElleChecker:
        """A checker from `key=value` strings, validated like every plugin's options."""
        return self.make(parse_opts("checker elle", self.option_specs, raw))


PLUGIN = EllePlugin()
