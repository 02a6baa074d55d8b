"""Fixtures for nemesis tests: a real etcd cluster on a real provider, built the way the runner builds it
(`harness.build.build_test` with the plugin registry), with the selected nemeses set up; after the test every
fault is healed and the test fails if any residue (rule, qdisc, stopped process, ledger entry) is left."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest

from clusters.etcd.gateway import EtcdError, Gateway
from harness.build import build_test
from harness.errors import BadInput
from harness.nemesis import ChecksResidue
from harness.op import Op
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import Test


def provider_skip(provider: str) -> str | None:
    """Why an etcd cluster on `provider` cannot run here, or None."""
    if os.geteuid() != 0:
        return "nemesis tests on real clusters need root (network namespaces, iptables)"
    if shutil.which("ip") is None or shutil.which("iptables") is None:
        return "needs iproute2 and iptables on the host"
    if provider == "local" and shutil.which("etcd") is None:
        return "needs etcd on the host (apt-get install etcd-server)"
    if provider == "docker":
        try:
            from clusters.docker.images import engine

            engine()
        except (BadInput, ImportError) as e:
            return f"no docker engine: {e}"
    return None


@contextmanager
def running(
    nemeses: tuple[str, ...],
    opts: Mapping[str, str] | None = None,
    *,
    provider: str = "local",
    system: str = "etcd",
    nodes: tuple[str, ...] = ("n1", "n2", "n3"),
    system_opts: Mapping[str, str] | None = None,
    tmp: str = "/tmp",
) -> Iterator[Test]:
    """A Test with a running cluster and its nemeses set up. On exit: nemesis teardown, then the residue
    checks (the nemesis's own and the ledger's), then db and cluster teardown."""
    reason = provider_skip(provider)
    if reason:
        pytest.skip(reason)
    options = RunOptions(
        system=system, workload="register", cluster=provider, nemeses=nemeses, nemesis_opts=dict(opts or {}),
        node_names=nodes, system_opts=dict(system_opts or {}), nemesis_interval=5.0, results_dir=tmp,
        op_timeout=2.0,
    )
    test = build_test(options, Registry())
    problems: list[str] = []
    db_up = nem_up = False
    try:
        test.cluster.setup()
        db_up = True
        with ThreadPoolExecutor(len(test.nodes)) as ex:
            list(ex.map(lambda n: test.db.setup(test, n), test.nodes))
        if hasattr(test.db, "await_ready"):
            test.db.await_ready(test, 60)
        nem_up = True
        test.nemesis.setup(test)
        yield test
    finally:
        if nem_up:
            try:
                test.nemesis.teardown(test)
            except Exception as e:  # noqa: BLE001 - report, keep tearing down
                problems.append(f"nemesis teardown: {e}")
            if isinstance(test.nemesis, ChecksResidue):
                problems += test.nemesis.residue(test)
        if db_up:
            for n in test.nodes:
                try:
                    test.db.teardown(test, n)
                except Exception as e:  # noqa: BLE001
                    problems.append(f"db teardown {n}: {e}")
        test.cluster.teardown()
        left = test.ledger.outstanding()
        test.ledger.close()
        problems += [f"ledger entry left: {e.kind} {e.key}" for e in left]
    assert not problems, problems


def invoke(test: Test, f: str, value: Any = None) -> Op:
    """Perform one nemesis op as the interpreter would, and return its completion."""
    op = Op(index=-1, time_ns=0, type="invoke", process="nemesis", f=f, value=value)
    return test.nemesis.invoke(test, op)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def etcd_status(test: Test, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The node's own status (leader id, raft term), or None if it does not answer."""
    gw = Gateway(test.node_host(node), 2379, timeout=timeout)
    try:
        return gw.status()
    except (EtcdError, OSError):
        return None
    finally:
        gw.close()


def etcd_member_id(test: Test, node: str) -> str:
    st = etcd_status(test, node)
    assert st is not None, f"{node} does not answer"
    return str(st["header"]["member_id"])


def etcd_put(test: Test, node: str, key: str, value: str, timeout: float = 2.0) -> bool:
    """True if a put through `node` commits (needs the node to reach a quorum)."""
    gw = Gateway(test.node_host(node), 2379, timeout=timeout)
    try:
        gw.put(key, value)
        return True
    except (EtcdError, OSError):
        return False
    finally:
        gw.close()
