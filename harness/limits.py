"""What a run did not test, and the verdict capped by it: fault windows in which too few client ops completed,
fault ops that completed with an error (not injected), faults without evidence that they took effect, and run
errors each turn a valid verdict unknown.

Owns `Limits` and `cap_verdict`, used by the runner at the end of a run and by `harness check` re-checking a
run's history (harness.recheck), so both reach the same verdict. Does not own how coverage or evidence are
measured (harness.coverage, harness.evidence) nor the capping rule itself (`harness.checker.cap`).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.checker import FailureClass, Finding, Verdict, cap
from harness.coverage import Coverage
from harness.evidence import FaultRecord, evidence_findings
from harness.op import Op


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What a run did not test, kept typed until the verdict is capped: fault windows with too few client ops,
    fault ops that completed with an error (not injected), faults without evidence that they took effect, run
    errors."""

    not_injected: tuple[Op, ...] = ()
    errors: tuple[str, ...] = ()
    coverage: Coverage | None = None
    faults: tuple[FaultRecord, ...] = ()

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        if self.coverage is not None:
            out += [Finding(kind="fault-window-untested", failure_class=FailureClass.INCOMPLETE,
                            diagnosis=self.coverage.describe(w), ops=(w.interval.start_index,))
                    for w in self.coverage.untested]
        if self.not_injected:
            first = self.not_injected[0]
            out.append(Finding(
                kind="fault-not-injected", failure_class=FailureClass.INCOMPLETE,
                diagnosis=f"{len(self.not_injected)} fault(s) could not be injected (first: {first.f}: "
                f"{first.error}); the run did not test what it claims",
                ops=tuple(o.index for o in self.not_injected[:20]),
            ))
        out.extend(evidence_findings(self.faults))
        if self.errors:
            out.append(Finding(kind="run-error", failure_class=FailureClass.INCOMPLETE,
                               diagnosis="; ".join(self.errors)[:2000]))
        return out



def cap_verdict(verdict: Verdict, nemesis_errors: list[Op], errors: list[str], cov: Coverage,
                faults: tuple[FaultRecord, ...] = ()) -> Verdict:
    """A valid verdict becomes unknown when a fault window saw too few client ops to have tested anything, a
    fault could not be injected, a fault has no evidence that it took effect, or the run had errors
    (`harness.checker.cap`)."""
    return cap(verdict, Limits(not_injected=tuple(nemesis_errors), errors=tuple(errors), coverage=cov,
                               faults=faults).findings())
