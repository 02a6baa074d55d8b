"""The smallest sub-history a checker still finds invalid in the same way, for `harness check --minimize` and
reproduction bundles.

Owns `Signature` (what must still fail: a finding of the same checker, failure class and kind inside an invalid
verdict), `target_of` (the signature of a verdict's first real finding), `units_of` (a history cut into the
parts that may be removed without breaking a rule of real histories: an invocation with its completion, a lone
completion, an invocation that never completed), `minimize` (delta debugging, Zeller's ddmin, first over keys,
then over processes, then over single units, after a try of the ops the finding itself names) and `Minimized`
(the result and what it cost), and `write_minimal` (the minimal history, and minimize.json saying what it
keeps and what it cost, into a folder). Does not own any checker (it calls the one it is given, as the run
did), nor the CLI (`harness.cli`) nor bundles (`harness.bundle`).

Soundness: a candidate is kept only when the checker, run on it, says invalid with the target signature; a
verdict of unknown (a budget ran out, a checker crashed) counts as "does not fail". So the result is always a
history the checker rejects for the same reason, and never larger than the input. Every candidate is a
sub-sequence of whole units of the input, in its order with its indexes and times, so it obeys every rule of
`harness.validate` that the input obeyed (the minimizer checks that too, and refuses a result that does not).
The result is 1-minimal over units when the budget did not run out: removing any one unit makes it pass.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from harness.checker import Checker, FailureClass, Finding, Verdict, safe_check
from harness.op import INVOKE, History, Op
from harness.validate import Parsed, validate

if TYPE_CHECKING:
    from harness.test import Test


@dataclass(frozen=True)
class Signature:
    """How a verdict fails: the checker that said invalid, the failure class, the checker's kind, and the ops the
    finding named (`anchor`, history indexes). A smaller history fails the same way when a finding of that
    checker, class and kind still names one of those ops: the same anomaly, not merely another one of its kind
    that removing ops made up (a read of a value whose write was removed is "not linearizable" too)."""

    checker: str
    failure_class: FailureClass
    kind: str
    anchor: frozenset[int] = frozenset()

    def describe(self) -> str:
        return f"{self.failure_class.value} ({self.kind}, checker {self.checker})"


def _invalid_findings(verdict: Verdict) -> list[tuple[str, Finding]]:
    """(checker, finding) for every finding of an invalid verdict in the tree, depth first."""
    out: list[tuple[str, Finding]] = []
    if verdict.valid is False:
        out.extend((verdict.checker, f) for f in verdict.findings if f.failure_class is not FailureClass.INCOMPLETE)
    for c in verdict.children:
        out.extend(_invalid_findings(c))
    return out


def target_of(verdict: Verdict) -> Signature | None:
    """The signature of the verdict's first real finding; None if the verdict is not invalid."""
    if verdict.valid is not False:
        return None
    found = _invalid_findings(verdict)
    if not found:
        return None
    checker, f = found[0]
    return Signature(checker, f.failure_class, f.kind, frozenset(f.ops))


def shows(verdict: Verdict, sig: Signature) -> bool:
    """The verdict is invalid with a finding of the signature's checker, class and kind that names one of the
    signature's ops (any, when the original finding named none)."""
    return verdict.valid is False and any(
        c == sig.checker and f.failure_class is sig.failure_class and f.kind == sig.kind
        and (not sig.anchor or not sig.anchor.isdisjoint(f.ops))
        for c, f in _invalid_findings(verdict))


@dataclass(frozen=True)
class Unit:
    """Positions in the history that are kept or removed together, and the keys and process they touch."""

    positions: tuple[int, ...]
    process: Hashable
    keys: frozenset[Hashable]


def _keys_of(op: Op) -> set[Hashable]:
    v = op.value
    if op.f == "txn" and isinstance(v, (list, tuple)):
        return {_hashable(m[1]) for m in v if isinstance(m, (list, tuple)) and len(m) >= 2}
    if isinstance(v, tuple) and len(v) == 2:
        return {_hashable(v[0])}
    return set()


