"""The MariaDB client of a worker: one PyMySQL connection, one transaction per op.

Owns the connection (isolation level, timeouts, which node) and the mapping from MariaDB outcomes to ok / fail /
info. The SQL of each workload lives in `clusters.mariadb.tables`. A client talks to the node the interpreter
assigned it (`routing=any`: on Galera every node takes writes), or to the first node (`routing=one`), as user
`harness` with the run's password. PyMySQL is the driver: pure Python (no libmariadb build on the controller),
well kept, and its errors carry the server's error number, which is what the table below is written in.

Outcomes (what the op's transaction may have done):
    ok     COMMIT returned.
    fail   definitely did not happen:
             refused (the server decided against the transaction, `harness.client.refused`): deadlock or Galera
             certification failure (1213; a write set that lost certification is reported as a deadlock), lock
             wait timeout (1205: we roll back the whole transaction), record changed since the snapshot (1020,
             innodb_snapshot_isolation), duplicate key (1062), and a workload rule (cas mismatch, insufficient
             funds), at any point of the transaction, COMMIT included;
             unavailable (no answer): the connection could not be made (nothing was sent); any other error
             before COMMIT was sent (autocommit is off, so nothing was committed, and a broken connection rolls the
             transaction back); a node that is not ready (1047 WSREP has not yet prepared node, outside a primary
             component) before COMMIT; and any failure of an op that only reads.
    info   unknown: any other error while COMMIT was in flight: the connection broke or timed out (2013, 2006),
           or the node left the primary component during the commit (1047: the write set may have been
           delivered to the rest of the cluster and committed there). Also, via the interpreter, a timeout.
The server cancels a statement that runs longer than 0.8 of the op timeout (max_statement_time) and gives up a
row lock after innodb_lock_wait_timeout (a definite fail either way), before the interpreter gives up on the op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pymysql
from pymysql.constants import CLIENT

from clusters.mariadb.tables import TABLES, Rejected, Tables
from harness.client import close_quietly, refused
from harness.errors import BadInput, ClusterError
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

USER = "harness"
ISOLATION = {
    "read-committed": "READ COMMITTED",
    "repeatable-read": "REPEATABLE READ",
    "serializable": "SERIALIZABLE",
}
WORKLOADS = frozenset(TABLES)
# Server errors by which it refused the transaction (rolled back, an answer): definite at any stage.
REFUSALS = {1213: "deadlock", 1205: "lock-wait-timeout", 1020: "record-changed", 1062: "duplicate-key"}


def error_number(e: BaseException) -> int | None:
    """The MySQL error number of a PyMySQL error (client errors are 2000-2999), or None."""
    args = getattr(e, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _first_line(e: BaseException) -> str:
    args: tuple[object, ...] = tuple(getattr(e, "args", ()))
    text = str(args[1]) if len(args) > 1 else str(e)
    text = text.strip()
    return text.splitlines()[0] if text else type(e).__name__


def describe(e: BaseException) -> str:
    """The op's error: a refusal (see `harness.client.refused`) when the server decided against the transaction,
    else the error number and its first line."""
    n = error_number(e)
    if n in REFUSALS:
        return refused(f"{REFUSALS[n]} ({n})")
    return f"{n}: {_first_line(e)}" if n is not None else _first_line(e)


def outcome(e: BaseException, *, stage: str, read_only: bool) -> str:
    """fail or info for an error raised in `stage` ("body": before COMMIT was sent; "commit")."""
    if stage == "body" or read_only or error_number(e) in REFUSALS:
        return "fail"
    return "info"


class MariaDBClient:
    """Unopened it is a factory; `open(test, node)` returns a client with its own connection. `home` is the node
    every client talks to (routing=one), or None: each its own node."""

    def __init__(self, *, workload: str, isolation: str, home: str | None, port: int, password: str,
                 node: str | None = None) -> None:
        if workload not in TABLES:
            raise BadInput(f"the mariadb client has no workload {workload!r} (it has: {', '.join(sorted(TABLES))})")
        if isolation not in ISOLATION:
            raise BadInput(f"unknown isolation {isolation!r} (one of {', '.join(ISOLATION)})")
        self.workload = workload
        self.isolation = isolation
        self.home = home
        self.port = port
        self._password = password
        self.node = node
        self.tables: Tables = TABLES[workload]
        self.conn: pymysql.connections.Connection | None = None

    def open(self, test: Test, node: str) -> MariaDBClient:
        c = MariaDBClient(workload=self.workload, isolation=self.isolation, home=self.home, port=self.port,
                          password=self._password, node=node)
        try:
            c.conn = c._connect(test)
        except pymysql.MySQLError:
            c.conn = None  # a node down under a nemesis must not fail the run: the first op reports it
        return c

    @property
    def target(self) -> str:
        return self.home or self.node or ""

    def _connect(self, test: Test) -> pymysql.connections.Connection:
        t = test.op_timeout
        lock_wait = max(1, int(t / 2))
        return pymysql.connect(
            host=test.node_host(self.target), port=self.port, user=USER, password=self._password, database="harness",
            connect_timeout=max(1, int(t)), read_timeout=t * 0.9, write_timeout=t * 0.9, autocommit=False,
            client_flag=CLIENT.FOUND_ROWS,
            init_command=(f"SET SESSION tx_isolation = '{ISOLATION[self.isolation].replace(' ', '-')}', "
                          f"SESSION max_statement_time = {t * 0.8:.3f}, "
                          f"SESSION innodb_lock_wait_timeout = {lock_wait}"),
        )

    def setup(self, test: Test) -> None:
        try:
            conn = self.conn or self._connect(test)
            self.conn = conn
            with conn.cursor() as cur:
                self.tables.create(cur, test)
            conn.commit()
        except pymysql.MySQLError as e:
            raise ClusterError(f"cannot create the {self.workload} tables on {self.target}: {describe(e)}") from e

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        close_quietly(conn)

    def invoke(self, test: Test, op: Op) -> Op:
        node = self.target
        if self.conn is None:
            try:
                self.conn = self._connect(test)
            except pymysql.MySQLError as e:
                return op.replace(type="fail", node=node, error=f"connect: {describe(e)}")
        conn = self.conn
        stage = "body"
        try:
            with conn.cursor() as cur:
                value = self.tables.perform(cur, op)
            stage = "commit"
            conn.commit()
        except Rejected as e:
            self._rollback()
            return op.replace(type="fail", node=node, error=refused(str(e)))
        except pymysql.MySQLError as e:
            self._rollback()
            return op.replace(type=outcome(e, stage=stage, read_only=self.tables.read_only(op)), node=node,
                              error=describe(e))
        return op.replace(type="ok", value=value, node=node)

    def _rollback(self) -> None:
        """Back to no transaction; a broken connection is dropped (the next op reconnects)."""
        conn = self.conn
        if conn is None:
            return
        try:
            conn.rollback()
        except pymysql.MySQLError:
            self._drop()
