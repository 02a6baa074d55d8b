"""The clock nemesis on the real Postgres system (`clusters.postgres`, which is ClockSkewable) on the `local`
provider: a bump moves `now()` of the running server by the bumped amount, a kill and start keeps the skewed
clock, a reset brings it back to the host's clock; and a whole `harness run --nemesis clock` on the bank
workload ends with a verdict and clean clock ops in its history."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from clusters.daemon import daemon_pids
from clusters.postgres.db import PostgresDB
from harness.evidence import evidence_of
from harness.test import Test as HTest
from nemeses.clock import KIND, LIBFAKETIME, ClockSkewable
from tests.real_cluster import invoke, running, skip_reason
from tests.rundirs import harness_run, history_of, only_run, results_of

pytestmark = [pytest.mark.cluster]
BIN = "/usr/lib/postgresql/15/bin"


def _skip_reason(provider: str = "local") -> str | None:
    reason = skip_reason(provider, "postgres")
    if reason or provider == "docker":  # the node image (clusters/postgres/Dockerfile) brings libfaketime
        return reason
    if not os.path.exists(LIBFAKETIME):
        return f"needs libfaketime ({LIBFAKETIME}; apt-get install libfaketime)"
    return None


def pg_now(test: HTest, node: str) -> float:
    """now() of a fresh transaction on node, as a Unix time."""
    assert isinstance(test.db, PostgresDB)
    with test.db.connect(test, node, timeout=5, autocommit=True) as conn:
        row = conn.execute("SELECT extract(epoch FROM now())").fetchone()
    assert row is not None
    return float(row[0])


def skew(test: HTest, node: str) -> float:
    """How far node's now() is from the host clock (seconds), measured against the midpoint of the query."""
    before = time.time()
    now = pg_now(test, node)
    return now - (before + time.time()) / 2


@pytest.fixture
def pg_clock(request: pytest.FixtureRequest) -> Iterator[HTest]:
    """Two Postgres nodes (primary n1, async standby n2) built as the runner builds them, clock nemesis set up,
    on the provider given as the fixture's param (default local)."""
    provider = str(getattr(request, "param", "local"))
    reason = _skip_reason(provider)
    if reason:
        pytest.skip(reason)
    with running(("clock",), provider=provider, system="postgres", nodes=("n1", "n2"), workload="bank",
                 system_opts={"replication": "async"}, nemesis_interval=2.0) as test:
        assert isinstance(test.db, ClockSkewable)
        yield test  # the nemesis's setup restarted postgres on every node under libfaketime, offset 0


@pytest.mark.parametrize("pg_clock", ["local", "docker"], indirect=True)
def test_bump_shifts_now_on_the_primary_and_reset_restores(pg_clock: HTest) -> None:
    test = pg_clock
    remote = test.cluster.remote("n1")
    (pid,) = daemon_pids(remote, test.db.pidfile(test, "n1"))
    # the faketime variables reached the postmaster, which runs as postgres (they were set after setpriv)
    # (read as postgres: a docker container's root lacks CAP_SYS_PTRACE to read another user's environ)
    read = test.db.as_postgres(["sh", "-c", 'tr "\\0" "\\n" < /proc/$1/environ', "environ", str(pid)])
    environ = remote.run(read).stdout.split()
    assert f"LD_PRELOAD={LIBFAKETIME}" in environ and "FAKETIME_NO_CACHE=1" in environ, environ
    uid = remote.run(["stat", "-c", "%u", f"/proc/{pid}"]).stdout.strip()
    assert uid == remote.run(["id", "-u", "postgres"]).stdout.strip() != "0"
    assert abs(skew(test, "n1")) < 1.0

    done = invoke(test, "bump-clock", {"nodes": ["n1"], "delta_ms": 3_600_000})
    assert done.error is None and done.value["offsets_s"] == {"n1": 3600.0}
    # evidence, measured on n1: the clock under the same libfaketime settings reads +3600 s, and the running
    # postmaster's environment names the timestamp file
    evidence = evidence_of(done)
    assert evidence is not None and evidence.took_effect, evidence
    clock_read, environ_read = evidence.probes
    assert clock_read.node == "n1" and abs(float(clock_read.observed.split()[0]) - 3600.0) < 0.5
    assert environ_read.target == f"pid {pid}" and environ_read.observed == "under libfaketime with this file"
    assert abs(skew(test, "n1") - 3600.0) < 1.0  # the running primary's clock moved by the bump
    assert abs(skew(test, "n2")) < 1.0  # the standby was not bumped
    assert any(e.kind == KIND for e in test.ledger.outstanding())

    back = invoke(test, "bump-clock", {"nodes": ["n2"], "delta_ms": -90_000})
    assert back.error is None and back.value["offsets_s"] == {"n2": -90.0}
    assert abs(skew(test, "n2") + 90.0) < 1.0  # a hot standby is skewed too

    # a crash and restart of the primary (as the kill nemesis does) keeps its skewed clock
    test.db.kill(test, "n1")
    test.db.start(test, "n1")
    deadline = time.monotonic() + 30
    while True:
        try:
            assert abs(skew(test, "n1") - 3600.0) < 1.0
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    reset = invoke(test, "reset-clock")
    assert reset.error is None and reset.value["reset"] == ["n1", "n2"]
    reset_evidence = evidence_of(reset)
    assert reset_evidence is not None and all(abs(float(p.observed.split()[0])) < 0.5 for p in reset_evidence.probes
                                              if p.what == "clock read back")
    assert abs(skew(test, "n1")) < 1.0 and abs(skew(test, "n2")) < 1.0  # back within a second of the host
    assert not any(e.kind == KIND for e in test.ledger.outstanding())


