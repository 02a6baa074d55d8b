"""The SQL of each workload on Postgres: its tables and how each op of its vocabulary becomes statements.

Owns one small class per workload (create the tables, perform an op inside the open transaction, say whether an
op is read-only) and `TABLES`, the map from workload name to it. The op vocabularies are the workloads' (see
each module in `workloads/`); values come back in the shapes their checkers expect. Does not open connections,
commit, or classify errors (see `clusters.postgres.client`): `perform` runs inside a transaction the client
commits, and raises `Rejected` when the op must not happen (the client rolls back and records `fail`).

Every statement works at every isolation level; what differs is what concurrency does to it: at read committed
an UPDATE re-reads the latest row version (so `balance = balance - n` never loses an update but a check made by
an earlier SELECT may be stale), while at repeatable read and serializable a concurrent update aborts the
transaction with a serialization failure (40001), which the client records as `fail`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from psycopg import Cursor
from psycopg.rows import TupleRow

from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test


class Rejected(Exception):
    """The op was refused by the workload's own rule (e.g. insufficient funds): it did not happen."""


class Tables(Protocol):
    def create(self, cur: Cursor[TupleRow], test: Test) -> None: ...

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object: ...

    def read_only(self, op: Op) -> bool: ...


def _bad(workload: str, op: Op) -> BadInput:
    return BadInput(f"the postgres client cannot perform {op.f!r} with value {op.value!r} of workload {workload}")


class ListAppend:
    """Lists of ints per key, as bigint[]: append = upsert concatenating; read = the array ([] if absent)."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_append (k bigint PRIMARY KEY, v bigint[] NOT NULL)")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f != "txn":
            raise _bad("list-append", op)
        out: list[list[object]] = []
        for f, k, v in op.value:
            if f == "r":
                row = cur.execute("SELECT v FROM h_append WHERE k = %s", (k,)).fetchone()
                out.append(["r", k, list(row[0]) if row else []])
            elif f == "append":
                cur.execute(
                    "INSERT INTO h_append (k, v) VALUES (%s, ARRAY[%s]::bigint[]) "
                    "ON CONFLICT (k) DO UPDATE SET v = h_append.v || EXCLUDED.v",
                    (k, v),
                )
                out.append(["append", k, v])
            else:
                raise _bad("list-append", op)
        return out

    def read_only(self, op: Op) -> bool:
        return all(m[0] == "r" for m in op.value)


class RwRegister:
    """One bigint per key: write = upsert; read = the value (None if absent)."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_register (k bigint PRIMARY KEY, v bigint)")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f != "txn":
            raise _bad("rw-register", op)
        out: list[list[object]] = []
        for f, k, v in op.value:
            if f == "r":
                row = cur.execute("SELECT v FROM h_register WHERE k = %s", (k,)).fetchone()
                out.append(["r", k, row[0] if row else None])
            elif f == "w":
                cur.execute(
                    "INSERT INTO h_register (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                    (k, v),
                )
                out.append(["w", k, v])
            else:
                raise _bad("rw-register", op)
        return out

    def read_only(self, op: Op) -> bool:
        return all(m[0] == "r" for m in op.value)