def _hashable(k: object) -> Hashable:
    try:
        hash(k)
        return k
    except TypeError:
        return repr(k)


def units_of(history: History) -> list[Unit]:
    """The history cut into removable units, in the order each starts (pairing as `History` pairs: an invoke
    with the next completion of the same process)."""
    members: list[list[int]] = []
    open_by_process: dict[Hashable, int] = {}
    for pos, op in enumerate(history):
        if op.type == INVOKE:
            open_by_process[op.process] = len(members)
            members.append([pos])
        elif (u := open_by_process.pop(op.process, None)) is not None:
            members[u].append(pos)
        else:
            members.append([pos])
    out = []
    for m in members:
        keys: set[Hashable] = set()
        for pos in m:
            keys |= _keys_of(history[pos])
        out.append(Unit(tuple(m), history[m[0]].process, frozenset(keys)))
    return out


@dataclass(frozen=True, kw_only=True)
class Minimized:
    """What `minimize` found: the smallest failing sub-history, the signature it keeps, what it cost."""

    history: History
    signature: Signature
    original_ops: int
    checks: int
    seconds: float
    budget_ran_out: bool
    verdict: Verdict
    steps: tuple[str, ...] = ()

    @property
    def ratio(self) -> float:
        return len(self.history) / self.original_ops if self.original_ops else 1.0

    def describe(self) -> str:
        out = "; the budget ran out, so it may not be minimal" if self.budget_ran_out else ""
        return (f"{self.original_ops} ops -> {len(self.history)} ops ({self.ratio:.1%}) still {self.signature.describe()}"
                f", {self.checks} checks in {self.seconds:.1f} s{out}")


@dataclass
class _Search:
    """One minimization: the checker as a predicate over sets of units, with a cache and a deadline."""

    checker: Checker
    test: Test | None
    history: History
    units: list[Unit]
    signature: Signature
    deadline: float
    checks: int = 0
    cache: dict[frozenset[int], Verdict | None] = field(default_factory=dict)  # units -> failing verdict or None
    best: tuple[int, ...] = ()
    ran_out: bool = False

    def sub_history(self, kept: Sequence[int]) -> History:
        positions = sorted(p for u in kept for p in self.units[u].positions)
        return History(self.history[p] for p in positions)

    def verdict(self, kept: Sequence[int]) -> Verdict | None:
        """The checker's verdict on the sub-history of these units if it shows the signature, else None."""
        key = frozenset(kept)
        if key in self.cache:
            return self.cache[key]
        if not kept or time.monotonic() > self.deadline:
            self.ran_out = self.ran_out or bool(kept)
            return None
        sub = self.sub_history(sorted(kept))
        with tempfile.TemporaryDirectory(prefix="harness-minimize-") as out_dir:
            verdict = safe_check(self.checker, self.test, sub, out_dir)
        self.checks += 1
        failing = verdict if shows(verdict, self.signature) else None
        self.cache[key] = failing
        if failing is not None and len(kept) < len(self.best):
            self.best = tuple(sorted(kept))
        return failing

    def fails(self, kept: Sequence[int]) -> bool:
        return self.verdict(kept) is not None


