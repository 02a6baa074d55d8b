"""A provider never uses or removes what it did not create: a second cluster forced onto the names of a live one
(the same run id) is refused, and its teardown leaves the first cluster whole; on docker, `harness cleanup`
copies the node logs a killed run never collected into its run directory before removing the containers.
Real namespaces and containers."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from harness.cluster import ClusterSpec
from harness.db import logs_kind
from harness.errors import ClusterError
from harness.ledger import Ledger, cleanup
from harness.plugins import Registry
from tests.real_cluster import require, residue

pytestmark = [pytest.mark.cluster]


def exists(provider: str, cluster: object) -> bool:
    """Whether the first node of `cluster` is still there (its namespace / its container)."""
    if provider == "local":
        return os.path.exists(f"/run/netns/{cluster.names.netns('n1')}")  # type: ignore[attr-defined]
    name = cluster.container_name("n1")  # type: ignore[attr-defined]
    out = subprocess.run(["docker", "ps", "-aq", "--filter", f"name=^/{name}$"], capture_output=True, text=True,
                         check=False)
    return bool(out.stdout.strip())


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_a_second_cluster_on_the_same_names_is_refused_and_removes_nothing(provider: str, tmp_path: Path) -> None:
    require(provider)
    run_id = f"foreign-{uuid.uuid4().hex[:8]}"
    spec = ClusterSpec(run_id=run_id, system="etcd", node_names=("n1",))
    plugin = Registry().get("clusters", provider)
    first = plugin.create(spec, Ledger(run_id, str(tmp_path / "a")))
    first.setup()
    try:
        same_ledger = plugin.create(spec, Ledger(run_id, str(tmp_path / "a")))
        with pytest.raises(ClusterError, match="already exists"):  # the ledger or the provider refuses
            same_ledger.setup()
        other = Ledger(run_id, str(tmp_path / "b"))  # a ledger of its own: the provider itself must refuse
        with pytest.raises(ClusterError, match="already exists"):
            plugin.create(spec, other).setup()
        assert exists(provider, first), "the refused cluster's teardown removed the first cluster's node"
        assert other.outstanding() == []
        if provider == "local":
            reservation = Path(os.environ.get("HARNESS_STATE_DIR", "/var/lib/harness")) / "local-nets" / str(
                first.subnet.network_address)  # type: ignore[attr-defined]
            assert reservation.read_text().split()[0] == first.holder  # type: ignore[attr-defined]
    finally:
        first.teardown()
    assert not exists(provider, first)
    assert not residue([run_id])


def test_cleanup_rescues_docker_node_logs_before_removing_the_containers(tmp_path: Path) -> None:
    require("docker")
    run_id = f"salvage-{uuid.uuid4().hex[:8]}"
    ledger = Ledger(run_id, str(tmp_path / "ledger"))
    cluster = Registry().get("clusters", "docker").create(
        ClusterSpec(run_id=run_id, system="etcd", node_names=("n1", "n2")), ledger)
    cluster.setup()
    try:
        logs = {}
        for node in cluster.nodes:
            path = f"{node.workdir}/etcd.log"
            cluster.remote(node.name).run(["sh", "-c", f"echo 'last words of {node.name}' > {path}"], timeout=30)
            logs[node.name] = [path, f"{node.workdir}/never-written.log"]
        dest = tmp_path / "run" / "nodes"
        (tmp_path / "run").mkdir()
        ledger.record(logs_kind("docker"), str(dest), files=logs)  # what the runner records after db setup
        # the harness is killed here: nothing collected, nothing torn down
        report = cleanup(lambda m: None, directory=str(tmp_path / "ledger"), force=True)
        assert report.problems == () and report.undone == (run_id,)
        for node in ("n1", "n2"):
            assert (dest / node / "etcd.log").read_text() == f"last words of {node}\n"
            assert "harness cleanup" in (dest / node / "SALVAGED.txt").read_text()
            assert not (dest / node / "never-written.log").exists()
        assert not exists("docker", cluster)
    finally:
        cluster.teardown()
    assert not residue([run_id])
