"""Shared plumbing of the invariant checkers: plugin objects, value freezing, findings caps, verdict assembly.

Owns `CheckerPlugin` (the object each `harness.checkers` entry point of this package resolves to), `freeze`
(hashable form of history values), `Findings` (a per-kind capped collector of `Finding`s), `range_string`
(compact Jepsen-style element lists for details) and `verdict` (tri-valued validity from findings). Does not
own any checker: each lives in its own module next to this one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from harness.checker import UNKNOWN, FailureClass, Finding, Validity, Verdict
from harness.errors import MalformedHistory
from harness.op import History, Op
from harness.options import OptionSpec, parse_bool

if TYPE_CHECKING:
    from harness.test import Test

DEFAULT_MAX_FINDINGS = 10


class FrozenChecker(Protocol):
    """`harness.checker.Checker` with a read-only `name`, which frozen dataclasses satisfy."""

    @property
    def name(self) -> str: ...

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str]) -> Verdict: ...


@dataclass(frozen=True)
class CheckerPlugin:
    """What a `harness.checkers` entry point resolves to: a name, the options it takes, and `make(opts)`.

    `opts` is the mapping `harness.options.parse_opts(..., option_specs, raw)` returns; keys it lacks take
    their defaults, so `make({})` builds the checker with every default.
    """

    name: str
    option_specs: tuple[OptionSpec, ...]
    build: Callable[[Mapping[str, Any]], FrozenChecker]
    help: str = ""

    def make(self, opts: Mapping[str, object]) -> FrozenChecker:
        full = {s.name: s.default for s in self.option_specs}
        full.update(opts)
        return self.build(full)


def max_findings_spec() -> OptionSpec:
    return OptionSpec(
        name="max_findings",
        default=DEFAULT_MAX_FINDINGS,
        help="at most this many findings of each kind are listed (all are counted in details)",
        parse=int,
    )


def keyed_spec() -> OptionSpec:
    return OptionSpec(
        name="keyed",
        default=False,
        help="op values are [key, value] pairs: check every key on its own (Jepsen's independent checker)",
        parse=parse_bool,
    )


def bool_spec(name: str, default: bool, help: str) -> OptionSpec:
    return OptionSpec(name=name, default=default, help=help, parse=parse_bool)


def parse_f_set(text: str) -> frozenset[str]:
    """`"a,b, c"` -> {"a", "b", "c"}; empty items are dropped."""
    return frozenset(x.strip() for x in text.split(",") if x.strip())


ATOMS: frozenset[type] = frozenset({int, str, float, bool, type(None), bytes})


def freeze(v: object) -> Hashable:
    """A hashable, equality-preserving form of a history value: lists become tuples, sets frozensets, dicts
    sorted tuples of items (by repr, so mixed key types do not break the sort)."""
    if type(v) in ATOMS:
        return v
    if isinstance(v, list | tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, set | frozenset):
        return frozenset(freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted(((freeze(k), freeze(x)) for k, x in v.items()), key=repr))
    return v


def jsonable(v: object) -> object:
    """A JSON-serializable form of a (frozen) value, for `Verdict.details`."""
    if v is None or isinstance(v, str | int | float | bool):
        return v
    if isinstance(v, list | tuple):
        return [jsonable(x) for x in v]
    if isinstance(v, set | frozenset):
        return sorted((jsonable(x) for x in v), key=repr)
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return repr(v)


def show(v: object) -> str:
    """A value as it appears in a diagnosis line: tuples and lists as [a, b], strings bare."""
    if isinstance(v, str):
        return v
    if isinstance(v, list | tuple):
        return "[" + ", ".join(show(x) for x in v) + "]"
    return repr(v)


def range_string(elements: Iterable[object], limit: int = 200) -> str:
    """Integers as Jepsen-style ranges ("1-5 7 9-10"); other values sorted by repr; cut after `limit` parts."""
    ints = sorted(e for e in elements if isinstance(e, int) and not isinstance(e, bool))
    others = sorted((e for e in elements if not (isinstance(e, int) and not isinstance(e, bool))), key=repr)
    parts: list[str] = []
    i = 0
    while i < len(ints):
        j = i
        while j + 1 < len(ints) and ints[j + 1] == ints[j] + 1:
            j += 1
        parts.append(str(ints[i]) if i == j else f"{ints[i]}-{ints[j]}")
        i = j + 1
    parts.extend(show(e) for e in others)
    if len(parts) > limit:
        return " ".join(parts[:limit]) + f" ... ({len(parts) - limit} more)"
    return " ".join(parts)


def bad_value(op: Op, what: str) -> MalformedHistory:
    """The error for an op whose value does not follow the checker's vocabulary (one clear line)."""
    return MalformedHistory(f"op #{op.index} ({op.type} {op.f}): {what}, not {op.value!r}")


@dataclass
class Findings:
    """Collects findings; keeps at most `limit` of each kind but counts them all."""

    limit: int = DEFAULT_MAX_FINDINGS
    kept: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    undecided: set[str] = field(default_factory=set)  # kinds that only make the verdict unknown

    def add(self, finding: Finding) -> None:
        n = self.counts.get(finding.kind, 0)
        self.counts[finding.kind] = n + 1
        if finding.failure_class is FailureClass.INCOMPLETE:
            self.undecided.add(finding.kind)
        if n < self.limit:
            self.kept.append(finding)

    def want(self, kind: str) -> bool:
        """Whether another finding of `kind` would be kept (to skip building text nobody will read)."""
        return self.counts.get(kind, 0) < self.limit

    def count(self, kind: str) -> None:
        """Count a finding of `kind` without building it (past the limit)."""
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def note(self, kind: str, build: Callable[..., Finding]) -> None:
        """Count a finding of `kind`, building it only when it will be kept."""
        if self.want(kind):
            self.add(build())
        else:
            self.count(kind)

    def __bool__(self) -> bool:
        return bool(self.counts)


def verdict(
    name: str,
    findings: Findings,
    details: Mapping[str, object],
    *,
    unknown_kinds: Sequence[str] = (),
    ok_summary: str = "",
) -> Verdict:
    """The verdict of a checker: invalid if any finding is of a kind not in `unknown_kinds` (and not of class
    INCOMPLETE), unknown if only such findings exist, valid otherwise."""
    valid: Validity = True
    for kind in findings.counts:
        if kind in unknown_kinds or kind in findings.undecided:
            if valid is True:
                valid = UNKNOWN
        else:
            valid = False
    if valid is True:
        summary = ok_summary or "valid"
    else:
        summary = "; ".join(f"{n} {k}" for k, n in sorted(findings.counts.items()))
    d = dict(details)
    d["finding_counts"] = dict(findings.counts)
    return Verdict(valid=valid, checker=name, summary=summary, findings=tuple(findings.kept), details=d)


def incomplete(kind: str, diagnosis: str, ops: tuple[int, ...] = ()) -> Finding:
    """A finding that makes the verdict unknown: the history cannot decide."""
    return Finding(kind=kind, failure_class=FailureClass.INCOMPLETE, diagnosis=diagnosis, ops=ops)
