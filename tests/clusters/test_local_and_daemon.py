"""The local provider and the daemon helper on real namespaces, and the ledger's promise: after a simulated
crash of the harness (nothing torn down), undoing the ledger removes every namespace, bridge, rule, container,
network and process of the run."""

from __future__ import annotations

import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from clusters.daemon import daemon_pids, signal_daemon, start_daemon, stop_daemon
from clusters.etcd import PLUGIN as ETCD
from clusters.local import PLUGIN as LOCAL
from harness.cluster import ClusterSpec
from harness.errors import BadInput, ClusterError
from harness.ledger import Ledger, undo_entries
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import bare_test
from tests.real_cluster import new_run_id, require, residue, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def test_namespaces_reach_each_other_and_the_host(tmp_path: Path, run_ids: list[str]) -> None:
    require("local")
    run_id = new_run_id()
    run_ids.append(run_id)
    ledger = Ledger(run_id, directory=str(tmp_path))
    cluster = LOCAL.create(ClusterSpec(run_id=run_id, system="etcd", node_names=("a", "b")), ledger)
    cluster.setup()
    try:
        a, b = cluster.nodes
        assert a.host != b.host and a.workdir != b.workdir and os.path.isdir(a.workdir)
        # a listens, b and the host connect: bridge, veths and the FORWARD rule work
        listen = ["python3", "-c", "import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 7777)); s.listen();"
                  "[s.accept()[0].sendall(b'hi') for _ in range(2)]", a.host]
        pidfile, log = f"{a.workdir}/l.pid", f"{a.workdir}/l.log"
        start_daemon(cluster.remote("a"), listen, pidfile=pidfile, logfile=log, ledger=ledger)
        probe = (
            "import socket,sys,time\nfor _ in range(50):\n"
            " try: print(socket.create_connection((sys.argv[1],7777),2).recv(2).decode()); break\n"
            " except OSError: time.sleep(0.1)"
        )
        assert cluster.remote("b").run(["python3", "-c", probe, a.host]).stdout.strip() == "hi"
        with socket.create_connection((a.host, 7777), 2) as s:
            assert s.recv(2) == b"hi"
        assert "ip netns exec" in cluster.access()
        stop_daemon(cluster.remote("a"), pidfile, ledger=ledger)
    finally:
        cluster.teardown()
    assert not ledger.outstanding()


def test_daemon_lifecycle(tmp_path: Path, run_ids: list[str]) -> None:
    require("local")
    run_id = new_run_id()
    run_ids.append(run_id)
    ledger = Ledger(run_id, directory=str(tmp_path))
    cluster = LOCAL.create(ClusterSpec(run_id=run_id, system="etcd", node_names=("n1",)), ledger)
    cluster.setup()
    try:
        r, wd = cluster.remote("n1"), cluster.nodes[0].workdir
        pidfile = f"{wd}/d.pid"
        pid = start_daemon(r, ["sleep", "300"], pidfile=pidfile, logfile=f"{wd}/d.log", ledger=ledger)
        assert daemon_pids(r, pidfile) == [pid]
        assert os.getsid(pid) == pid  # its own session: it survived `ip netns exec`
        with pytest.raises(ClusterError, match="already running"):
            start_daemon(r, ["sleep", "300"], pidfile=pidfile, logfile=f"{wd}/d.log")
        assert signal_daemon(r, pidfile, "STOP")
        # SIGSTOP takes effect when the process next runs: on a busy machine not yet when kill(2) returns
        wait_for(lambda: open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1][0] == "T", 5, "the daemon to stop")
        stop_daemon(r, pidfile, sig="TERM", wait=2, ledger=ledger)  # TERM + CONT reaches a stopped process
        assert daemon_pids(r, pidfile) == [] and not os.path.exists(pidfile)
        stop_daemon(r, pidfile)  # idempotent
        assert not signal_daemon(r, pidfile, "CONT")
        with pytest.raises(ClusterError, match="exited right after start.*nope"):
            start_daemon(r, ["sh", "-c", "echo nope; exit 1"], pidfile=f"{wd}/x.pid", logfile=f"{wd}/x.log")
    finally:
        cluster.teardown()
    assert not ledger.outstanding()


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_ledger_undoes_a_crashed_run(provider: str, tmp_path: Path, run_ids: list[str]) -> None:
    """Cluster + etcd up, then the harness 'dies' (no teardown): the ledger alone removes everything."""
    require(provider)
    run_id = new_run_id()
    run_ids.append(run_id)
    ledger = Ledger(run_id, directory=str(tmp_path))
    cluster = Registry().get("clusters", provider).create(
        ClusterSpec(run_id=run_id, system="etcd", node_names=("n1", "n2", "n3")), ledger
    )
    try:
        cluster.setup()
        test = bare_test(options=RunOptions(workload="register"), cluster=cluster, ledger=ledger)
        db = ETCD.db(test)
        with ThreadPoolExecutor(3) as ex:
            list(ex.map(lambda n: db.setup(test, n), test.nodes))
        db.await_ready(test, 30)
        assert residue([run_id]), "a running cluster should be visible to the residue check"
    finally:
        problems = undo_entries(ledger.outstanding(), lambda _msg: None)
    assert not problems, problems
    assert not residue([run_id])


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    require("local")
    spec = ClusterSpec(run_id=new_run_id(), system="etcd", node_names=("n1",))
    with pytest.raises(BadInput, match="unknown option 'nope' for cluster local"):
        LOCAL.create(ClusterSpec(run_id="x", system="etcd", node_names=("n1",), opts={"nope": "1"}), None)
    with pytest.raises(BadInput, match="bad node name"):
        LOCAL.create(ClusterSpec(run_id="x", system="etcd", node_names=("n 1",)), None)
    busy = subprocess.run(["ip", "-4", "-o", "addr", "show", "lo"], capture_output=True, text=True).stdout
    assert "127.0.0.1" in busy
    with pytest.raises(BadInput, match="already in use"):
        LOCAL.create(ClusterSpec(run_id="x", system="etcd", node_names=("n1",), opts={"subnet": "127.0.0.0/24"}), None)
    assert spec.node_names == ("n1",)


