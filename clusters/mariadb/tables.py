"""The SQL of each workload on MariaDB: its tables and how each op of its vocabulary becomes statements.

Owns one small class per workload (create the tables, perform an op inside the open transaction, say whether an
op is read-only) and `TABLES`, the map from workload name to it. The op vocabularies are the workloads' (see
each module in `workloads/`); values come back in the shapes their checkers expect. Does not open connections,
commit, or classify errors (see `clusters.mariadb.client`): `perform` runs inside a transaction the client
commits, and raises `Rejected` when the op must not happen (the client rolls back and records a refusal).

What InnoDB does with these statements is the point of the tests: a plain SELECT reads the transaction's
snapshot (taken at its first read under repeatable read, per statement under read committed, a shared-locking
read under serializable), while UPDATE and INSERT ... ON DUPLICATE KEY UPDATE lock and write the latest committed
version of the row, whatever the snapshot held. Tables are InnoDB with a primary key (Galera replicates nothing
else reliably).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pymysql.cursors import Cursor

from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test


class Rejected(Exception):
    """The op was refused by the workload's own rule (a cas whose old value did not match, insufficient funds):
    it did not happen."""


class Tables(Protocol):
    def create(self, cur: Cursor, test: Test) -> None: ...

    def perform(self, cur: Cursor, op: Op) -> object: ...

    def read_only(self, op: Op) -> bool: ...


def _bad(workload: str, op: Op) -> BadInput:
    return BadInput(f"the mariadb client cannot perform {op.f!r} with value {op.value!r} of workload {workload}")


def _one(cur: Cursor, sql: str, args: tuple[object, ...]) -> Any:
    """The first column of the first row, or None."""
    cur.execute(sql, args)
    row = cur.fetchone()
    return row[0] if row else None


class ListAppend:
    """Lists of ints per key, as comma-separated text: append = insert or concatenate; read = the list."""

    def create(self, cur: Cursor, test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_append (k BIGINT PRIMARY KEY, v TEXT NOT NULL) ENGINE=InnoDB")

    def perform(self, cur: Cursor, op: Op) -> object:
        if op.f != "txn":
            raise _bad("list-append", op)
        out: list[list[object]] = []
        for f, k, v in op.value:
            if f == "r":
                text = _one(cur, "SELECT v FROM h_append WHERE k = %s", (k,))
                out.append(["r", k, [int(x) for x in text.split(",")] if text else []])
            elif f == "append":
                cur.execute("INSERT INTO h_append (k, v) VALUES (%s, %s) "
                            "ON DUPLICATE KEY UPDATE v = CONCAT(v, ',', VALUES(v))", (k, str(int(v))))
                out.append(["append", k, v])
            else:
                raise _bad("list-append", op)
        return out

    def read_only(self, op: Op) -> bool:
        return all(m[0] == "r" for m in op.value)


class RwRegister:
    """One BIGINT per key: write = upsert; read = the value (None if absent)."""

    def create(self, cur: Cursor, test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_rw (k BIGINT PRIMARY KEY, v BIGINT) ENGINE=InnoDB")

    def perform(self, cur: Cursor, op: Op) -> object:
        if op.f != "txn":
            raise _bad("rw-register", op)
        out: list[list[object]] = []
        for f, k, v in op.value:
            if f == "r":
                out.append(["r", k, _one(cur, "SELECT v FROM h_rw WHERE k = %s", (k,))])
            elif f == "w":
                cur.execute("INSERT INTO h_rw (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)", (k, v))
                out.append(["w", k, v])
            else:
                raise _bad("rw-register", op)
        return out

    def read_only(self, op: Op) -> bool:
        return all(m[0] == "r" for m in op.value)


class Register:
    """Linearizable registers per key: read, write (upsert), cas = UPDATE ... WHERE v = old; a cas that matched
    no row did not happen (the connection counts matched rows, not changed ones: see the client's FOUND_ROWS)."""

    def create(self, cur: Cursor, test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_reg (k BIGINT PRIMARY KEY, v BIGINT) ENGINE=InnoDB")

    def perform(self, cur: Cursor, op: Op) -> object:
        k = op.value[0]
        if op.f == "read":
            return (k, _one(cur, "SELECT v FROM h_reg WHERE k = %s", (k,)))
        if op.f == "write":
            cur.execute("INSERT INTO h_reg (k, v) VALUES (%s, %s) ON DUPLICATE KEY UPDATE v = VALUES(v)",
                        (k, op.value[1]))
            return op.value
        if op.f == "cas":
            old, new = op.value[1]
            if cur.execute("UPDATE h_reg SET v = %s WHERE k = %s AND v = %s", (new, k, old)) != 1:
                raise Rejected("cas-mismatch")
            return op.value
        raise _bad("register", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


class Bank:
    """Accounts with balances. transfer: read both balances, refuse if the source would go negative, then move
    the amount with relative updates; read: every account in one statement."""

    def create(self, cur: Cursor, test: Test) -> None:
        from workloads.bank import initial_balances

        cur.execute("CREATE TABLE IF NOT EXISTS h_accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL) "
                    "ENGINE=InnoDB")
        for account, balance in initial_balances(test).items():
            cur.execute("INSERT IGNORE INTO h_accounts (id, balance) VALUES (%s, %s)", (account, balance))

    def perform(self, cur: Cursor, op: Op) -> object:
        if op.f == "read":
            cur.execute("SELECT id, balance FROM h_accounts ORDER BY id")
            return {int(a): int(b) for a, b in cur.fetchall()}
        if op.f == "transfer" and isinstance(op.value, Mapping):
            src, dst, amount = op.value["from"], op.value["to"], op.value["amount"]
            cur.execute("SELECT id, balance FROM h_accounts WHERE id IN (%s, %s)", (src, dst))
            rows = {int(a): int(b) for a, b in cur.fetchall()}
            if src not in rows or dst not in rows:
                raise Rejected(f"no account {src if src not in rows else dst}")
            if rows[src] < amount:
                raise Rejected("insufficient funds")
            cur.execute("UPDATE h_accounts SET balance = balance - %s WHERE id = %s", (amount, src))
            cur.execute("UPDATE h_accounts SET balance = balance + %s WHERE id = %s", (amount, dst))
            return op.value
        raise _bad("bank", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


class Set:
    """A table of elements without a unique constraint on them (a duplicated insert would show); read = all."""

    def create(self, cur: Cursor, test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_set (id BIGINT AUTO_INCREMENT PRIMARY KEY, e BIGINT NOT NULL) "
                    "ENGINE=InnoDB")

    def perform(self, cur: Cursor, op: Op) -> object:
        if op.f == "add":
            cur.execute("INSERT INTO h_set (e) VALUES (%s)", (op.value,))
            return op.value
        if op.f == "read":
            cur.execute("SELECT e FROM h_set ORDER BY e")
            return [int(r[0]) for r in cur.fetchall()]
        raise _bad("set", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


class Counter:
    """One row holding a count; add = relative update; read = the count."""

    def create(self, cur: Cursor, test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_counter (id INT PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB")
        cur.execute("INSERT IGNORE INTO h_counter (id, n) VALUES (0, 0)")

    def perform(self, cur: Cursor, op: Op) -> object:
        if op.f == "add":
            cur.execute("UPDATE h_counter SET n = n + %s WHERE id = 0", (op.value,))
            return op.value
        if op.f == "read":
            n = _one(cur, "SELECT n FROM h_counter WHERE id = %s", (0,))
            return int(n) if n is not None else 0
        raise _bad("counter", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


TABLES: dict[str, Tables] = {
    "list-append": ListAppend(),
    "rw-register": RwRegister(),
    "register": Register(),
    "bank": Bank(),
    "set": Set(),
    "counter": Counter(),
}
