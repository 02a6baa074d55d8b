"""The whole Elle-style analysis of one history: options in, anomalies and the models they rule out out.

Owns `ElleOptions` (what the user expects and may assume), `Result` (Elle's result map as a typed record:
validity, reported anomaly types, `not` / `also-not`, every anomaly instance found) and `analyze`, the one
pipeline: transactions -> workload analysis -> process / real-time edges -> strongly connected components ->
cycle search per component under a budget -> Elle's result-map rules. Does not own Verdict assembly
(checker.py), the elle-cli cross-check (elle_cli.py) nor any single inference (the modules it calls).

Result-map rules, as Elle: an anomaly type is *reportable* when it implies one the expected models proscribe
or one named in `anomalies`; any reportable anomaly makes the history invalid; otherwise an unknown cause
("empty-transaction-graph", "cycle-search-timeout") makes it unknown; otherwise valid. `not` / `also-not` are
computed from every anomaly found, reportable or not; when invalid, the unknown causes found are listed
too. When neither models nor anomalies are given, the expected model is strict-serializable. Real-time edges
are added when a reportable anomaly is a -realtime one, else process edges when one is a -process one. A
component whose search ran out of budget is still tested for "<model>-cycle-exists" (see cycles.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checkers.elle import list_append, rw_register
from checkers.elle.case import Analysis, Case
from checkers.elle.cycles import Cycle, cycle_exists, search_component
from checkers.elle.graph import PROCESS, REALTIME, Csr
from checkers.elle.models import (
    UNKNOWN_TYPES,
    boundary,
    canonical_model,
    check_anomaly_name,
    reportable,
)
from checkers.elle.txns import Txns, session_edges, txns_of
from harness.checker import UNKNOWN, Validity
from harness.errors import BadInput
from harness.gcpause import paused_gc
from harness.op import History

WORKLOADS: tuple[str, ...] = ("list-append", "rw-register")
DEFAULT_MODELS: tuple[str, ...] = ("strict-serializable",)


@dataclass(frozen=True, kw_only=True)
class ElleOptions:
    """What the user expects of a history and what the checker may assume about it.

    `consistency_models` / `anomalies` None means "not given" (Elle's defaults apply); `cycle_search_timeout`
    is seconds per strongly connected component (0: none) and `cycle_search_steps` a reproducible bound on
    search states per component (0: none); either running out reports "cycle-search-timeout".
    """

    workload: str = "list-append"
    consistency_models: tuple[str, ...] | None = None
    anomalies: tuple[str, ...] | None = None
    sequential_keys: bool = False
    linearizable_keys: bool = False
    wfr_keys: bool = False
    cycle_search_timeout: float = 1.0
    cycle_search_steps: int = 0

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS:
            raise BadInput(f"unknown elle workload {self.workload!r} (known: {', '.join(WORKLOADS)})")
        if self.consistency_models is not None:
            object.__setattr__(
                self, "consistency_models", tuple(canonical_model(m) for m in self.consistency_models)
            )
        if self.anomalies is not None:
            object.__setattr__(self, "anomalies", tuple(check_anomaly_name(a) for a in self.anomalies))
        if self.cycle_search_timeout < 0 or self.cycle_search_steps < 0:
            raise BadInput("cycle-search-timeout and cycle-search-steps must not be negative")

    def expected_models(self) -> tuple[str, ...]:
        if self.consistency_models is not None:
            return self.consistency_models
        return () if self.anomalies else DEFAULT_MODELS


@dataclass(frozen=True, slots=True)
class CycleCase:
    """A cycle anomaly: the cycle and the component it was found in."""

    cycle: Cycle
    scc_size: int


@dataclass(frozen=True, kw_only=True)
class Result:
    """Elle's result map, typed."""

    valid: Validity
    anomaly_types: tuple[str, ...]  # reported: the reportable ones if invalid, else the unknown causes
    not_: tuple[str, ...]
    also_not: tuple[str, ...]
    found: dict[str, int]  # every anomaly type found -> instances
    cases: tuple[Case, ...]
    cycles: tuple[CycleCase, ...]
    reportable: frozenset[str]
    expected_models: tuple[str, ...]
    graphs: tuple[str, ...]  # additional graphs used: "process" / "realtime"
    txns: Txns
    analysis: Analysis
    stats: dict[str, int] = field(default_factory=dict)


def analyze(history: History, opts: ElleOptions) -> Result:
    """Check a history; see the module docstring for the rules."""
    with paused_gc():  # millions of small acyclic containers: see harness.gcpause
        return _analyze(history, opts)


def _analyze(history: History, opts: ElleOptions) -> Result:
    txns, an = _workload_analysis(history, opts)
    models = opts.expected_models()
    rep = reportable(models, opts.anomalies or ())
    realtime = any(a.endswith("-realtime") for a in rep)
    process = not realtime and any(a.endswith("-process") for a in rep)
    session_edges(txns, an.graph, process=process, realtime=realtime)
    extra = REALTIME if realtime else PROCESS if process else 0

    cases = list(an.cases)
    csr = an.graph.csr()
    if csr.edge_count() == 0:
        cases.append(
            Case(
                "empty-transaction-graph",
                (),
                None,
                "no transaction depends on another: the history shows no order to check (too few "
                "completed transactions, or none reading what others wrote)",
            )
        )
    sccs = csr.sccs()
    cycles = _search_cycles(csr, sccs, extra, opts, cases)
    found: dict[str, int] = {}
    for c in cases:
        found[c.kind] = found.get(c.kind, 0) + 1
    for cc in cycles:
        found[cc.cycle.kind] = found.get(cc.cycle.kind, 0) + 1
    valid, types = _judge(found, rep)
    nots, also = boundary(found) if valid is not True else ([], [])
    graphs = ("realtime",) if realtime else ("process",) if process else ()
    return Result(
        valid=valid,
        anomaly_types=tuple(types),
        not_=tuple(nots),
        also_not=tuple(also),
        found=dict(sorted(found.items())),
        cases=tuple(cases),
        cycles=tuple(cycles),
        reportable=rep,
        expected_models=models,
        graphs=graphs,
        txns=txns,
        analysis=an,
        stats={
            "txns": len(txns),
            "keys": an.keys,
            "edges": csr.edge_count(),
            "sccs": len(sccs),
            "largest-scc": max((len(c) for c in sccs), default=0),
        },
    )


def _workload_analysis(history: History, opts: ElleOptions) -> tuple[Txns, Analysis]:
    """The transactions of the history and the workload's dependency analysis of them."""
    if opts.workload == "list-append":
        txns = txns_of(history, list_append.MOPS)
        return txns, list_append.ListAppend(txns).run()
    txns = txns_of(history, rw_register.MOPS)
    return txns, rw_register.RWRegister(
        txns, wfr=opts.wfr_keys, sequential=opts.sequential_keys, linearizable=opts.linearizable_keys
    ).run()


def _search_cycles(csr: Csr, sccs: list[list[int]], extra: int, opts: ElleOptions,
                   cases: list[Case]) -> list[CycleCase]:
    """The cycles found in each strongly connected component; a component whose search ran out of budget adds
    the cycle kinds it provably contains, and a timeout, to `cases`."""
    cycles: list[CycleCase] = []
    for comp in sorted(sccs, key=min):
        found_c, timed_out = search_component(
            csr.subgraph(sorted(comp)), extra, opts.cycle_search_steps, opts.cycle_search_timeout
        )
        cycles.extend(CycleCase(c, len(comp)) for c in found_c)
        if timed_out:
            for kind in cycle_exists(csr.subgraph(sorted(comp)), extra):
                cases.append(
                    Case(
                        kind,
                        tuple(sorted(comp)[:20]),
                        None,
                        f"a strongly connected component of {len(comp)} transactions contains a cycle that "
                        f"{kind.removesuffix('-cycle-exists')} forbids (proved without naming the cycle)",
                    )
                )
            cases.append(
                Case(
                    "cycle-search-timeout",
                    tuple(sorted(comp)[:20]),
                    None,
                    f"the cycle search of a strongly connected component of {len(comp)} transactions ran out "
                    f"of its budget; anomalies in it may be unreported",
                )
            )
    return cycles


def _judge(found: dict[str, int], rep: frozenset[str]) -> tuple[Validity, list[str]]:
    """Invalid if a reportable anomaly was found, unknown if only ones that make the check incomplete."""
    bad = sorted(k for k in found if k in rep)
    unknown = sorted(k for k in found if k in UNKNOWN_TYPES)
    if bad:
        return False, sorted(bad + unknown)
    if unknown:
        return UNKNOWN, unknown
    return True, []
