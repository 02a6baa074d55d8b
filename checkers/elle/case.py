"""One non-cycle anomaly instance (`Case`) and what every workload analysis hands the checker (`Analysis`).

Owns these two records and the `Explainer` protocol (why u precedes v, in words) only; the analyses live in
list_append.py and rw_register.py, the cycle search in cycles.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from checkers.elle.graph import Graph


@dataclass(frozen=True, slots=True)
class Case:
    """An anomaly found without a cycle search: `kind` is Elle's name, `txns` the transactions (row ids)
    involved, `key` the key, `diagnosis` one line, `explanation` the steps a person follows to see it."""

    kind: str
    txns: tuple[int, ...]
    key: object
    diagnosis: str
    explanation: tuple[str, ...] = ()


class Explainer(Protocol):
    def explain(self, u: int, v: int, rel: int) -> str:
        """Why transaction u precedes v by data relation `rel` (ww, wr or rw), in plain words."""
        ...


@dataclass(slots=True)
class Analysis:
    """Dependency edges (in `graph`) plus the anomalies a workload finds without cycles."""

    graph: Graph
    cases: list[Case] = field(default_factory=list)
    explainer: Explainer | None = None
    keys: int = 0
