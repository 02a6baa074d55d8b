"""No open doors on real Postgres nodes (local namespaces): the superuser needs the run's password
(scram-sha-256), a wrong or missing one is refused, an address outside the cluster is refused even with the
password, Postgres listens on the node's cluster address only and has no Unix socket, the password is on no
command line; and after a whole `harness run` the password appears nowhere in the run directory."""

from __future__ import annotations

import ipaddress
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from clusters.local.network import create_node_netns, delete_netns
from clusters.postgres.db import PostgresDB
from harness.build import build_test
from harness.ledger import Ledger
from harness.options import RunOptions
from harness.plugins import Registry
from harness.runner import run
from harness.test import Test as HTest
from tests.clusters.conftest import listening_addresses
from tests.real_cluster import new_run_id, residue, running, skip_reason

pytestmark = [pytest.mark.cluster]


@pytest.fixture(scope="module")
def pg() -> Iterator[HTest]:
    """Two Postgres nodes (primary n1, synchronous standby n2), built as the runner builds them."""
    with running(provider="local", system="postgres", nodes=("n1", "n2"), workload="set") as test:
        assert isinstance(test.db, PostgresDB) and test.db.replication == "sync"
        yield test


def connect(test: HTest, node: str, **kw: Any) -> psycopg.Connection[Any]:
    # passfile=/dev/null: a ~/.pgpass of whoever runs the tests must not supply a password
    return psycopg.connect(host=test.node_host(node), port=5432, user="postgres", dbname="postgres",
                           connect_timeout=3, passfile="/dev/null", **kw)


def test_the_run_password_opens_the_node_and_nothing_else_does(pg: HTest) -> None:
    db = pg.db
    assert isinstance(db, PostgresDB)
    for node in pg.nodes:
        with connect(pg, node, password=db.password) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        with pytest.raises(psycopg.OperationalError, match="no password supplied"):
            connect(pg, node).close()
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "postgres"'):
            connect(pg, node, password="postgres").close()
        with pytest.raises(psycopg.OperationalError, match='password authentication failed for user "postgres"'):
            connect(pg, node, password=db.password[:-1]).close()


def test_another_address_is_refused_even_with_the_password(pg: HTest, tmp_path: Path) -> None:
    """A namespace on the cluster's own bridge, at an address that is not a node's nor the controller's."""
    db = pg.db
    assert isinstance(db, PostgresDB)
    cluster = pg.cluster
    stranger = ipaddress.IPv4Interface(f"{list(cluster.subnet.hosts())[200]}/{cluster.subnet.prefixlen}")
    ns, veth = f"harness-{cluster.names.tag}-x", f"hv{cluster.names.tag}x"
    ledger = Ledger(new_run_id("stranger"), directory=str(tmp_path))
    ledger.record("netns", ns)  # so that `harness cleanup` would remove it too
    ledger.record("veth", veth)
    try:
        create_node_netns(ns, veth, cluster.names.bridge, stranger)
        script = ("import psycopg, sys\n"
                  "try:\n"
                  "    psycopg.connect(host=sys.argv[1], port=5432, user='postgres', dbname='postgres',\n"
                  "                    password=sys.stdin.read(), connect_timeout=3, passfile='/dev/null').close()\n"
                  "    print('connected')\n"
                  "except psycopg.OperationalError as e:\n"
                  "    print(e)\n")
        for node in pg.nodes:
            p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", script, pg.node_host(node)],
                               input=db.password, capture_output=True, text=True, timeout=60, check=False)
            # the server itself answers (the network lets the stranger in) and refuses it by address
            assert f'no pg_hba.conf entry for host "{stranger.ip}"' in p.stdout, p.stdout + p.stderr
    finally:
        delete_netns(ns)
        ledger.release("netns", ns)
        ledger.release("veth", veth)
        ledger.close()


def test_listens_on_the_cluster_address_only_with_no_socket_and_no_password_in_sight(pg: HTest) -> None:
    db = pg.db
    assert isinstance(db, PostgresDB)
    for node in pg.nodes:
        assert listening_addresses(pg.cluster.remote(node), 5432) == {pg.node_host(node)}
        work = Path(db.workdir(pg, node))
        assert not [p for p in work.rglob(".s.PGSQL*")], "a Unix socket is a door for every local user"
        hba = (work / "pgdata" / "pg_hba.conf").read_text()
        assert "trust" not in hba and "0.0.0.0" not in hba and "local" not in hba.split("\n", 1)[1]
        allowed = {line.split()[3] for line in hba.splitlines() if line.startswith("host ")}
        gateway = str(next(pg.cluster.subnet.hosts()))
        assert allowed == {f"{pg.node_host(n)}/32" for n in pg.nodes} | {f"{gateway}/32"}
        pgpass = work / "pgpass"
        st = pgpass.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == db_uid()
        assert not (work / "initdb.pw").exists()
        pids = [int((work / "postgres.pid").read_text()), *db.signal_tree(pg, node, "CONT")]
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            assert db.password.encode() not in cmdline and b"password=" not in cmdline
        assert db.password not in (work / "postgres.log").read_text()


def db_uid() -> int:
    import pwd

    return pwd.getpwnam("postgres").pw_uid


def test_the_password_appears_nowhere_in_the_run_directory(tmp_path: Path) -> None:
    """A whole run (primary and a standby, so replication logs in too) succeeds with the password, and no file
    the run wrote holds it: not test.json, the history, results, harness.log, the report, nor the node logs."""
    reason = skip_reason("local", "postgres")
    if reason:
        pytest.skip(reason)
    test = build_test(RunOptions(system="postgres", workload="list-append", cluster="local", node_names=("n1", "n2"),
                                 time_limit=4.0, seed=5, results_dir=str(tmp_path)), Registry())
    password = test.secrets.password("postgres")
    assert isinstance(test.db, PostgresDB) and test.db.password == password
    result = run(test)
    assert result.exit_code == 0, result.verdict.summary
    files = [p for p in Path(result.store.path).rglob("*") if p.is_file()]
    assert {"test.json", "history.jsonl", "results.json", "harness.log", "report.html", "postgres.log"} <= {
        p.name for p in files}
    leaks = [str(p) for p in files if password.encode() in p.read_bytes()]
    assert not leaks, f"the run's password is in {leaks}"
    assert password not in repr(test) and password not in repr(test.secrets)
    assert not residue([test.run_id])
    assert os.path.exists(result.store.history_path)