def test_etcd_version_mismatch_is_bad_input(tmp_path: Path, run_ids: list[str]) -> None:
    require("local")
    run_id = new_run_id()
    run_ids.append(run_id)
    ledger = Ledger(run_id, directory=str(tmp_path))
    cluster = LOCAL.create(ClusterSpec(run_id=run_id, system="etcd", node_names=("n1",)), ledger)
    cluster.setup()
    try:
        test = bare_test(options=RunOptions(node_names=("n1",)), cluster=cluster, ledger=ledger,
                         system_opts={"version": "9.9"})
        with pytest.raises(BadInput, match=r"etcd on n1 is 3\.\d+\.\d+, not the requested 9\.9"):
            ETCD.db(test).setup(test, "n1")
        test = bare_test(options=RunOptions(node_names=("n1",)), cluster=cluster, ledger=ledger,
                         system_opts={"binary": "/nonexistent/etcd"})
        with pytest.raises(BadInput, match="does not run on n1"):
            ETCD.versions(test)
    finally:
        cluster.teardown()
    assert not ledger.outstanding()


def test_collect_logs_never_raises(tmp_path: Path, run_ids: list[str]) -> None:
    """A node whose system never started (a failed run): the missing log is reported, not raised."""
    from harness.db import collect_logs

    require("local")
    run_id = new_run_id()
    run_ids.append(run_id)
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    cluster = LOCAL.create(ClusterSpec(run_id=run_id, system="etcd", node_names=("n1", "n2")), ledger)
    cluster.setup()
    try:
        test = bare_test(options=RunOptions(node_names=("n1", "n2")), cluster=cluster, ledger=ledger)
        got = collect_logs(cluster, ETCD.db(test), test, tmp_path / "nodes")
        assert got.files == () and len(got.problems) == 2
        assert "etcd.log" in (tmp_path / "nodes" / "n1" / "MISSING.txt").read_text()
        assert collect_logs(cluster, None, test, tmp_path / "x") == type(got)()
    finally:
        cluster.teardown()


def test_removing_a_bridge_rule_someone_already_removed_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """The FORWARD ACCEPT rule of a bridge, removed twice (a teardown and a cleanup both reach for it): the
    second finds it gone, says so at debug level and raises nothing."""
    require("local")
    import logging

    from clusters.local.network import _has_accept_rule, add_accept_rule, delete_accept_rule

    bridge = f"hbr{os.getpid() % 0xFFFFFF:06x}"  # a rule names its bridge; no bridge is needed to hold one
    add_accept_rule(bridge)
    try:
        assert _has_accept_rule(bridge)
        delete_accept_rule(bridge)
        assert not _has_accept_rule(bridge)
        with caplog.at_level(logging.DEBUG, logger="harness"):
            delete_accept_rule(bridge)
        assert [r.levelno for r in caplog.records] == [logging.DEBUG]
        assert "already gone" in caplog.records[0].getMessage()
    finally:
        while _has_accept_rule(bridge):
            delete_accept_rule(bridge)
