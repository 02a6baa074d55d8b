"""The fault evidence of a run as the report shows it, beside the timeline: every op that started a fault,
what it measured on the nodes (`harness.evidence`) and whether the fault window it opened was tested
(`harness.coverage`).

Owns `EvidenceRow` and `evidence_rows`, computed from the history and the packages (pure, like the runner's
own judgement). Does not judge anything: the findings come from the verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.coverage import Coverage, FaultFamily, WindowCoverage
from harness.evidence import FaultRecord, fault_records
from harness.op import History


@dataclass(frozen=True, kw_only=True)
class EvidenceRow:
    """One fault-starting op: its record, the history index of its invocation (the timeline's link) and the
    fault window it opened, if it opened one (a start while the fault was in place opens none)."""

    record: FaultRecord
    link: int
    window: WindowCoverage | None

    @property
    def css(self) -> str:
        return self.record.state.replace(" ", "-")


def evidence_rows(history: History, packages: Sequence[FaultFamily], cov: Coverage | None) -> list[EvidenceRow]:
    by_start = {w.interval.start_index: w for w in (cov.windows if cov is not None else ())}
    ops = {op.index: op for op in history.nemesis_ops()}
    rows = []
    for r in fault_records(history, packages):
        inv = history.invocation(ops[r.index])
        link = inv.index if inv is not None else r.index
        rows.append(EvidenceRow(record=r, link=link, window=by_start.get(link)))
    return rows
