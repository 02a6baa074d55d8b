"""The Postgres client of a worker: one psycopg 3 connection to the primary, one transaction per op.
It logs in as the superuser with the run's password (see `clusters.postgres.auth`).

Owns the connection (isolation level, timeouts) and the mapping from Postgres outcomes to ok / fail / info.
The SQL of each workload lives in `clusters.postgres.tables`. Every client talks to the primary (the first
node of the test), whichever node the interpreter assigned it: completions name the primary as their node.
A system whose primary moves (Patroni, `clusters.patroni`) gives `candidates` instead: libpq tries them in
order with target_session_attrs=read-write, so each new connection reaches whichever node accepts writes at
that moment, and completions name the node that served them (a change of node in the history is a failover).

Outcomes (what the op's transaction may have done):
    ok     COMMIT returned.
    fail   definitely did not happen: the connection could not be made (nothing was sent); any error before
           COMMIT was sent (no COMMIT, no effect: the server rolls back, even if the connection then dies); a
           serialization failure (40001) or deadlock (40P01), or any other error the server reports with a
           class 40 / 23 / 25 SQLSTATE on COMMIT (it rolled back); a workload rule refusing the op; and any
           failure of an op that only reads.
    info   unknown: the connection broke or the server failed otherwise while COMMIT was in flight (it may
           have committed before the answer was lost). Also, via the interpreter, a timeout.
A statement timeout slightly below the op timeout lets the server cancel a stuck statement (a definite fail)
before the interpreter gives up on the op. With replication=sync, a COMMIT whose wait for a standby is
cancelled that way returns success with a warning: the transaction is committed on the primary (visible to
every later transaction there) but maybe on no standby; it is recorded `ok`, which is what it is on the
primary the clients talk to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
from psycopg import IsolationLevel
from psycopg.rows import TupleRow

from clusters.postgres.tables import TABLES, Rejected, Tables
from harness.client import close_quietly, refused
from harness.errors import BadInput, ClusterError
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

ISOLATION = {
    "read-committed": IsolationLevel.READ_COMMITTED,
    "repeatable-read": IsolationLevel.REPEATABLE_READ,
    "serializable": IsolationLevel.SERIALIZABLE,
}
WORKLOADS = frozenset(TABLES)
# SQLSTATE classes that, reported on COMMIT, mean the transaction rolled back.
_DEFINITE_ON_COMMIT = ("40", "23", "25")
_NAMES = {"40001": "serialization-failure", "40P01": "deadlock"}
# SQLSTATE classes by which the server refuses a transaction it heard (an answer, not unavailability).
_REFUSALS = ("40", "23")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def outcome(e: psycopg.Error, *, stage: str, read_only: bool) -> str:
    """fail or info for an error raised in `stage` ("body": before COMMIT was sent; "commit"), by the table in
    the module docstring. Also the declarative `postgres` protocol's (clusters.declarative.sql)."""
    if stage == "body" or read_only:
        return "fail"
    state = e.sqlstate or ""
    return "fail" if state.startswith(_DEFINITE_ON_COMMIT) else "info"


def describe(e: psycopg.Error) -> str:
    """The op's error; a refusal (see `harness.client.refused`) when the server decided against the
    transaction (SQLSTATE class 40: serialization failure, deadlock; 23: a constraint), not when it could not
    answer (a cancelled statement, a lost connection, a server shutting down)."""
    state = e.sqlstate or ""
    text = _NAMES.get(state) or (f"{state}: {_first_line(e)}" if state else _first_line(e))
    return refused(text) if state.startswith(_REFUSALS) else text


class PostgresClient:
    """Unopened it is a factory; `open(test, node)` returns a client with its own connection to the primary."""

    def __init__(self, *, workload: str, isolation: str, primary: str, port: int, password: str,
                 node: str | None = None, candidates: tuple[str, ...] = ()) -> None:
        if workload not in TABLES:
            raise BadInput(f"the postgres client has no workload {workload!r} (it has: {', '.join(sorted(TABLES))})")
        if isolation not in ISOLATION:
            raise BadInput(f"unknown isolation {isolation!r} (one of {', '.join(ISOLATION)})")
        self.workload = workload
        self.isolation = isolation
        self.primary = primary
        self.port = port
        self._password = password
        self.node = node
        self.candidates = candidates
        self.serving = primary  # the node the open connection reached
        self.tables: Tables = TABLES[workload]
        self.conn: psycopg.Connection[TupleRow] | None = None

    def open(self, test: Test, node: str) -> PostgresClient:
        c = PostgresClient(workload=self.workload, isolation=self.isolation, primary=self.primary, port=self.port,
                           password=self._password, node=node, candidates=self.candidates)
        try:
            c.conn = c._connect(test)
        except psycopg.Error:
            c.conn = None  # a node down under a nemesis must not fail the run: the first op reports it
        return c

    def _connect(self, test: Test) -> psycopg.Connection[TupleRow]:
        timeout_ms = max(100, int(test.op_timeout * 800))
        nodes = self.candidates or (self.primary,)
        hosts = {test.node_host(n): n for n in nodes}
        # libpq's connect_timeout is per host: with several, a node that accepts TCP but never answers (a paused
        # one) must not use up the op's whole timeout before the others are tried.
        connect_timeout = 2 if self.candidates else max(2, int(test.op_timeout))
        conn = psycopg.connect(
            host=",".join(hosts), port=self.port, user="postgres", password=self._password, dbname="postgres",
            connect_timeout=connect_timeout, application_name=f"harness-{self.node or 'setup'}",
            options=f"-c statement_timeout={timeout_ms}", keepalives=1, keepalives_idle=2, keepalives_interval=1,
            keepalives_count=2, tcp_user_timeout=int(test.op_timeout * 1000),
            target_session_attrs="read-write" if self.candidates else "any",
        )
        self.serving = hosts.get(conn.info.host, self.primary)
        conn.isolation_level = ISOLATION[self.isolation]
        return conn

    def setup(self, test: Test) -> None:
        try:
            conn = self.conn or self._connect(test)
            self.conn = conn
            with conn.cursor() as cur:
                self.tables.create(cur, test)
            conn.commit()
        except psycopg.Error as e:
            raise ClusterError(f"cannot create the {self.workload} tables on {self.serving}: {_first_line(e)}") from e

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        close_quietly(conn)

    # ------------------------------------------------------------------------------------------ invoke
    def invoke(self, test: Test, op: Op) -> Op:
        if self.conn is None or self.conn.closed:
            try:
                self.conn = self._connect(test)
            except psycopg.Error as e:
                return op.replace(type="fail", node=self.serving, error=f"connect: {_first_line(e)}")
        conn, node = self.conn, self.serving
        stage = "body"
        try:
            with conn.cursor() as cur:
                value = self.tables.perform(cur, op)
            stage = "commit"
            conn.commit()
        except Rejected as e:
            self._rollback()
            return op.replace(type="fail", node=node, error=refused(str(e)))
        except psycopg.Error as e:
            self._rollback()
            return op.replace(type=outcome(e, stage=stage, read_only=self.tables.read_only(op)), node=node,
                              error=describe(e))
        return op.replace(type="ok", value=value, node=node)

    def _rollback(self) -> None:
        """Back to no transaction; a broken connection is dropped (the next op reconnects)."""
        conn = self.conn
        if conn is None:
            return
        if conn.broken or conn.closed:
            self._drop()
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self._drop()
