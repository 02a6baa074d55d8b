"""Fault evidence: what a nemesis measured on the nodes to show that its fault took effect.

Owns `Probe` (one measurement: on which node, what was probed, what a fault in effect looks like, what was
seen, and whether that shows the fault in effect), `Evidence` (the probes of one nemesis op, or why the op
acted on nothing) and their JSON form inside the completion's value (`value["evidence"]`, plain JSON, so
history.jsonl stays one JSON object per line); `FaultRecord` and `fault_records`, a pure function of a history
and the run's fault packages (every completed op that starts a fault, with its evidence); `evidence_findings`:
a fault without evidence, or whose evidence says it did not take effect or acted on nothing, is an incomplete
check, which the runner turns into verdict "unknown" (`harness.checker.cap`); `summary_lines` for the console.

Does not measure anything: nemeses probe their nodes through their Remotes (`nemeses.probe`) and attach what
they saw with `with_evidence`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.checker import FailureClass, Finding
from harness.coverage import FaultFamily
from harness.op import INVOKE, History, Op

KEY = "evidence"


@dataclass(frozen=True, kw_only=True)
class Probe:
    """One measurement on a node. `what` names the method ("tcp connect", "process state", "clock read back",
    "udp delivery", "checksum", "member list"); `target` what it was aimed at ("n2:2380", "pid 4711", a file);
    `expected` what the fault in effect looks like and `observed` what was seen; `effect` is True when the
    measurement shows the fault in effect, False when it shows it is not, None when it is for information only
    (a link the fault was not meant to cut, the state after a heal)."""

    node: str
    what: str
    target: str = ""
    expected: str = ""
    observed: str = ""
    effect: bool | None = None

    def to_json(self) -> dict[str, object]:
        return {"node": self.node, "what": self.what, "target": self.target, "expected": self.expected,
                "observed": self.observed, "effect": self.effect}

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> Probe:
        effect = d.get("effect")
        if effect not in (True, False, None):
            raise ValueError(f"effect must be true, false or null, not {effect!r}")
        return cls(node=str(d["node"]), what=str(d["what"]), target=str(d.get("target", "")),
                   expected=str(d.get("expected", "")), observed=str(d.get("observed", "")), effect=effect)

    def text(self) -> str:
        """One line: "n1: tcp connect n2:2380: blocked (expected blocked)"."""
        aim = f" {self.target}" if self.target else ""
        shown = self.expected and self.expected != self.observed and self.effect is False
        exp = f" (expected {self.expected})" if shown else ""
        return f"{self.node}: {self.what}{aim}: {self.observed}{exp}"


@dataclass(frozen=True, kw_only=True)
class Evidence:
    """What one nemesis op measured. `nothing` says why the op acted on nothing (an empty grudge, no node
    running the system, a file without written data); it is "" when the op acted on something."""

    probes: tuple[Probe, ...] = ()
    nothing: str = ""

    @property
    def judged(self) -> list[Probe]:
        return [p for p in self.probes if p.effect is not None]

    @property
    def took_effect(self) -> bool:
        """The op acted on something, measured at least once, and every judged measurement shows it in effect."""
        judged = self.judged
        return not self.nothing and bool(judged) and all(p.effect for p in judged)

    def failed(self) -> list[Probe]:
        """The measurements that show the fault not in effect."""
        return [p for p in self.probes if p.effect is False]

    def summary(self) -> str:
        """One line for consoles and tables."""
        if self.nothing:
            return f"acted on nothing: {self.nothing}"
        judged = self.judged
        if not judged:
            return f"recorded ({len(self.probes)} probes, none judged)" if self.probes else "nothing measured"
        bad = self.failed()
        if bad:
            return f"NOT in effect ({len(bad)} of {len(judged)} probes): " + "; ".join(p.text() for p in bad[:3])
        return f"in effect ({len(judged)} probes)"

    def to_json(self) -> dict[str, object]:
        d: dict[str, object] = {"probes": [p.to_json() for p in self.probes]}
        if self.nothing:
            d["nothing"] = self.nothing
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Evidence:
        return cls(probes=tuple(Probe.from_json(p) for p in d.get("probes", ())), nothing=str(d.get("nothing", "")))


def with_evidence(value: Mapping[str, object] | None, evidence: Evidence) -> dict[str, object]:
    """The op value with the evidence attached (a new dict)."""
    return {**dict(value or {}), KEY: evidence.to_json()}


def evidence_of(op: Op) -> Evidence | None:
    """The evidence an op's value carries; None when it has none or it is malformed (treated as missing)."""
    v = op.value
    if not isinstance(v, Mapping) or not isinstance(v.get(KEY), Mapping):
        return None
    try:
        return Evidence.from_json(v[KEY])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass(frozen=True, kw_only=True)
