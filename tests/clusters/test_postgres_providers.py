"""Postgres through every Remote: docker containers (the image from clusters/postgres/Dockerfile) and ssh
hosts (real sshd in namespaces), with streaming standbys: the primary serves the client, standbys follow,
kill / start of the primary, then everything is torn down and nothing is left. The local provider is covered
by test_postgres_db.py and test_postgres_workloads.py."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from clusters.postgres import PLUGIN as POSTGRES
from harness.cluster import ClusterSpec
from harness.errors import BadInput
from harness.ledger import Ledger
from harness.op import Op
from harness.options import RunOptions, parse_opts
from harness.plugins import Registry
from harness.test import Test as HarnessTest
from harness.test import bare_test
from tests.clusters.conftest import new_run_id
from tests.clusters.test_postgres_workloads import skip_reason as local_skip_reason

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def provider_skip(provider: str) -> str | None:
    if os.geteuid() != 0:
        return f"postgres on {provider} needs root"
    if provider == "docker":
        try:
            from clusters.docker.images import engine

            engine()
        except (BadInput, ImportError) as e:
            return f"docker engine not usable here: {e}"
        return None
    if not os.path.exists("/usr/sbin/sshd"):
        return "needs OpenSSH's sshd (apt-get install openssh-server)"
    return local_skip_reason()  # ssh sandbox hosts run this host's postgres binaries


@pytest.fixture(params=[("docker", "sync"), ("ssh", "async")], ids=["docker-sync", "ssh-async"])
def pg(request: pytest.FixtureRequest, tmp_path: Path, run_ids: list[str]) -> Iterator[HarnessTest]:
    provider, replication = request.param
    reason = provider_skip(provider)
    if reason:
        pytest.skip(reason)
    run_id = new_run_id("pg")
    run_ids += [run_id, run_id + "-hosts"]
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    sandbox: Any = None
    cluster: Any = None
    test: HarnessTest | None = None
    db: Any = None
    try:
        spec = ClusterSpec(run_id=run_id, system="postgres", node_names=("n1", "n2"))
        if provider == "ssh":
            from clusters.ssh.sandbox import SSHSandbox

            sandbox = SSHSandbox(run_id=run_id + "-hosts", directory=str(tmp_path / "ssh"), ledger=ledger,
                                 node_names=("n1", "n2")).start()
            spec = replace(spec, node_names=(), nodes_file=sandbox.nodes_file,
                           opts={"key": sandbox.key, "known_hosts_file": str(tmp_path / "ssh" / "known_hosts")})
        cluster = Registry().get("clusters", provider).create(spec, ledger)
        cluster.setup()
        opts = parse_opts("system postgres", POSTGRES.option_specs, {"replication": replication})
        test = bare_test(options=RunOptions(system="postgres", workload="set", cluster=provider), cluster=cluster,
                         ledger=ledger, system_opts=opts, nodes=tuple(n.name for n in cluster.nodes))
        db = POSTGRES.db(test)
        with ThreadPoolExecutor(2) as ex:
            list(ex.map(lambda n: db.setup(test, n), test.nodes))
        db.await_ready(test, 90)
        POSTGRES.client(test).open(test, test.nodes[0]).setup(test)
        yield test
    finally:
        errors = []
        if db is not None and test is not None:
            for n in test.nodes:
                try:
                    db.teardown(test, n)
                except Exception as e:  # noqa: BLE001 - keep tearing down, report at the end
                    errors.append(f"{n}: {e}")
        if cluster is not None:
            cluster.teardown()
        if sandbox is not None:
            sandbox.stop()
        left = ledger.outstanding()
        ledger.close()
        assert not errors, errors
        assert not left, f"ledger entries not released: {left}"


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
