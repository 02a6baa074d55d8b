"""Fault evidence (`harness.evidence`) as a pure function of a history and the fault packages: the evidence
record survives the history codec, every fault-starting op is found with what it measured, and each way of not
showing a fault in effect (no evidence, a probe that says not in effect, nothing judged, acting on nothing)
becomes a finding naming the fault and the node, which makes a valid verdict unknown (`harness.checker.cap`)."""

from __future__ import annotations

import json

from harness.checker import UNKNOWN, Verdict, cap
from harness.evidence import (
    Evidence,
    Probe,
    evidence_findings,
    evidence_of,
    fault_records,
    summary_lines,
    with_evidence,
)
from harness.nemesis import NoopNemesis, Package
from harness.op import History, Op, op_from_dict, op_to_json

S = 1_000_000_000
PART = Package(name="partition", nemesis=NoopNemesis(), generator=None, final_generator=None, label="partition",
               start_fs=frozenset({"start-partition"}), stop_fs=frozenset({"stop-partition"}))
KILL = Package(name="kill", nemesis=NoopNemesis(), generator=None, final_generator=None, label="kill",
               start_fs=frozenset({"kill"}), stop_fs=frozenset({"start"}))
BLOCKED = Probe(node="n1", what="tcp connect", target="n2:2379", expected="blocked", observed="timed out",
                effect=True)
OPEN = Probe(node="n1", what="tcp connect", target="n3:2379", expected="open", observed="connected")
IN_EFFECT = Evidence(probes=(BLOCKED, OPEN))


def nem(t: float, type_: str, f: str, value: object = None, error: str | None = None) -> Op:
    return Op(time_ns=int(t * S), type=type_, process="nemesis", f=f, value=value, error=error)  # type: ignore[arg-type]


def started(t: float, f: str = "start-partition", evidence: Evidence | None = IN_EFFECT,
            value: dict[str, object] | None = None) -> list[Op]:
    v = dict(value or {"grudge": {"n1": ["n2"]}})
    return [nem(t - 0.1, "invoke", f), nem(t, "info", f, with_evidence(v, evidence) if evidence is not None else v)]


def stopped(t: float, f: str = "stop-partition") -> list[Op]:
    return [nem(t - 0.05, "invoke", f), nem(t, "info", f, {"healed": {}})]


def history(*groups: list[Op]) -> History:
    return History.indexed(sorted((o for g in groups for o in g), key=lambda o: o.time_ns))


def test_evidence_survives_the_history_codec() -> None:
    op = nem(1.0, "info", "start-partition", with_evidence({"grudge": {"n1": ["n2"]}}, IN_EFFECT))
    back = op_from_dict(json.loads(op_to_json(op)))
    assert evidence_of(back) == IN_EFFECT and back.value["grudge"] == {"n1": ["n2"]}
    assert evidence_of(nem(1.0, "info", "kill", {"nodes": ["n1"], "evidence": {"probes": [{"effect": 3}]}})) is None


def test_took_effect_needs_a_judged_probe_and_none_against() -> None:
    assert IN_EFFECT.took_effect and IN_EFFECT.summary() == "in effect (1 probes)"
    assert not Evidence(probes=(OPEN,)).took_effect  # only informational probes: nothing shown
    against = Evidence(probes=(BLOCKED, Probe(node="n2", what="tcp connect", target="n1:2379", expected="blocked",
                                              observed="connected", effect=False)))
    assert not against.took_effect
    assert against.summary() == ("NOT in effect (1 of 2 probes): n2: tcp connect n1:2379: connected "
                                 "(expected blocked)")
    assert not Evidence(probes=(BLOCKED,), nothing="the grudge is empty").took_effect
    assert BLOCKED.text() == "n1: tcp connect n2:2379: timed out"  # in effect: no "expected" clutter


def test_fault_records_find_every_completed_start_without_error() -> None:
    h = history(started(1.0), stopped(2.0), started(3.0, "kill", value={"nodes": ["n2", "n3"]}), stopped(4.0, "start"),
                [nem(4.9, "invoke", "kill"), nem(5.0, "info", "kill", {"nodes": ["n1"]}, error="no such node")])
    records = fault_records(h, [PART, KILL])
    assert [(r.package, r.f, r.time_s, r.nodes, r.state) for r in records] == [
        ("partition", "start-partition", 1.0, (), "in effect"), ("kill", "kill", 3.0, ("n2", "n3"), "in effect")]
    assert all(h[r.index].type == "info" for r in records)  # the completion, which carries the evidence
    assert json.loads(json.dumps([r.to_json() for r in records]))[1]["summary"] == "in effect (1 probes)"


def test_findings_name_the_fault_the_op_and_the_node() -> None:
    bad = Evidence(probes=(Probe(node="n3", what="tcp connect", target="n1:2379", expected="blocked",
                                 observed="connected", effect=False), OPEN))
    h = history(started(1.0), stopped(2.0),
                started(3.0, "kill", evidence=None, value={"nodes": ["n2"]}), stopped(4.0, "start"),
                started(5.0, evidence=bad), stopped(6.0),
                started(7.0, evidence=Evidence(nothing="partition one cut no link (the grudge is empty)")),
                stopped(8.0),
                started(9.0, evidence=Evidence(probes=(OPEN,))), stopped(10.0))
    records = fault_records(h, [PART, KILL])
    assert [r.state for r in records] == ["in effect", "no evidence", "not in effect", "acted on nothing",
                                          "not in effect"]
    found = evidence_findings(records)
    # the partition that acted on nothing is no finding: other partitions of the run took effect
    assert [f.kind for f in found] == ["fault-without-evidence", "fault-not-in-effect", "fault-not-in-effect"]
    assert found[0].diagnosis == (f"fault without evidence: kill (kill #{records[1].index}) on n2 recorded no "
                                  "measurement showing that it took effect")
    assert "partition (start-partition #" in found[1].diagnosis
    assert found[1].diagnosis.endswith("n3: tcp connect n1:2379: connected (expected blocked)")
    alone = fault_records(history(started(7.0, evidence=Evidence(nothing="the grudge is empty")), stopped(8.0)),
                          [PART, KILL])
    (nothing,) = evidence_findings(alone)  # ... but a package whose every fault acted on nothing tested nothing
    assert nothing.kind == "fault-acted-on-nothing" and "the grudge is empty" in nothing.diagnosis
    assert found[2].diagnosis.endswith("no measurement was judged")
    assert [f.ops for f in found] == [(records[1].index,), (records[2].index,), (records[4].index,)]
    capped = cap(Verdict(valid=True, checker="compose"), found)
    assert capped.valid == UNKNOWN and capped.summary.startswith("unknown: fault without evidence: kill")
    assert cap(Verdict(valid=False), found).valid is False  # what the checkers found stays found
    assert evidence_findings(fault_records(history(started(1.0), stopped(2.0)), [PART])) == ()


def test_summary_lines_for_the_console() -> None:
    h = history(started(1.0), stopped(2.0), started(3.0, "kill", evidence=None), stopped(4.0, "start"))
    lines = summary_lines(fault_records(h, [PART, KILL]))
    assert lines[0] == "fault evidence (measured on the nodes):"
    assert "start-partition #1: in effect (1 probes)" in lines[1]
    assert "kill #5: NO evidence recorded" in lines[2]