def ddmin(items: Sequence[Hashable], fails: Callable[[list[Hashable]], bool]) -> list[Hashable]:
    """Zeller and Hildebrandt's ddmin: a subset of `items` (in their order) on which `fails` holds, 1-minimal
    when `fails` is monotone enough; `fails(items)` is assumed. Contiguous chunks first, so early steps cut time
    spans of a history."""
    cur = list(items)
    n = 2
    while len(cur) >= 2:
        size = len(cur)
        chunks = [cur[i * size // n:(i + 1) * size // n] for i in range(n)]
        chunks = [c for c in chunks if c]
        reduced = False
        for c in chunks:
            if len(chunks) > 1 and fails(c):
                cur, n, reduced = c, 2, True
                break
        if not reduced:
            for i in range(len(chunks)):
                rest = [x for j, c in enumerate(chunks) if j != i for x in c]
                if rest and fails(rest):
                    cur, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(cur):
                break
            n = min(len(cur), 2 * n)
    return cur


def minimize(checker: Checker, test: Test | None, history: History, verdict: Verdict, *,
             budget_s: float = 120.0) -> Minimized | None:
    """The smallest sub-history of `history` that `checker` rejects with the signature of `verdict`'s first
    finding (see the module doc). `verdict` is the checker's verdict on `history`. Stops at `budget_s` seconds
    with the smallest failing history found so far. None when the verdict is not invalid (or names no failure
    to keep): there is nothing to minimize."""
    sig = target_of(verdict)
    if sig is None:
        return None
    started = time.monotonic()
    s = _Search(checker, test, history, units_of(history), sig, started + budget_s)
    everything = list(range(len(s.units)))
    s.cache[frozenset(everything)] = verdict
    s.best = tuple(everything)
    steps = []
    cur = _seed(s, sorted(sig.anchor)) or everything
    steps.append(f"start: {len(cur)} of {len(everything)} units")
    for phase, group_of in (("keys", _key_groups), ("processes", _process_groups), ("units", _unit_groups)):
        groups = group_of(s.units, cur)
        if len(groups) < 2:
            continue
        kept_groups = ddmin(list(groups), _over(s, groups))
        cur = sorted(u for g in kept_groups for u in groups[g])
        steps.append(f"{phase}: {len(groups)} -> {len(kept_groups)}, {len(cur)} units left")
    steps.extend(_add_support(s, checker))
    steps.extend(_add_faults(s))
    best = s.sub_history(s.best)
    validate(Parsed(path="<minimized>", ops=best.ops, lines=[None] * len(best)))  # never a malformed result
    best_verdict = s.cache[frozenset(s.best)]
    assert best_verdict is not None  # s.best only ever holds units whose sub-history showed the signature
    return Minimized(history=best, signature=sig, original_ops=len(history), checks=s.checks,
                     seconds=time.monotonic() - started, budget_ran_out=s.ran_out, verdict=best_verdict,
                     steps=tuple(steps))


def _over(s: _Search, groups: dict[Hashable, list[int]]) -> Callable[[list[Hashable]], bool]:
    """`s.fails` over groups of units."""
    return lambda gs: s.fails(sorted(u for g in gs for u in groups[g]))


_SUPPORT_ROUNDS = 20  # transitive rounds of "the writes they read"; a chain longer than this is cut short


@runtime_checkable
class Supported(Protocol):
    """A checker that can name what a minimized history needs beside the anomaly's own ops for a person to
    follow it (Elle: the writes the kept reads observed). Positions are positions in `history`."""

    name: str

    def support(self, history: History, kept: Sequence[int]) -> set[int]: ...


def _named(checker: object, name: str) -> object:
    """The checker of that name inside a composed checker (or the checker itself)."""
    if getattr(checker, "name", None) == name:
        return checker
    for c in getattr(checker, "checkers", ()) or ():
        if (found := _named(c, name)) is not None:
            return found
    return None


def _add_support(s: _Search, checker: Checker) -> list[str]:
    """The ops that establish what the minimal history's ops saw (transitively), added back when the checker
    offers them and the history with them still fails the same way (else the minimal history stays)."""
    named = _named(checker, s.signature.checker)
    if not isinstance(named, Supported) or not s.best:
        return []
    unit_at = {p: u for u, unit in enumerate(s.units) for p in unit.positions}
    kept = set(s.best)
    for _ in range(_SUPPORT_ROUNDS):
        positions = sorted(p for u in kept for p in s.units[u].positions)
        extra = {unit_at[p] for p in named.support(s.history, positions)} - kept
        if not extra:
            break
        kept |= extra
    added = len(kept) - len(s.best)
    if not added:
        return []
    if not s.fails(sorted(kept)):
        return [f"support: {added} units establishing what it saw break the failure; left out"]
    s.best = tuple(sorted(kept))
    return [f"support: added {added} units that establish what the kept ops saw"]


def _add_faults(s: _Search) -> list[str]:
    """The nemesis ops around the minimal history (the fault in force when it began, and every fault op until it
    ended), added back as context when the history with them still fails the same way."""
    client = [p for u in s.best for p in s.units[u].positions if s.history[p].is_client]
    if not client:
        return []
    first, last = min(client), max(client)
    faults = [u for u, unit in enumerate(s.units) if s.history[unit.positions[0]].is_nemesis]
    before = [u for u in faults if s.units[u].positions[0] < first]
    during = {u for u in faults if first <= s.units[u].positions[0] <= last}
    extra = (during | set(before[-1:])) - set(s.best)
    if not extra or not s.fails(sorted(set(s.best) | extra)):
        return []
    s.best = tuple(sorted(set(s.best) | extra))
    return [f"faults: added {len(extra)} nemesis ops in force around it"]


def _seed(s: _Search, named: Sequence[int]) -> list[int] | None:
    """A small start: the units of the ops the finding names; else those and every unit sharing a key with
    them; else every unit that began before the last named op. None when none of these still fails."""
    if not named:
        return None
    where = {op.index: pos for pos, op in enumerate(s.history)}
    unit_at = {p: u for u, unit in enumerate(s.units) for p in unit.positions}
    positions = [where[i] for i in named if i in where]
    if not positions:
        return None
    core = sorted({unit_at[p] for p in positions})
    keys = frozenset().union(*(s.units[u].keys for u in core))
    near = sorted(u for u, unit in enumerate(s.units) if u in core or unit.keys & keys)
    last = max(positions)
    prefix = [u for u, unit in enumerate(s.units) if unit.positions[0] <= last]
    for cand in (core, near, prefix):
        if s.fails(cand):
            return cand
    return None


def _key_groups(units: Sequence[Unit], cur: Sequence[int]) -> dict[Hashable, list[int]]:
    """Units by the keys they touch; a unit of several keys goes with the first in its history order, and units
    of no key stay together (they are the nemesis's and unkeyed ops)."""
    groups: dict[Hashable, list[int]] = {}
    for u in cur:
        keys = sorted(units[u].keys, key=repr)
        groups.setdefault(("key", keys[0]) if keys else ("no key",), []).append(u)
    return groups if len(groups) > 1 else {}


def _process_groups(units: Sequence[Unit], cur: Sequence[int]) -> dict[Hashable, list[int]]:
    groups: dict[Hashable, list[int]] = {}
    for u in cur:
        groups.setdefault(units[u].process, []).append(u)
    return groups


def _unit_groups(units: Sequence[Unit], cur: Sequence[int]) -> dict[Hashable, list[int]]:
    return {u: [u] for u in cur}


def summary_json(m: Minimized, check_command: str) -> dict[str, object]:
    """What minimize.json records beside the minimal history: sizes, cost, what still fails and how to see it."""
    findings = [f for f in m.verdict.all_findings() if f.kind == m.signature.kind]
    return {
        "original_ops": m.original_ops,
        "ops": len(m.history),
        "ratio": round(m.ratio, 6),
        "checks": m.checks,
        "seconds": round(m.seconds, 3),
        "budget_ran_out": m.budget_ran_out,
        "failure_class": m.signature.failure_class.value,
        "kind": m.signature.kind,
        "checker": m.signature.checker,
        "original_finding_ops": sorted(m.signature.anchor),
        "steps": list(m.steps),
        "finding": findings[0].to_json() if findings else None,
        "check_command": check_command,
    }


def write_minimal(m: Minimized, out_dir: str, check_command: str, *, test_json: str | None = None) -> str:
    """Write `history.jsonl` (the minimal history, with the input's indexes and times) and `minimize.json` into
    `out_dir`, and a copy of the run's test.json when given, so `harness check out_dir/history.jsonl` checks it
    as the run did. Returns the history's path."""
    import os
    import shutil

    from harness.store import write_json

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "history.jsonl")
    m.history.to_jsonl(path)
    if test_json is not None:
        shutil.copyfile(test_json, os.path.join(out_dir, "test.json"))
    write_json(os.path.join(out_dir, "minimize.json"), summary_json(m, check_command.replace("{path}", path)))
    return path
