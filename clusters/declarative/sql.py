"""The `postgres` and `mysql` protocols of a file-made client: the file's SQL per op, one transaction per op,
every `{placeholder}` a bound parameter (never pasted into the SQL text).

Owns `SqlClient` (connect, run an op's statements, commit) and how rows become values: a read's value is the
first column of its last statement's rows (register and counter: of the first row, none for a register key
without a row, 0 for a counter; set and list-append: the elements of every row in order, where an array column
gives its elements and a text column its comma-separated ones).
A list-append txn runs each micro-op's SQL (`list-append.append`, `list-append.read`) in one transaction.

Outcomes are the built-in systems' own tables, not a second copy: `clusters.postgres.client.outcome/describe`
for `postgres` (SQLSTATE classes), `clusters.mariadb.client.outcome/describe` for `mysql` (server error
numbers). In short:
    ok     COMMIT returned.
    fail   nothing was sent (connect failed); any error before COMMIT was sent; any failure of an op that only
           reads; the server refused the transaction (serialization failure 40001, deadlock 40P01 / 1213,
           constraint class 23 / duplicate key 1062, lock wait timeout 1205): marked `refused(...)`, an answer;
           an op with `refused_when: no-rows` whose last statement touched no row (a cas whose old value did not
           match): rolled back, `refused(...)`.
    info   the connection broke or timed out while COMMIT was in flight, or COMMIT failed otherwise: it may have
           committed. Also, via the interpreter, a timeout.
Does not start the server (`clusters.declarative.db`) nor know the HTTP and Redis protocols.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psycopg
import pymysql
from pymysql.constants import CLIENT

from clusters.declarative import template
from clusters.declarative.client import register_value
from clusters.declarative.spec import ClientSpec
from clusters.mariadb import client as mariadb_client
from clusters.postgres import client as postgres_client
from harness.client import close_quietly, refused
from harness.control import NotYet, retry_until
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

Row = Sequence[object]


@dataclass(frozen=True)
class Driver:
    """What differs between the two SQL protocols: how to connect, the driver's error type, and the owning
    system's outcome table (`outcome(e, stage=, read_only=)`, `describe(e)`)."""

    error: type[Exception]
    connect: Callable[[Test, str, ClientSpec, str], object]
    outcome: Callable[..., str]
    describe: Callable[[Any], str]


def _postgres(test: Test, host: str, spec: ClientSpec, password: str) -> psycopg.Connection[object]:
    conn = psycopg.connect(host=host, port=spec.port, user=spec.user, password=password,
                           dbname=spec.database or "postgres", connect_timeout=max(2, int(test.op_timeout)),
                           options=f"-c statement_timeout={max(100, int(test.op_timeout * 800))}",
                           keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=2,
                           tcp_user_timeout=int(test.op_timeout * 1000))
    if spec.isolation:
        conn.isolation_level = postgres_client.ISOLATION[spec.isolation]
    return conn


def _mysql(test: Test, host: str, spec: ClientSpec, password: str) -> pymysql.connections.Connection:
    t = test.op_timeout
    level = mariadb_client.ISOLATION[spec.isolation] if spec.isolation else None
    return pymysql.connect(host=host, port=spec.port, user=spec.user, password=password,
                           database=spec.database or None, connect_timeout=max(1, int(t)), read_timeout=t * 0.9,
                           write_timeout=t * 0.9, autocommit=False,
                           client_flag=CLIENT.FOUND_ROWS,  # rowcount = rows matched: a cas with old == new is ok
                           init_command=f"SET SESSION TRANSACTION ISOLATION LEVEL {level}" if level else None)


DRIVERS: Mapping[str, Driver] = {
    "postgres": Driver(psycopg.Error, _postgres, postgres_client.outcome, postgres_client.describe),
    "mysql": Driver(pymysql.MySQLError, _mysql, mariadb_client.outcome, mariadb_client.describe),
}


class NoRows(Exception):
    """An op with `refused_when: no-rows` whose last statement touched no row: the client rolls back."""


def bind(text: str, values: Mapping[str, object]) -> tuple[str, dict[str, object]]:
    """`text` with each placeholder turned into a bound parameter (`%(pN)s`, the paramstyle of psycopg and
    PyMySQL alike; a literal % is doubled) and the parameters."""
    params: dict[str, object] = {}

    def one(m: Any) -> str:
        name = f"p{len(params)}"
        params[name] = values[m.group(1)]
        return f"%({name})s"

    return template.PLACEHOLDER.sub(one, text.replace("%", "%%")), params