class Bank:
    """Accounts with balances. transfer: read both balances, refuse if the source would go negative, then move
    the amount with relative updates; read: every account in one statement (one snapshot)."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        from workloads.bank import initial_balances

        cur.execute("CREATE TABLE IF NOT EXISTS h_accounts (id int PRIMARY KEY, balance bigint NOT NULL)")
        for account, balance in initial_balances(test).items():
            cur.execute("INSERT INTO h_accounts (id, balance) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
                        (account, balance))

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f == "read":
            return {int(a): int(b) for a, b in cur.execute("SELECT id, balance FROM h_accounts ORDER BY id")}
        if op.f == "transfer" and isinstance(op.value, Mapping):
            src, dst, amount = op.value["from"], op.value["to"], op.value["amount"]
            rows: dict[int, int] = dict(cur.execute("SELECT id, balance FROM h_accounts WHERE id = ANY(%s)", ([src, dst],)).fetchall())
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
    """A table of elements without a unique constraint (so a duplicated insert would show); read = all."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_set (id bigserial PRIMARY KEY, e bigint NOT NULL)")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f == "add":
            cur.execute("INSERT INTO h_set (e) VALUES (%s)", (op.value,))
            return op.value
        if op.f == "read":
            return [r[0] for r in cur.execute("SELECT e FROM h_set ORDER BY e")]
        raise _bad("set", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


class Counter:
    """One row holding a count; add = relative update; read = the count."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_counter (id int PRIMARY KEY, n bigint NOT NULL)")
        cur.execute("INSERT INTO h_counter (id, n) VALUES (0, 0) ON CONFLICT (id) DO NOTHING")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f == "add":
            cur.execute("UPDATE h_counter SET n = n + %s WHERE id = 0", (op.value,))
            return op.value
        if op.f == "read":
            row = cur.execute("SELECT n FROM h_counter WHERE id = 0").fetchone()
            return int(row[0]) if row else 0
        raise _bad("counter", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


class UniqueIds:
    """Ids handed out by incrementing one row (`UPDATE ... RETURNING`): unique only if the row lock and the
    isolation level do their work (a sequence would be unique by construction and test nothing)."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_ids (id int PRIMARY KEY, n bigint NOT NULL)")
        cur.execute("INSERT INTO h_ids (id, n) VALUES (0, 0) ON CONFLICT (id) DO NOTHING")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f == "generate":
            row = cur.execute("UPDATE h_ids SET n = n + 1 WHERE id = 0 RETURNING n").fetchone()
            if row is None:
                raise Rejected("the id row is missing")
            return int(row[0])
        raise _bad("unique-ids", op)

    def read_only(self, op: Op) -> bool:
        return False


class Idempotent:
    """Payments with an idempotency key. A request first looks the key up in h_idem: if present, it returns
    the stored result (a retry of an applied request); else it inserts the payment row and the key with the
    payment's id as result, in the same transaction. The key's primary key makes a concurrent duplicate fail
    (unique violation, rolled back with its payment row). read = {key: number of payment rows}: a payment
    applied twice would show as 2."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_payments (id bigserial PRIMARY KEY, key text NOT NULL, "
                    "account int NOT NULL, amount bigint NOT NULL)")
        cur.execute("CREATE TABLE IF NOT EXISTS h_idem (key text PRIMARY KEY, result bigint NOT NULL)")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        if op.f == "request" and isinstance(op.value, Mapping):
            key = str(op.value["key"])
            row = cur.execute("SELECT result FROM h_idem WHERE key = %s", (key,)).fetchone()
            if row is None:
                pid = cur.execute(
                    "INSERT INTO h_payments (key, account, amount) VALUES (%s, %s, %s) RETURNING id",
                    (key, op.value.get("account", 0), op.value.get("amount", 0)),
                ).fetchone()
                assert pid is not None
                cur.execute("INSERT INTO h_idem (key, result) VALUES (%s, %s)", (key, pid[0]))
                result = int(pid[0])
            else:
                result = int(row[0])
            return {**op.value, "result": result}
        if op.f == "read":
            return {str(k): int(n) for k, n in cur.execute("SELECT key, count(*) FROM h_payments GROUP BY key")}
        raise _bad("idempotent", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


class Monotonic:
    """A version per key: write = increment (creating it at 1) and return the new version; read = the version
    (0 if absent)."""

    def create(self, cur: Cursor[TupleRow], test: Test) -> None:
        cur.execute("CREATE TABLE IF NOT EXISTS h_versions (k bigint PRIMARY KEY, v bigint NOT NULL)")

    def perform(self, cur: Cursor[TupleRow], op: Op) -> object:
        k = op.value[0]
        if op.f == "write":
            row = cur.execute(
                "INSERT INTO h_versions (k, v) VALUES (%s, 1) ON CONFLICT (k) DO UPDATE SET v = h_versions.v + 1 "
                "RETURNING v",
                (k,),
            ).fetchone()
            assert row is not None
            return [k, int(row[0])]
        if op.f == "read":
            row = cur.execute("SELECT v FROM h_versions WHERE k = %s", (k,)).fetchone()
            return [k, int(row[0]) if row else 0]
        raise _bad("monotonic", op)

    def read_only(self, op: Op) -> bool:
        return op.f == "read"


TABLES: dict[str, Tables] = {
    "list-append": ListAppend(),
    "rw-register": RwRegister(),
    "bank": Bank(),
    "set": Set(),
    "counter": Counter(),
    "unique-ids": UniqueIds(),
    "idempotent": Idempotent(),
    "monotonic": Monotonic(),
}
