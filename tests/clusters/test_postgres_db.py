"""Postgres as a system under test on real local namespaces: topologies (single primary on one node, async and
sync streaming standbys; replication=none on several nodes refused), kill / start (crash recovery keeps
committed rows), pause / resume (every process of the instance stops), primaries, log files, and the client's
outcome rules on real failures (connection refused: fail; connection lost while COMMIT waits: info). After
each test nothing of the run is left."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clusters.postgres.client import PostgresClient
from clusters.postgres.db import PostgresDB
from clusters.postgres.options import PostgresOptions
from harness.errors import BadInput
from harness.op import Op
from harness.test import Test as HarnessTest
from tests.real_cluster import running

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@dataclass
class PgEnv:
    test: HarnessTest
    db: PostgresDB

    def connect(self, node: str, **kw: Any) -> psycopg.Connection[Any]:
        return self.db.connect(self.test, node, **kw)

    def client(self, workload: str = "set", op_timeout: float = 5.0) -> PostgresClient:
        test = self.with_timeout(op_timeout)
        c = PostgresClient(workload=workload, isolation="serializable", primary="n1", port=5432,
                           password=self.db.password)
        return c.open(test, "n2")

    def with_timeout(self, op_timeout: float) -> HarnessTest:
        return replace(self.test, op_timeout=op_timeout)


@pytest.fixture
def pg(request: pytest.FixtureRequest) -> Iterator[PgEnv]:
    replication: str = getattr(request, "param", "none")
    nodes = ("n1",) if replication == "none" else ("n1", "n2", "n3")
    with running(provider="local", system="postgres", nodes=nodes, workload="set",
                 system_opts={"replication": replication}, op_timeout=5.0, client_setup=True) as test:
        assert isinstance(test.db, PostgresDB)
        yield PgEnv(test=test, db=test.db)


def proc_states(pids: list[int]) -> set[str]:
    out = set()
    for pid in pids:
        try:
            out.add(Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0])
        except OSError:
            pass
    return out


def add(env: PgEnv, conn_node: str, e: int) -> None:
    with env.connect(conn_node) as conn:
        conn.execute("INSERT INTO h_set (e) VALUES (%s)", (e,))


def elements(env: PgEnv, node: str) -> list[int]:
    with env.connect(node, autocommit=True) as conn:
        return [r[0] for r in conn.execute("SELECT e FROM h_set ORDER BY e")]


def eventually(fn: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = fn()
            if r:
                return r
        except psycopg.Error:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{fn} not true after {timeout}s")
        time.sleep(0.2)


def test_single_primary_kill_start_pause_resume(pg: PgEnv) -> None:
    test, db = pg.test, pg.db
    assert db.replication == "none" and test.nodes == ("n1",)
    assert db.primaries(test) == ["n1"]
    assert db.log_files(test, "n1")[0].endswith("postgres.log")
    assert os.path.getsize(db.log_files(test, "n1")[0]) >= 0

    client = pg.client()
    ok = client.invoke(test, Op(type="invoke", process=0, f="add", value=1))
    assert ok.type == "ok" and ok.node == "n1"

    db.kill(test, "n1")
    assert db.primaries(test) == []
    refused = client.invoke(test, Op(type="invoke", process=0, f="add", value=2))
    assert refused.type == "fail" and "connect" in str(refused.error)
    db.kill(test, "n1")  # idempotent
    db.start(test, "n1")
    eventually(lambda: db.primaries(test) == ["n1"])
    assert eventually(lambda: elements(pg, "n1") == [1]), "the committed row survives the crash"
    again = client.invoke(test, Op(type="invoke", process=0, f="add", value=3))
    assert again.type == "ok"

    children = db.signal_tree(test, "n1", "STOP")
    assert children, "a running postgres has auxiliary processes"
    pid = int(Path(db.pidfile(test, "n1")).read_text())
    # SIGSTOP is delivered asynchronously (and a backend may be exiting): give every process a moment
    eventually(lambda: proc_states([pid, *children]) == {"T"}, 3.0)
    with pytest.raises(psycopg.OperationalError):
        pg.connect("n1")
    assert db.primaries(test) == ["n1"], "a paused primary is still the primary"
    db.resume(test, "n1")
    assert "T" not in proc_states([pid, *children])
    assert elements(pg, "n1") == [1, 3]
    client.close(test)


@pytest.mark.parametrize("pg", ["async", "sync"], indirect=True)
def test_streaming_standbys_follow_the_primary_and_refuse_writes(pg: PgEnv) -> None:
    test, db = pg.test, pg.db
    assert db.primaries(test) == ["n1"]
    with pg.connect("n1", autocommit=True) as conn:
        rows = conn.execute("SELECT application_name, state, sync_state FROM pg_stat_replication").fetchall()
    states = {r[0]: (r[1], r[2]) for r in rows}
    expected = "quorum" if db.replication == "sync" else "async"
    assert states == {"n2": ("streaming", expected), "n3": ("streaming", expected)}
    add(pg, "n1", 42)
    for standby in ("n2", "n3"):
        eventually(lambda s=standby: elements(pg, s) == [42])
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            add(pg, standby, 7)
    db.kill(test, "n2")
    assert db.primaries(test) == ["n1"]
    db.start(test, "n2")
    add(pg, "n1", 43)
    eventually(lambda: elements(pg, "n2") == [42, 43])


@pytest.mark.parametrize("pg", ["sync"], indirect=True)
def test_sync_commit_waits_for_a_standby_and_a_lost_commit_is_info(pg: PgEnv) -> None:
    test, db = pg.test, pg.db
    db.kill(test, "n2")
    db.kill(test, "n3")
    client = pg.client(op_timeout=60.0)  # long enough that no statement timeout cancels the wait
    result: list[Op] = []
    t = threading.Thread(target=lambda: result.append(
        client.invoke(test, Op(type="invoke", process=0, f="add", value=9))))
    t.start()
    t.join(2.0)
    assert t.is_alive() and not result, "with no standby, a synchronous commit must wait"
    db.kill(test, "n1")  # the primary dies while COMMIT waits: the client cannot know if it committed
    t.join(30)
    assert result and result[0].type == "info", result
    client.close(test)
    # and with a standby back, commits complete again
    for n in ("n1", "n2"):
        db.start(test, n)
    # The commit record was flushed on the primary before it waited for a standby: the "info" op took effect.
    assert eventually(lambda: 9 in elements(pg, "n1"))
    client = pg.client()
    done = eventually(lambda: client.invoke(test, Op(type="invoke", process=1, f="add", value=10)).type == "ok", 30)
    assert done
    client.close(test)


def test_sync_replication_needs_two_nodes() -> None:
    with pytest.raises(BadInput, match="needs at least 2 nodes"):
        PostgresDB(PostgresOptions.of({"replication": "sync"}), ("n1",), password="x")


def test_replication_follows_the_node_count_and_never_leaves_a_node_idle() -> None:
    assert PostgresDB(PostgresOptions.of({}), ("n1",), password="x").replication == "none"
    def replication(asked: str, nodes: tuple[str, ...]) -> str:
        return PostgresDB(PostgresOptions.of({"replication": asked}), nodes, password="x").replication

    assert replication("auto", ("n1", "n2", "n3")) == "sync"
    assert replication("async", ("n1", "n2")) == "async"
    with pytest.raises(BadInput, match="replication=none runs on one node, and n2, n3 would run nothing"):
        PostgresDB(PostgresOptions.of({"replication": "none"}), ("n1", "n2", "n3"), password="x")
