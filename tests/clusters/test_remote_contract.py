"""The `Remote` contract, the same test on every provider's real node: streams, stdin, env, exit codes,
check, a timeout that leaves no process behind, file transfer both ways, and the protocols being satisfied."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from clusters.etcd import PLUGIN as ETCD
from harness.cluster import Cluster, ClusterSpec
from harness.control import Remote
from harness.db import DB, AwaitsReady, HasLogs, HasPrimaries, Killable, Pausable
from harness.errors import CommandFailed
from harness.ledger import Ledger
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import bare_test
from tests.real_cluster import PROVIDERS, new_run_id, require

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


@dataclass
class OneNode:
    cluster: Any
    remote: Remote
    workdir: str


@pytest.fixture(params=PROVIDERS)
def one_node(request: pytest.FixtureRequest, tmp_path: Path, run_ids: list[str]) -> Iterator[OneNode]:
    provider: str = request.param
    require(provider)
    run_id = new_run_id()
    run_ids += [run_id, run_id + "-hosts"]
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    spec = ClusterSpec(run_id=run_id, system="etcd", node_names=("n1",))
    sandbox = None
    if provider == "ssh":
        from clusters.ssh.sandbox import SSHSandbox

        sandbox = SSHSandbox(run_id=run_id + "-hosts", directory=str(tmp_path / "ssh"), ledger=ledger,
                             node_names=("n1",)).start()
        spec = replace(spec, node_names=(), nodes_file=sandbox.nodes_file,
                       opts={"key": sandbox.key, "known_hosts": "ignore"})
    cluster = Registry().get("clusters", provider).create(spec, ledger)
    try:
        cluster.setup()
        yield OneNode(cluster=cluster, remote=cluster.remote("n1"), workdir=cluster.nodes[0].workdir)
    finally:
        cluster.teardown()
        if sandbox is not None:
            sandbox.stop()
        assert not ledger.outstanding()


def _processes(remote: Remote) -> str:
    script = 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/cmdline" 2>/dev/null; echo; done'
    return remote.run(["sh", "-c", script]).stdout


def test_remote_contract(one_node: OneNode, tmp_path: Path) -> None:
    r = one_node.remote
    assert isinstance(r, Remote) and r.node == "n1"
    res = r.run(["sh", "-c", 'cat; echo "$GREETING" >&2; exit 7'], stdin=b"data\n", env={"GREETING": "hi there"},
                check=False)
    assert (res.exit_code, res.stdout, res.stderr, res.ok) == (7, "data\n", "hi there\n", False)
    with pytest.raises(CommandFailed, match="on n1: false exited 1"):
        r.run(["false"])
    assert r.run(["id", "-u"], timeout=None).stdout.strip() == "0"  # root (sudo where needed)

    slow = r.run(["sleep", "7.731"], timeout=1.0, check=False)
    assert slow.exit_code is None
    with pytest.raises(CommandFailed, match="timed out"):
        slow.check()
    assert "sleep 7.731" not in _processes(r)

    src = tmp_path / "up.bin"
    src.write_bytes(bytes(range(256)) * 50)
    target = f"{one_node.workdir}/sub/up.bin"
    r.upload(src, target)
    assert r.run(["wc", "-c", target]).stdout.split()[0] == str(256 * 50)
    r.download(target, tmp_path / "down.bin")
    assert (tmp_path / "down.bin").read_bytes() == src.read_bytes()
    with pytest.raises(FileNotFoundError):
        r.download(f"{one_node.workdir}/missing", tmp_path / "missing")


def test_cluster_and_etcd_satisfy_the_protocols(one_node: OneNode) -> None:
    assert isinstance(one_node.cluster, Cluster)
    test = bare_test(options=RunOptions(node_names=("n1",)), cluster=one_node.cluster)
    db = ETCD.db(test)
    for ability in (DB, Killable, Pausable, HasLogs, HasPrimaries, AwaitsReady):
        assert isinstance(db, ability), ability.__name__
    assert ETCD.versions(test)["etcd"].startswith("3.")
