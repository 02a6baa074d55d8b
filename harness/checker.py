"""Verdicts and the Checker interface.

Owns `Verdict` (valid: True | False | "unknown", merged as false > unknown > true), `Finding` (one anomaly,
placed in a failure class with a plain-words diagnosis and the ops that show it), the `Checker` protocol and
`compose`, `CheckerPlugin` (what a `harness.checkers` entry point resolves to), and `cap`, which turns what a run did not test (a fault not injected, a fault without evidence that
it took effect, an untested fault window) into verdict "unknown", never valid. Does not own any particular
checker: those live in `checkers/`; nor measuring faults (`harness.evidence`) or fault windows
(`harness.coverage`).

A checker is a pure function of a history: deterministic, no network, no clock, no global state; it may write
files (counterexample pages, plots) only under the `out_dir` it is given. A checker that raises is turned into
verdict "unknown" by `safe_check`, never into a pass.
"""

from __future__ import annotations

import enum
import os
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

from harness.errors import BadInput
from harness.jsontypes import JsonObject
from harness.op import History
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.test import Test

Validity: TypeAlias = bool | Literal["unknown"]
UNKNOWN: Literal["unknown"] = "unknown"

RECOVERY_WATCH_S = 3.0
"""A node counts as "not recovered" after a heal only if it was asked and watched for at least this long (until
its last op completed) without an ok answer; watched less (the run ended soon after the heal), its recovery was
not measured, which is never a finding."""


