"""Property tests: histories of simulated serial and strict-serializable databases are valid (soundness);
anomalies planted into them are found and named (completeness on the patterns Elle names)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkers.elle import ElleChecker, ElleOptions, analyze
from harness.checker import FailureClass
from tests.elle.sim import PATTERNS, Pattern, plant, simulate, simulate_read_committed

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRICT = ("strict-serializable",)


def _clean(found: dict[str, int]) -> set[str]:
    return set(found) - {"empty-transaction-graph"}


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 80), keys=st.integers(1, 6))
def test_serial_list_append_history_is_valid(seed: int, n: int, keys: int) -> None:
    h = simulate(seed, workload="list-append", n_txns=n, concurrency=1, n_keys=keys)
    res = analyze(h, ElleOptions(consistency_models=STRICT))
    assert _clean(res.found) == set(), res.found
    assert res.valid is True or res.anomaly_types == ("empty-transaction-graph",)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 120), conc=st.integers(2, 8), keys=st.integers(1, 6))
def test_strict_serializable_list_append_history_is_valid(seed: int, n: int, conc: int, keys: int) -> None:
    h = simulate(seed, workload="list-append", n_txns=n, concurrency=conc, n_keys=keys)
    res = analyze(h, ElleOptions(consistency_models=STRICT))
    assert _clean(res.found) == set(), res.found


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 120), conc=st.integers(1, 8), keys=st.integers(1, 6))
def test_strict_serializable_rw_register_history_is_valid(seed: int, n: int, conc: int, keys: int) -> None:
    """Every order assumption (wfr, sequential and linearizable keys) holds in such a database, so none may
    produce an anomaly."""
    h = simulate(seed, workload="rw-register", n_txns=n, concurrency=conc, n_keys=keys)
    opts = ElleOptions(workload="rw-register", consistency_models=STRICT, wfr_keys=True, sequential_keys=True,
                       linearizable_keys=True)
    res = analyze(h, opts)
    assert _clean(res.found) == set(), res.found


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 120), conc=st.integers(2, 8), keys=st.integers(1, 5),
       workload=st.sampled_from(["list-append", "rw-register"]))
def test_snapshot_isolation_history_shows_at_most_write_skew(seed: int, n: int, conc: int, keys: int,
                                                             workload: str) -> None:
    """A snapshot-isolation database (snapshots, first committer wins) may show write skew (G2-item) and
    nothing else: any G-single, G-nonadjacent, lost update ... found would be a checker bug."""
    h = simulate(seed, workload=workload, n_txns=n, concurrency=conc, n_keys=keys, isolation="snapshot-isolation")
    rw = workload == "rw-register"
    res = analyze(h, ElleOptions(workload=workload, consistency_models=("serializable",), sequential_keys=rw,
                                 wfr_keys=rw))
    assert _clean(res.found) <= {"G2-item"}, res.found
    si = analyze(h, ElleOptions(workload=workload, consistency_models=("snapshot-isolation",), sequential_keys=rw,
                                wfr_keys=rw))
    assert si.valid is not False
    # with no search budget at all, the cycle-exists fallback must not claim more than write skew either
    starved = analyze(h, ElleOptions(workload=workload, consistency_models=("snapshot-isolation",),
                                     sequential_keys=rw, wfr_keys=rw, cycle_search_steps=1))
    assert starved.valid is not False, starved.found


def test_snapshot_isolation_simulator_does_produce_write_skew() -> None:
    """The property above is not vacuous: this simulator does produce G2-item histories."""
    found = set()
    for seed in range(40):
        h = simulate(seed, n_txns=80, concurrency=5, n_keys=2, isolation="snapshot-isolation")
        found |= set(analyze(h, ElleOptions(consistency_models=("serializable",))).found)
    assert "G2-item" in found


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 100), conc=st.integers(2, 7), keys=st.integers(1, 4),
       workload=st.sampled_from(["list-append", "rw-register"]))
def test_read_committed_history_is_read_committed(seed: int, n: int, conc: int, keys: int, workload: str) -> None:
    """A read-committed (long write locks) database shows read skew, write skew, lost updates and
    non-repeatable reads, but never G0 or G1: the checker must not call any of its histories G0/G1c."""
    h = simulate_read_committed(seed, workload=workload, n_txns=n, concurrency=conc, n_keys=keys)
    res = analyze(h, ElleOptions(workload=workload, consistency_models=("read-committed",)))
    assert res.valid is not False, res.found
    starved = analyze(h, ElleOptions(workload=workload, consistency_models=("read-committed",),
                                     cycle_search_steps=1))
    assert starved.valid is not False, starved.found
    assert not {"G0", "G1a", "G1b", "G1c", "dirty-update", "incompatible-order"} & set(res.found)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 100), conc=st.integers(2, 7), keys=st.integers(1, 4))
def test_read_committed_registers_stay_valid_with_the_order_the_workload_assumes(seed: int, n: int, conc: int,
                                                                                 keys: int) -> None:
    """The rw-register workload checks with wfr-keys (a write follows the read before it in its transaction),
    which a read-committed database also keeps: its histories stay valid at read-committed."""
    h = simulate_read_committed(seed, workload="rw-register", n_txns=n, concurrency=conc, n_keys=keys)
    res = analyze(h, ElleOptions(workload="rw-register", consistency_models=("read-committed",), wfr_keys=True))
    assert res.valid is not False, res.found


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 120), conc=st.integers(2, 8), keys=st.integers(1, 5),
       workload=st.sampled_from(["list-append", "rw-register"]))
def test_snapshot_isolation_at_repeatable_read_is_told_only_write_skew(seed: int, n: int, conc: int, keys: int,
                                                                       workload: str) -> None:
    """Postgres's repeatable read is snapshot isolation, checked as Adya's repeatable read: the only anomaly
    that may be reported is write skew (G2-item), and the side-by-side check never rules snapshot isolation
    out."""
    from checkers.elle.checker import compared
    from checkers.elle.models import UNKNOWN_TYPES

    h = simulate(seed, workload=workload, n_txns=n, concurrency=conc, n_keys=keys, isolation="snapshot-isolation")
    rw = workload == "rw-register"
    res = analyze(h, ElleOptions(workload=workload, consistency_models=("repeatable-read",), wfr_keys=rw))
    assert set(res.anomaly_types) - UNKNOWN_TYPES <= {"G2-item"}, res.anomaly_types
    assert not compared(res, ["snapshot-isolation"])["snapshot-isolation"].startswith("ruled out"), res.found


def _options(p: Pattern) -> ElleOptions:
    kw = {"workload": p.workload, "consistency_models": STRICT, **p.options}
    return ElleOptions(**kw)


@pytest.mark.parametrize("pattern", PATTERNS, ids=[f"{p.workload}-{p.kind}" for p in PATTERNS])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), where=st.floats(0, 1))
def test_planted_anomaly_is_found_and_named(pattern: Pattern, seed: int, where: float) -> None:
    base = simulate(seed, workload=pattern.workload, n_txns=40, concurrency=4)
    h = plant(base, pattern, int(where * len(base)))
    res = analyze(h, _options(pattern))
    assert pattern.kind in res.found, res.found
    assert res.valid is False
    assert pattern.kind in res.anomaly_types


@pytest.mark.parametrize("pattern", PATTERNS, ids=[f"{p.workload}-{p.kind}" for p in PATTERNS])
def test_planted_anomaly_finding_explains_itself(pattern: Pattern, tmp_path: object) -> None:
    h = plant(simulate(1, workload=pattern.workload, n_txns=10, concurrency=2), pattern, 0)
    verdict = ElleChecker(_options(pattern)).check(None, h, str(tmp_path))
    assert verdict.valid is False
    mine = [f for f in verdict.findings if f.kind == pattern.kind]
    assert mine, [f.kind for f in verdict.findings]
    f = mine[0]
    assert f.ops and all(isinstance(i, int) for i in f.ops)
    assert f.diagnosis.startswith(pattern.kind)
    if pattern.kind.startswith("G") and pattern.kind not in ("G1a", "G1b"):
        assert len(f.explanation) >= 3 and " < " in f.explanation[0]
    if pattern.kind == "lost-update":
        assert f.failure_class is FailureClass.LOST_WRITE
    json.dumps(verdict.to_json())  # results.json must be able to hold it