class FaultRecord:
    """One completed op that started a fault (without an error: an op with an error was not injected, which the
    runner judges apart), and the evidence it carried (None: none)."""

    index: int
    time_s: float
    package: str
    label: str
    f: str
    nodes: tuple[str, ...]
    evidence: Evidence | None

    @property
    def state(self) -> str:
        """"in effect", "not in effect", "acted on nothing" or "no evidence"."""
        if self.evidence is None:
            return "no evidence"
        if self.evidence.nothing:
            return "acted on nothing"
        return "in effect" if self.evidence.took_effect else "not in effect"

    @property
    def where(self) -> str:
        return f"{self.label} ({self.f} #{self.index})"

    def to_json(self) -> dict[str, object]:
        return {"index": self.index, "time_s": round(self.time_s, 6), "package": self.package, "label": self.label,
                "f": self.f, "nodes": list(self.nodes), "state": self.state,
                "summary": self.evidence.summary() if self.evidence is not None else "no evidence recorded"}


def _nodes_named(op: Op) -> tuple[str, ...]:
    v = op.value
    nodes = v.get("nodes") if isinstance(v, Mapping) else None
    return tuple(map(str, nodes)) if isinstance(nodes, (list, tuple)) else ()


def fault_records(history: History, packages: Sequence[FaultFamily]) -> list[FaultRecord]:
    """Every completed, error-free op of the history that starts a fault of a package, in history order."""
    by_f = {f: p for p in packages for f in p.start_fs}
    return [FaultRecord(index=op.index, time_s=op.time_ns / 1e9, package=by_f[op.f].name,
                        label=by_f[op.f].label or by_f[op.f].name, f=op.f, nodes=_nodes_named(op),
                        evidence=evidence_of(op))
            for op in history.nemesis_ops() if op.type != INVOKE and op.error is None and op.f in by_f]


def evidence_findings(records: Iterable[FaultRecord]) -> tuple[Finding, ...]:
    """One finding (failure class "incomplete check") per fault without evidence that it took effect, naming
    the fault, its op and the nodes. An op that acted on nothing is a finding only when every op of its package
    did: a fault aimed at "the primaries" at a moment with no primary, in a run whose other faults of that kind
    took effect, tested less but not nothing; a package whose every fault acted on nothing tested nothing."""
    records = list(records)
    acted = {r.package for r in records if r.evidence is not None and not r.evidence.nothing}
    out: list[Finding] = []
    for r in records:
        ev = r.evidence
        if ev is None:
            on = f" on {', '.join(r.nodes)}" if r.nodes else ""
            out.append(Finding(kind="fault-without-evidence", failure_class=FailureClass.INCOMPLETE, ops=(r.index,),
                               diagnosis=f"fault without evidence: {r.where}{on} recorded no measurement showing "
                               "that it took effect"))
        elif ev.nothing:
            if r.package not in acted:
                out.append(Finding(kind="fault-acted-on-nothing", failure_class=FailureClass.INCOMPLETE,
                                   ops=(r.index,), diagnosis=f"fault acted on nothing: {r.where}: {ev.nothing}"))
        elif not ev.took_effect:
            bad = ev.failed()
            what = "; ".join(p.text() for p in bad[:3]) if bad else "no measurement was judged"
            out.append(Finding(kind="fault-not-in-effect", failure_class=FailureClass.INCOMPLETE, ops=(r.index,),
                               diagnosis=f"fault not in effect: {r.where}: {what}",
                               explanation=tuple(p.text() for p in bad)))
    return tuple(out)


def summary_lines(records: Sequence[FaultRecord]) -> list[str]:
    """The faults and their evidence, for a console (the end of `harness run`)."""
    out = ["fault evidence (measured on the nodes):"]
    for r in records:
        out.append(f"  {r.label:<12} {r.time_s:7.1f}s  {r.f} #{r.index}: "
                   f"{r.evidence.summary() if r.evidence is not None else 'NO evidence recorded'}")
    return out
