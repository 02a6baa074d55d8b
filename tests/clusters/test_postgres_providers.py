"""Postgres through every Remote: docker containers (the image from clusters/postgres/Dockerfile) and ssh
hosts (real sshd in namespaces), with streaming standbys: the primary serves the client, standbys follow,
kill / start of the primary, then everything is torn down and nothing is left. The local provider is covered
by test_postgres_db.py and test_postgres_workloads.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from clusters.postgres import PLUGIN as POSTGRES
from harness.op import Op
from harness.test import Test as HarnessTest
from tests.real_cluster import running

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(params=[("docker", "sync"), ("ssh", "async")], ids=["docker-sync", "ssh-async"])
def pg(request: pytest.FixtureRequest) -> Iterator[HarnessTest]:
    provider, replication = request.param
    with running(provider=provider, system="postgres", nodes=("n1", "n2"), workload="set",
                 system_opts={"replication": replication}, op_timeout=5.0, client_setup=True) as test:
        yield test


def invoke(test: HarnessTest, f: str, value: Any) -> Op:
    client = POSTGRES.client(test).open(test, test.nodes[-1])
    try:
        return client.invoke(test, Op(type="invoke", process=0, f=f, value=value))
    finally:
        client.close(test)


def test_primary_with_standby_serves_crashes_and_recovers(pg: HarnessTest) -> None:
    test = pg
    db = POSTGRES.db(test)
    primary, standby = test.nodes
    assert db.primaries(test) == [primary]
    assert "PostgreSQL) 15" in POSTGRES.versions(test)["postgres"]
    for e in range(5):
        assert invoke(test, "add", e).type == "ok"
    assert invoke(test, "read", None).value == [0, 1, 2, 3, 4]
    deadline = time.monotonic() + 20
    while db.query(test, standby, "SELECT count(*) FROM h_set")[0][0] != 5:
        assert time.monotonic() < deadline, "the standby never caught up"
        time.sleep(0.2)
    db.kill(test, primary)
    assert db.primaries(test) == []
    failed = invoke(test, "add", 99)
    assert failed.type == "fail" and "connect" in str(failed.error)
    db.start(test, primary)
    assert db.primaries(test) == [primary]
    deadline = time.monotonic() + 30
    while (read := invoke(test, "read", None)).type != "ok":
        assert time.monotonic() < deadline, f"the primary did not come back: {read.error}"
        time.sleep(0.2)
    assert read.value == [0, 1, 2, 3, 4]
    logs = db.log_files(test, primary)
    out = test.cluster.remote(primary).run(["cat", logs[0]]).stdout
    assert "database system was interrupted" in out or "not properly shut down" in out, out[-500:]