class SqlClient:
    """Unopened it is a factory; `open(test, node)` returns a client with its own connection to that node."""

    def __init__(self, spec: ClientSpec, conf: Mapping[str, str], *, workload: str, secret: str,
                 node: str | None = None, ip: str = "") -> None:
        self.spec, self.conf, self.workload, self.node, self.ip = spec, dict(conf), workload, node, ip
        self.driver = DRIVERS[spec.protocol]
        self._secret = secret
        self.conn: Any = None

    def open(self, test: Test, node: str) -> SqlClient:
        c = SqlClient(self.spec, self.conf, workload=self.workload, secret=self._secret, node=node,
                      ip=test.node_host(node))
        try:
            c.conn = c._connect(test)
        except self.driver.error:
            c.conn = None  # a node down under a nemesis must not fail the run: the first op reports it
        return c

    def _connect(self, test: Test) -> object:
        return self.driver.connect(test, self.ip, self.spec, self._secret)

    def setup(self, test: Test) -> None:
        """The file's `setup` statements, once, committed; retried while the server still refuses (starting)."""
        def attempt() -> None:
            try:
                self.conn = self.conn or self._connect(test)
                with self.conn.cursor() as cur:
                    for line in self.spec.setup:
                        cur.execute(*bind(line, self._values()))
                self.conn.commit()
            except self.driver.error as e:
                self._drop()
                raise NotYet(self.driver.describe(e)) from None

        retry_until(15.0, attempt, every=0.5, what=f"{self.spec.protocol} client.setup on {self.node}")

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        self._drop()

    def _drop(self) -> None:
        conn, self.conn = self.conn, None
        close_quietly(conn)

    def _values(self, **op_values: object) -> dict[str, object]:
        v: dict[str, object] = {f"conf.{k}": val for k, val in self.conf.items()}
        v.update(node=self.node or "", ip=self.ip, port=self.spec.port, **op_values)
        return v

    # ------------------------------------------------------------------------------------------ invoke
    def invoke(self, test: Test, op: Op) -> Op:
        if self.conn is None:
            try:
                self.conn = self._connect(test)
            except self.driver.error as e:
                return op.replace(type="fail", node=self.node, error=f"connect: {self.driver.describe(e)}")
        stage = "body"
        try:
            with self.conn.cursor() as cur:
                value = self._perform(cur, op)
            stage = "commit"
            self.conn.commit()
        except NoRows as e:
            self._rollback()
            return op.replace(type="fail", node=self.node, error=refused(str(e)))
        except self.driver.error as e:
            self._rollback()
            kind = self.driver.outcome(e, stage=stage, read_only=_read_only(op))
            return op.replace(type=kind, node=self.node, error=self.driver.describe(e))
        return op.replace(type="ok", node=self.node, value=value)

    def _perform(self, cur: object, op: Op) -> object:
        """Run the op's statements in the open transaction; the completed op's value."""
        w, f, v = self.workload, op.f, op.value
        if w == "register":
            key = v[0]
            extra = {"value": v[1]} if f == "write" else {"old": v[1][0], "new": v[1][1]} if f == "cas" else {}
            rows = self._run(cur, f, key=key, **extra)
            return (key, _scalar(rows)) if f == "read" else v
        if w == "list-append":
            out: list[list[object]] = []
            for mf, k, mv in v:
                if mf == "r":
                    out.append(["r", k, _column(self._run(cur, "list-append.read", key=k))])
                else:
                    self._run(cur, "list-append.append", key=k, value=mv)
                    out.append([mf, k, mv])
            return out
        rows = self._run(cur, f"{w}.{f}", **({"value": v} if f == "add" else {}))
        if f != "read":
            return v
        if w == "counter":
            n = _scalar(rows)
            return 0 if n is None else n  # an integer column, or text that is one (register_value)
        return _column(rows)

    def _run(self, cur: Any, name: str, **op_values: object) -> list[Row]:
        """The statements of op `name`; the last one's rows (none if it returns none). NoRows when the op is
        `refused_when: no-rows` and the last statement touched nothing."""
        spec = self.spec.ops[name]
        values = self._values(**op_values)
        for line in spec.sql:
            cur.execute(*bind(line, values))
        if spec.refused_without_rows and cur.rowcount == 0:
            raise NoRows(f"{name}: no row matched")
        return list(cur.fetchall()) if cur.description else []

    def _rollback(self) -> None:
        """Back to no transaction; a broken connection is dropped (the next op reconnects)."""
        if self.conn is None:
            return
        try:
            self.conn.rollback()
        except self.driver.error:
            self._drop()


def _read_only(op: Op) -> bool:
    if op.f == "txn":
        return all(m[0] == "r" for m in op.value)
    return op.f == "read"


def _scalar(rows: list[Row]) -> object:
    """The first column of the first row (an integer when its text is one), None without rows."""
    return register_value(rows[0][0]) if rows else None


def _column(rows: list[Row]) -> list[object]:
    """The elements of every row's first column, in row order: an array (Postgres) is its elements, a text is
    split on commas (MySQL's GROUP_CONCAT or a CONCAT-built list), anything else is one element."""
    out: list[object] = []
    for row in rows:
        v = row[0]
        if isinstance(v, (list, tuple)):
            out.extend(v)
        elif isinstance(v, str):
            out.extend(register_value(x.strip()) for x in v.split(",") if x.strip())
        elif v is not None:
            out.append(v)
    return out
