"""Clock skew through libfaketime on a real Postgres (started here with initdb in a local-namespace node, as a
ClockSkewable system), and the refusal for etcd, which libfaketime cannot skew."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator, Mapping

import pytest

from clusters.daemon import start_daemon, stop_daemon
from harness.build import build_test
from harness.cluster import ClusterSpec
from harness.errors import MissingAbility
from harness.evidence import evidence_of
from harness.ledger import Ledger
from harness.options import RunOptions, parse_opts
from harness.plugins import Registry
from harness.test import Test as HTest
from harness.test import bare_test
from nemeses.clock import LIBFAKETIME, ClockSkewable, read_offset
from nemeses.clock import PLUGIN as CLOCK
from tests.real_cluster import skip_reason

BIN = "/usr/lib/postgresql/15/bin"
AS_PG = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


class FaketimePostgres:
    """A single Postgres per node that opts in to clock skew: the collaborator this test drives (a real
    postgres binary, not a fake), kept here so the test does not depend on the postgres system module."""

    def _w(self, test: HTest, node: str) -> str:
        return str(test.node_info(node).workdir)

    def _start(self, test: HTest, node: str, env: Mapping[str, str] | None) -> None:
        w = self._w(test, node)
        extra = ["env", *(f"{k}={v}" for k, v in env.items())] if env else []
        argv = AS_PG + extra + [f"{BIN}/postgres", "-D", f"{w}/pgdata", "-c", "listen_addresses=",
                        "-c", f"unix_socket_directories={w}", "-c", "shared_buffers=16MB"]
        start_daemon(test.cluster.remote(node), argv, pidfile=f"{w}/pg.pid", logfile=f"{w}/pg.log", cwd=w,
                     ledger=test.ledger, settle=0.5)
        for _ in range(100):
            if self.now(test, node) is not None:
                return
            time.sleep(0.1)
        raise AssertionError(f"postgres on {node} did not start")

    def setup(self, test: HTest, node: str) -> None:
        w = self._w(test, node)
        r = test.cluster.remote(node)
        r.run(["chown", "postgres:postgres", w])
        r.run(AS_PG + [f"{BIN}/initdb", "-D", f"{w}/pgdata", "-A", "trust", "-U", "postgres"], timeout=120)
        self._start(test, node, None)

    def teardown(self, test: HTest, node: str) -> None:
        w = self._w(test, node)
        stop_daemon(test.cluster.remote(node), f"{w}/pg.pid", sig="INT", wait=10, ledger=test.ledger)

    def restart_under_faketime(self, test: HTest, node: str, env: Mapping[str, str] | None) -> None:
        w = self._w(test, node)
        stop_daemon(test.cluster.remote(node), f"{w}/pg.pid", sig="INT", wait=10, ledger=test.ledger)
        self._start(test, node, env)

    def now(self, test: HTest, node: str) -> float | None:
        """Postgres's now() as a Unix time, from a fresh transaction."""
        r = test.cluster.remote(node).run(
            AS_PG + [f"{BIN}/psql", "-h", self._w(test, node), "-U", "postgres", "-Atc",
                     "select extract(epoch from now())"], timeout=30, check=False)
        return float(r.stdout.strip()) if r.exit_code == 0 and r.stdout.strip() else None


