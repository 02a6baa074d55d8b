"""Redis with Sentinel on local namespaces and in docker containers (the image from clusters/redis/Dockerfile),
driven in-process: both daemons listen on the cluster address only and take no client without the run's
password (which no command line shows), conf.KEY reaches redis-server, the Sentinels fail over when the
primary is killed, clients that ask them follow, a client pinned to the old primary (discovery=static) is
refused once it rejoins as a replica, pause stops a node and resume brings it back; nothing is left."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from clusters.redis import PLUGIN as REDIS
from clusters.redis.client import RedisClient
from clusters.redis.conf import PORT, SENTINEL_PORT
from harness.cluster import ClusterSpec
from harness.control import NotYet, retry_until
from harness.errors import BadInput
from harness.ledger import Ledger
from harness.op import Op
from harness.options import RunOptions, parse_opts
from harness.plugins import Registry
from harness.test import Test as HarnessTest
from harness.test import bare_test
from tests.clusters.conftest import listening_addresses
from tests.real_cluster import new_run_id

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def skip_reason(provider: str) -> str | None:
    if os.geteuid() != 0:
        return f"redis on {provider} needs root"
    if provider == "docker":
        try:
            from clusters.docker.images import engine

            engine()
        except (BadInput, ImportError) as e:
            return f"docker engine not usable here: {e}"
        return None
    if shutil.which("redis-server") is None:
        return "needs redis-server (apt-get install redis-server redis-sentinel)"
    return None


@pytest.fixture(params=["local", "docker"])
def rd(request: pytest.FixtureRequest, tmp_path: Path, run_ids: list[str]) -> Iterator[HarnessTest]:
    provider: str = request.param
    reason = skip_reason(provider)
    if reason:
        pytest.skip(reason)
    run_id = new_run_id("rd")
    run_ids.append(run_id)
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    cluster: Any = None
    test: HarnessTest | None = None
    db: Any = None
    try:
        cluster = Registry().get("clusters", provider).create(
            ClusterSpec(run_id=run_id, system="redis", node_names=("n1", "n2", "n3")), ledger)
        cluster.setup()
        opts = parse_opts("system redis", REDIS.option_specs,
                          {"conf.min-replicas-to-write": "1", "down_after_ms": "1000", "failover_timeout_ms": "3000"})
        test = bare_test(options=RunOptions(system="redis", workload="set", cluster=provider, op_timeout=2.0),
                         cluster=cluster, ledger=ledger, system_opts=opts, nodes=tuple(n.name for n in cluster.nodes))
        db = REDIS.db(test)
        with ThreadPoolExecutor(3) as ex:
            list(ex.map(lambda n: db.setup(test, n), test.nodes))
        db.await_ready(test, 60)
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
        left = ledger.outstanding()
        ledger.close()
        assert not errors, errors
        assert not left, f"ledger entries not released: {left}"


def client(test: HarnessTest, node: str, **kw: str) -> RedisClient:
    o = REDIS.options(test)
    c = RedisClient(workload="set", mode=o.mode, discovery=kw.get("discovery", o.discovery),
                    password=test.secrets.password("redis"))
    return c.open(test, node)


def add(c: RedisClient, test: HarnessTest, e: int) -> Op:
    return c.invoke(test, Op(type="invoke", process=0, f="add", value=e))


def server(test: HarnessTest, node: str, port: int = PORT, **kw: Any) -> redis.Redis:
    return redis.Redis(host=test.node_host(node), port=port, socket_timeout=2, socket_connect_timeout=2, **kw)


def test_access_settings_and_failover(rd: HarnessTest) -> None:
    test, db = rd, REDIS.db(rd)
    password = test.secrets.password("redis")
    n1 = test.nodes[0]
    assert db.primaries(test) == [n1]
    assert REDIS.versions(test)["redis"].split(".")[0] in ("6", "7", "8")
    for node in test.nodes:
        remote = test.cluster.remote(node)
        assert listening_addresses(remote, PORT) == {test.node_host(node)}
        assert listening_addresses(remote, SENTINEL_PORT) == {test.node_host(node)}
        for port in (PORT, SENTINEL_PORT):
            with pytest.raises(redis.AuthenticationError), server(test, node, port) as anonymous:
                anonymous.ping()
        cmdlines = remote.run(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"], check=False).stdout
        assert "redis.conf" in cmdlines and password not in cmdlines
    with server(test, n1, password=password) as primary:
        assert primary.config_get("min-replicas-to-write") == {"min-replicas-to-write": "1"}

    pinned, follower = client(test, n1, discovery="static"), client(test, test.nodes[2])
    try:
        for e in range(5):
            done = add(follower if e % 2 else pinned, test, e)
            assert done.type == "ok" and done.node == n1, done
        with server(test, n1, password=password) as primary:
            assert primary.execute_command("WAIT", 2, 5000) == 2  # both replicas have every add

        db.kill(test, n1)
        after = retry_until(30, lambda: _ok_or_not_yet(add(follower, test, 5)), every=0.3, what="failover")
        new = after.node
        assert new != n1 and db.primaries(test) == [new]

        db.start(test, n1)  # comes back as the primary it was; the Sentinels turn it into a replica
        retry_until(40, lambda: _role_is(test, n1, "slave", password), every=0.5, what="old primary demoted")
        refused = add(pinned, test, 6)
        assert refused.type == "fail" and "ReadOnlyError" in str(refused.error) and refused.node == n1, refused

        db.pause(test, new)
        paused = add(follower, test, 7)
        assert paused.type in ("fail", "info"), paused  # a stopped primary answers nothing
        db.resume(test, new)
        retry_until(30, lambda: _ok_or_not_yet(add(follower, test, 8)), every=0.3, what="after resume")
        read = retry_until(10, lambda: _ok_or_not_yet(follower.invoke(test, Op(type="invoke", process=0, f="read",
                                                                                  value=None))), what="read")
        assert {0, 1, 2, 3, 4, 5, 8} <= set(read.value), read.value
        assert 6 not in read.value
    finally:
        pinned.close(test)
        follower.close(test)
    logs = "".join(test.cluster.remote(n).run(["cat", *db.log_files(test, n)], check=False).stdout for n in test.nodes)
    assert "+switch-master" in logs and password not in logs


def _ok_or_not_yet(op: Op) -> Op:
    if op.type != "ok":
        raise NotYet(f"{op.f} {op.type}: {op.error}")
    return op


def _role_is(test: HarnessTest, node: str, role: str, password: str) -> None:
    try:
        with server(test, node, password=password) as r:
            have = r.info("replication").get("role")
    except redis.RedisError as e:
        raise NotYet(str(e)) from None
    if have != role:
        raise NotYet(f"{node} is {have}")