def test_strobe_ends_at_the_base_offset(pg_clock: HTest) -> None:
    test = pg_clock
    done = invoke(test, "strobe-clock", {"nodes": ["n1"], "delta_ms": 600_000, "period_ms": 50, "duration_s": 1})
    assert done.error is None and done.value["flips"] >= 5
    assert abs(skew(test, "n1")) < 1.0


# A scripted scenario for a run where every node runs postgres: each kind of clock op, each aimed at live nodes.
SCENARIO = [
    {"at": 1.0, "f": "bump-clock", "value": {"nodes": ["n1"], "delta_ms": 90_000}},
    {"at": 2.5, "f": "strobe-clock", "value": {"nodes": "all", "delta_ms": -20_000, "period_ms": 50, "duration_s": 2}},
    {"at": 5.0, "f": "reset-clock"},
    {"at": 6.0, "f": "bump-clock", "value": {"nodes": "minority", "delta_ms": -5_000}},
]


@pytest.mark.parametrize("scripted", [False, True], ids=["default-schedule", "scripted-async"])
def test_harness_run_bank_under_clock_skew_ends_with_a_verdict(scripted: bool) -> None:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # not pytest's tmp_path: concurrent pytest sessions on this machine prune each other's base temp dirs
    with tempfile.TemporaryDirectory(prefix="clock-pg-run-") as d:
        extra: list[str] = []
        if scripted:
            scenario = Path(d) / "clock.json"
            scenario.write_text(json.dumps(SCENARIO))
            extra = ["--system-opt", "replication=async", "--nemesis-opt", f"schedule={scenario}"]
        p = harness_run(d, "--system", "postgres", "--workload", "bank", "--nemesis", "clock", "--cluster", "local",
                        "--time-limit", "8", "--nemesis-interval", "2", "--seed", "1", *extra, timeout=120).process
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        run = only_run(d)
        results = results_of(run)
        assert results["valid"] is True and results["errors"] == [], results
        assert results["coverage"]["windows"] and results["coverage"]["untested"] == []
        history = history_of(run)
    clock = [o for o in history if o["process"] == "nemesis" and o["type"] == "info"]
    assert all("error" not in o for o in clock), [o for o in clock if "error" in o]
    fs = [o["f"] for o in clock]
    starts = [o for o in clock if o["f"] in ("bump-clock", "strobe-clock")]
    assert all(p["effect"] is not False for o in starts for p in o["value"]["evidence"]["probes"]), starts
    assert "reset-clock" in fs and {"bump-clock", "strobe-clock"} & set(fs), fs  # the first start comes at 1-2 s
    if scripted:
        assert {"bump-clock", "strobe-clock", "reset-clock"} <= set(fs), fs
        bumps = [o["value"]["offsets_s"] for o in clock if o["f"] == "bump-clock"]
        assert bumps[0] == {"n1": 90.0}, bumps
        (strobe,) = [o["value"] for o in clock if o["f"] == "strobe-clock"]
        assert strobe["nodes"] == ["n1", "n2", "n3"] and strobe["flips"] >= 5, strobe
    assert sum(1 for o in history if o["process"] != "nemesis" and o["type"] == "ok" and o["f"] == "transfer") > 10