@pytest.fixture
def pg_node(tmp_path) -> Iterator[HTest]:  # type: ignore[no-untyped-def]
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    if not os.path.exists(f"{BIN}/initdb") or shutil.which("setpriv") is None:
        pytest.skip(f"needs Postgres 15 in {BIN} and setpriv")
    if not os.path.exists(LIBFAKETIME):
        pytest.skip(f"needs libfaketime ({LIBFAKETIME}; apt-get install libfaketime)")
    ledger = Ledger(f"clock-{os.getpid()}-{time.monotonic_ns()}", directory=str(tmp_path / "ledger"))
    spec = ClusterSpec(run_id=ledger.run_id, system="postgres", node_names=("n1",))
    cluster = Registry().get("clusters", "local").create(spec, ledger)
    db = FaketimePostgres()
    assert isinstance(db, ClockSkewable)
    test = bare_test(options=RunOptions(system="postgres", node_names=("n1",), nemesis_interval=1.0),
                     cluster=cluster, ledger=ledger, db=db, nodes=("n1",),
                     nemesis_opts=parse_opts("nemesis clock", CLOCK.option_specs, {}))
    cluster.setup()
    try:
        db.setup(test, "n1")
        yield test
    finally:
        db.teardown(test, "n1")
        cluster.teardown()
        left = ledger.outstanding()
        ledger.close()
        assert not left, left


@pytest.mark.cluster
def test_faketime_shifts_postgres_now_and_reset_restores(pg_node: HTest) -> None:
    test, db = pg_node, pg_node.db
    nemesis = CLOCK.package(test).nemesis
    nemesis.setup(test)  # restarts postgres under libfaketime at offset 0
    try:
        assert abs(db.now(test, "n1") - time.time()) < 5
        done = invoke_on(nemesis, test, "bump-clock", {"nodes": ["n1"], "delta_ms": 3_600_000})
        assert done.error is None and done.value["offsets_s"] == {"n1": 3600.0}
        evidence = evidence_of(done)  # read back on the node: +3600 s (this db names no pid file: not judged)
        assert evidence is not None and evidence.took_effect
        assert [(p.what, p.effect) for p in evidence.probes] == [("clock read back", True),
                                                                  ("process environment", None)]
        assert abs(db.now(test, "n1") - (time.time() + 3600)) < 5  # the running server's clock moved
        assert test.ledger.outstanding()  # a non-zero offset is in the ledger until reset

        back = invoke_on(nemesis, test, "bump-clock", {"nodes": "all", "delta_ms": -7_200_000})
        assert back.value["offsets_s"] == {"n1": -3600.0}
        assert abs(db.now(test, "n1") - (time.time() - 3600)) < 5

        reset = invoke_on(nemesis, test, "reset-clock")
        assert reset.value["reset"] == ["n1"]
        assert abs(db.now(test, "n1") - time.time()) < 5
        assert read_offset(test.cluster.remote("n1"), nemesis.timestamp_file(test, "n1")) == 0.0
    finally:
        nemesis.teardown(test)
    assert nemesis.residue(test) == []
    assert test.ledger.outstanding() == [e for e in test.ledger.outstanding() if e.kind != "nemesis-clock"]


@pytest.mark.cluster
def test_strobe_ends_at_base_offset(pg_node: HTest) -> None:
    test, db = pg_node, pg_node.db
    nemesis = CLOCK.package(test).nemesis
    nemesis.setup(test)
    try:
        done = invoke_on(nemesis, test, "strobe-clock",
                         {"nodes": ["n1"], "delta_ms": 600_000, "period_ms": 50, "duration_s": 1})
        assert done.error is None and done.value["flips"] >= 5
        evidence = evidence_of(done)  # measured while the first flip was in force
        assert evidence is not None and evidence.took_effect
        assert abs(float(evidence.probes[0].observed.split()[0]) - 600.0) < 0.5
        assert abs(db.now(test, "n1") - time.time()) < 5
    finally:
        nemesis.teardown(test)
    assert nemesis.residue(test) == []


def invoke_on(nemesis, test, f, value=None):  # type: ignore[no-untyped-def]
    from harness.op import Op

    return nemesis.invoke(test, Op(index=-1, time_ns=0, type="invoke", process="nemesis", f=f, value=value))


def test_clock_refuses_etcd_before_the_run() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    with pytest.raises(MissingAbility, match="ClockSkewable.*etcd is a Go program"):
        build_test(RunOptions(system="etcd", nemeses=("clock",)), Registry())
