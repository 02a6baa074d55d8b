"""The runner caps the verdict of a run that did not test its faults: a fault window in which too few client
ops completed ends unknown "fault window untested", a fault without evidence that it took effect ends unknown,
and a well covered fault with evidence leaves the checkers' verdict as it is. Real runner, interpreter, client
and checkers on the in-process demo system; the fault itself is a stub nemesis (the runner's collaborator,
named as such) that records evidence as told, so windows can be made as short as needed without a cluster."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness.build import build_test, final_generator, main_generator
from harness.evidence import Evidence, Probe, with_evidence
from harness.nemesis import ComposedNemesis, Package
from harness.op import Op
from harness.options import RunOptions
from harness.plugins import Registry
from harness.runner import RunResult, run
from nemeses.schedule import ScheduleEntry, Scripted

START, STOP = "start-stub", "stop-stub"


class StubFault:
    """A nemesis stub: injects nothing; its start completes with the evidence it is given (or none)."""

    fs = frozenset({START, STOP})

    def __init__(self, evidence: Evidence | None) -> None:
        self.evidence = evidence

    def setup(self, test: object) -> None:
        pass

    def invoke(self, test: object, op: Op) -> Op:
        if op.f == START and self.evidence is not None:
            return op.replace(type="info", value=with_evidence({"nodes": ["n1"]}, self.evidence))
        return op.replace(type="info", value={"nodes": ["n1"]})

    def teardown(self, test: object) -> None:
        pass


IN_EFFECT = Evidence(probes=(Probe(node="n1", what="stub", expected="on", observed="on", effect=True),))


def run_with_fault(tmp: Path, start_s: float, stop_s: float, evidence: Evidence | None,
                   min_ops: int = 10) -> RunResult:
    options = RunOptions(system="memory", cluster="inprocess", workload="register", time_limit=2.0, rate=200.0,
                         seed=5, results_dir=str(tmp), min_fault_ops=min_ops, nemeses=())
    test = build_test(options, Registry())
    stub = StubFault(evidence)
    schedule = Scripted((ScheduleEntry(at=start_s, f=START), ScheduleEntry(at=stop_s, f=STOP)))
    pkg = Package(name="stub", nemesis=stub, generator=schedule, final_generator={"f": STOP}, label="stub fault",
                  start_fs=frozenset({START}), stop_fs=frozenset({STOP}))
    test = dataclasses.replace(test, packages=(pkg,), nemesis=ComposedNemesis([stub]))
    test = dataclasses.replace(test, generator=main_generator(test), final_generator=final_generator(test))
    return run(test)


def results(r: RunResult) -> dict:  # type: ignore[type-arg]
    return json.loads((Path(r.store.path) / "results.json").read_text())


def test_a_window_with_too_few_client_ops_is_unknown_fault_window_untested(tmp_path: Path) -> None:
    r = run_with_fault(tmp_path, 0.5, 0.5, IN_EFFECT)  # stopped as soon as started: no room for client ops
    assert r.verdict.valid == "unknown" and r.exit_code == 2
    assert r.verdict.summary.startswith("unknown: fault window untested: stub fault")
    assert [f.kind for f in r.verdict.findings] == ["fault-window-untested"]
    assert r.verdict.children[0].valid is True  # the checkers themselves found nothing wrong
    saved = results(r)
    assert saved["valid"] == "unknown"
    (w,) = saved["coverage"]["windows"]
    assert saved["coverage"]["untested"] == [w["start_index"]] and w["completed"] < 10 == saved["coverage"]["min_ops"]
    assert [e["state"] for e in saved["evidence"]] == ["in effect"]  # the fault itself showed its effect
    assert "fault window untested" in (Path(r.store.path) / "report.html").read_text()


def test_a_covered_fault_with_evidence_leaves_the_verdict_valid(tmp_path: Path) -> None:
    r = run_with_fault(tmp_path, 0.3, 1.5, IN_EFFECT)
    assert r.verdict.valid is True and r.exit_code == 0, r.verdict.summary
    (w,) = r.coverage.windows if r.coverage else ()
    assert w.tested(10) and w.total.completed >= 100  # 200 ops/s for 1.2 s
    assert w.by_node and sum(t.completed for t in w.by_node.values()) == w.total.completed
    (fault,) = r.faults
    assert fault.evidence == IN_EFFECT and fault.state == "in effect" and fault.nodes == ("n1",)
    html = (Path(r.store.path) / "report.html").read_text()
    assert 'id="evidence-table"' in html and 'data-state="in-effect"' in html


def test_a_fault_without_evidence_is_unknown_and_the_minimum_is_an_option(tmp_path: Path) -> None:
    r = run_with_fault(tmp_path, 0.3, 1.5, None, min_ops=100_000)
    assert r.verdict.valid == "unknown"
    kinds = [f.kind for f in r.verdict.findings]
    assert kinds == ["fault-window-untested", "fault-without-evidence"], kinds
    assert "stub fault (start-stub #" in r.verdict.findings[1].diagnosis and "on n1" in r.verdict.findings[1].diagnosis
    saved = results(r)
    assert saved["coverage"]["min_ops"] == 100_000 and saved["evidence"][0]["state"] == "no evidence"
    assert 'data-state="no-evidence"' in (Path(r.store.path) / "report.html").read_text()