class FailureClass(str, enum.Enum):
    """What kind of failure a finding shows, in the words of the people who debug distributed systems (the
    report groups findings by it). Each comment says what the history shows."""

    LOST_WRITE = "lost acknowledged write (data loss after durable ack)"  # an ok write no later read sees
    STALE_READ = "stale or non-monotonic read"  # a read older than a completed write, or a value going back
    SPLIT_BRAIN = "split brain"  # two writers accepted in one scope; histories diverge
    RESURRECTED = "resurrected history"  # an overwritten or rolled-back value comes back
    DUPLICATE_EFFECT = "duplicate side effect"  # one request applied twice
    BROKEN_INVARIANT = "broken invariant"  # a read violating a declared rule (negative balance, total changed)
    SLOW_RECOVERY = "slow or no recovery"  # availability stays low after a heal
    ISOLATION = "isolation anomaly"  # a dependency cycle or read anomaly a transaction model forbids
    NOT_LINEARIZABLE = "not linearizable"  # no order of the ops within their real-time bounds explains the reads
    UNEXPECTED_VALUE = "unexpected value"  # a read of a value no write could have produced
    INCOMPLETE = "incomplete check"  # the checker could not decide (budget, crash): the verdict is unknown


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One anomaly a checker found.

    `kind` is the checker's own name for it ("G-single-item", "lost", "read-went-backwards");
    `diagnosis` is one line in plain words ("lost acknowledged write: add 17 was ok but no final read has it");
    `ops` are the history indices that show it; `explanation` the steps a person follows to see it;
    `scope` what was ordered ("key x", "account 3", "global").
    """

    kind: str
    failure_class: FailureClass
    diagnosis: str
    ops: tuple[int, ...] = ()
    explanation: tuple[str, ...] = ()
    scope: str = "global"

    def to_json(self) -> JsonObject:
        return {
            "kind": self.kind,
            "failure_class": self.failure_class.value,
            "diagnosis": self.diagnosis,
            "ops": list(self.ops),
            "explanation": list(self.explanation),
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            kind=d["kind"],
            failure_class=FailureClass(d["failure_class"]),
            diagnosis=d["diagnosis"],
            ops=tuple(d.get("ops", ())),
            explanation=tuple(d.get("explanation", ())),
            scope=d.get("scope", "global"),
        )


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What a checker concluded.

    `details` holds the checker's structured results and must be JSON-serializable (it is written to
    results.json); `files` names artifacts written under out_dir, relative to it; `children` holds the
    verdicts of composed checkers.
    """

    valid: Validity
    checker: str = ""
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    children: tuple[Verdict, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The verdict as written to results.json (`details` are JSON values by contract, unchecked here)."""
        return {
            "valid": self.valid,
            "checker": self.checker,
            "summary": self.summary,
            "findings": [f.to_json() for f in self.findings],
            "details": dict(self.details),
            "files": list(self.files),
            "children": [c.to_json() for c in self.children],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Verdict:
        return cls(
            valid=d["valid"],
            checker=d.get("checker", ""),
            summary=d.get("summary", ""),
            findings=tuple(Finding.from_json(f) for f in d.get("findings", ())),
            details=d.get("details", {}),
            files=tuple(d.get("files", ())),
            children=tuple(cls.from_json(c) for c in d.get("children", ())),
        )

    def all_findings(self) -> list[Finding]:
        out = list(self.findings)
        for c in self.children:
            out.extend(c.all_findings())
        return out


_RANK = {False: 0, UNKNOWN: 1, True: 2}


def merge_validity(*vs: Validity) -> Validity:
    """false > unknown > true; no verdicts at all is true."""
    worst: Validity = True
    for v in vs:
        if _RANK[v] < _RANK[worst]:
            worst = v
    return worst


def validity_name(v: Validity) -> str:
    return {True: "valid", False: "invalid", UNKNOWN: "unknown"}[v]


@runtime_checkable
class Checker(Protocol):
    """A pure function of a history.

    `check` must be deterministic, must not touch the network, the clock or global state, and may write files
    only under `out_dir` (which exists). `test` is the run's Test, or None when checking a saved history.
    """

    @property
    def name(self) -> str: ...

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict: ...


class CheckerPlugin(Protocol):
    """What a `harness.checkers` entry point resolves to: a name, the options it takes, and `make(opts)`, where
    `opts` holds values already parsed by `harness.options.parse_opts` (keys it lacks take their defaults). Workloads
    get their checkers through it (`workloads._common.registered_checker`), as `harness check` does."""

    name: str

    @property
    def option_specs(self) -> Sequence[OptionSpec]: ...

    def make(self, opts: Mapping[str, object]) -> Checker: ...


def safe_check(
    checker: Checker, test: Test | None, history: History, out_dir: str | os.PathLike[str], *, raise_bad_input: bool = False
) -> Verdict:
    """Run a checker; an exception becomes verdict "unknown" with the cause, never a pass. With
    `raise_bad_input` (checking a user's file), BadInput such as a history that does not fit the checker
    propagates instead, so the CLI can say so in one line and exit 254."""
    name = getattr(checker, "name", type(checker).__name__)
    try:
        return checker.check(test, history, out_dir)
    except Exception as e:  # noqa: BLE001 - any checker bug must become "unknown", not a crash or a pass
        if raise_bad_input and isinstance(e, BadInput):
            raise
        return Verdict(
            valid=UNKNOWN,
            checker=name,
            summary=f"checker crashed: {type(e).__name__}: {e}",
            findings=(
                Finding(
                    kind="checker-crashed",
                    failure_class=FailureClass.INCOMPLETE,
                    diagnosis=f"the {name} checker crashed ({type(e).__name__}: {e}); the verdict is unknown",
                ),
            ),
            details={"traceback": traceback.format_exc()},
        )


@dataclass(frozen=True)
class Compose:
    """Several checkers run on the same history; the verdict merges theirs (false > unknown > true)."""

    checkers: Sequence[Checker]
    name: str = "compose"

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict:
        children = []
        for c in self.checkers:
            sub = os.path.join(os.fspath(out_dir), c.name)
            os.makedirs(sub, exist_ok=True)
            children.append(safe_check(c, test, history, sub))
        valid = merge_validity(*(c.valid for c in children))
        bad = [c.checker for c in children if c.valid is not True]
        summary = "all checkers valid" if not bad else "not valid: " + ", ".join(bad)
        return Verdict(valid=valid, checker=self.name, summary=summary, children=tuple(children))


def compose(*checkers: Checker) -> Compose:
    return Compose(list(checkers))


def cap(verdict: Verdict, limits: Sequence[Finding]) -> Verdict:
    """The verdict of a run that did not test everything it claims: `limits` are the reasons (a fault not
    injected, a fault without evidence that it took effect, a fault window in which too few client ops ran, a run
    error), each an "incomplete check" finding. A valid verdict becomes unknown, an invalid one stays invalid
    (what was found is real), and the checkers' verdict is kept as the child. No limits: the verdict as it is."""
    if not limits:
        return verdict
    valid = merge_validity(verdict.valid, UNKNOWN)
    return Verdict(
        valid=valid,
        checker="run",
        summary=verdict.summary if valid is False else "unknown: " + limits[0].diagnosis,
        findings=tuple(limits),
        children=(verdict,),
    )
