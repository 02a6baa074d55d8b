"""Every workload's op vocabulary on Redis: which keys hold what, and which commands each op becomes.

Owns `Wire` (one op's commands on one connection, noting when a command that may change data went out) and
one function per workload, `PERFORMERS` mapping each workload name to it. A performer returns the completed
value in the shape its workload documents (`workloads/*.py`), raises `Mismatch` for a compare that did not
hold (nothing was written) and lets redis-py's errors through: classifying them is `clusters.redis.client`'s.
Does not choose the node (the client does).

Keys, one prefix per workload (runs of different workloads on one cluster cannot meet):
    register     r:<k>          the value as JSON; read GET, write SET, cas = one Lua script (GET, compare,
                                SET): atomic on the server
    set          s              one Redis set; add SADD, read SMEMBERS
    list-append  l:<k>          one Redis list per key; txn = MULTI, LRANGE / RPUSH per micro-op in order,
                                EXEC: the server runs the queued commands as one unit, so a read sees the
                                txn's own earlier appends and no other client's command in between
    counter      c              add INCRBY, read GET (absent = 0)
    unique-ids   u              generate INCR (the new value is the id)
    idempotent   i:done:<key>   the result of an applied request; i:seq the last result handed out;
                 i:applied      a hash {key: times applied}; request = one Lua script: if i:done:<key>
                                exists return it, else take the next i:seq, store it as the marker and
                                count the application; read = HGETALL i:applied
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import redis

from harness.errors import BadInput
from harness.op import Op

# GET, compare with ARGV[1] (JSON; 'null' matches an absent key), SET ARGV[2]: 1 if it set, else 0.
_CAS = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] or (v == false and ARGV[1] == 'null') then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: i:done:<key>, i:seq, i:applied; ARGV: key. Returns the request's result (new or earlier).
_IDEMPOTENT = """
local done = redis.call('GET', KEYS[1])
if done then return tonumber(done) end
local r = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], r)
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return r
"""


class Mismatch(Exception):
    """A compare-and-set found another value: the server answered, and wrote nothing."""


class Wire:
    """One op's commands on a connection. `effect_sent` becomes true just before the first command that may
    change data is sent: until then, whatever goes wrong, the op had no effect."""

    def __init__(self, conn: redis.Redis) -> None:
        self.conn = conn
        self.effect_sent = False

    def read(self, *command: object) -> Any:
        return self.conn.execute_command(*command)

    def write(self, *command: object) -> Any:
        self.effect_sent = True
        return self.conn.execute_command(*command)

    def transaction(self, commands: list[tuple[object, ...]]) -> list[Any]:
        """MULTI, the commands (queued: no effect yet), EXEC: their replies. Any error before EXEC leaves the
        transaction queued on the server, so the connection is dropped (the server discards it)."""
        try:
            self.read("MULTI")
            for c in commands:
                self.read(*c)
        except redis.RedisError:
            if self.conn.connection is not None:
                self.conn.connection.disconnect()
            raise
        replies = self.write("EXEC")
        return list(replies or [])


Performer = Callable[[Wire, Op], object]


def _bad(workload: str, op: Op) -> BadInput:
    return BadInput(f"the redis client cannot perform f={op.f!r} with value {op.value!r} of workload {workload!r}")


def _int(v: str | bytes | int | None) -> int:
    return int(v) if v is not None else 0


def register(w: Wire, op: Op) -> object:
    """read (k, None) -> (k, v | None); write (k, v); cas (k, (old, new)): Mismatch when the value differs."""
    if op.f == "read":
        k = op.value[0]
        v = w.read("GET", f"r:{k}")
        return (k, json.loads(v) if v is not None else None)
    if op.f == "write":
        k, v = op.value
        w.write("SET", f"r:{k}", json.dumps(v))
        return op.value
    if op.f == "cas":
        k, (old, new) = op.value
        if not w.write("EVAL", _CAS, 1, f"r:{k}", json.dumps(old), json.dumps(new)):
            raise Mismatch("cas-mismatch")
        return op.value
    raise _bad("register", op)


def set_(w: Wire, op: Op) -> object:
    """add element; read -> sorted elements."""
    if op.f == "add":
        w.write("SADD", "s", int(op.value))
        return op.value
    if op.f == "read":
        return sorted(int(e) for e in w.read("SMEMBERS", "s"))
    raise _bad("set", op)


def list_append(w: Wire, op: Op) -> object:
    """txn [["append", k, v] | ["r", k, None], ...] in one MULTI/EXEC; reads filled with the whole list."""
    if op.f != "txn":
        raise _bad("list-append", op)
    commands: list[tuple[object, ...]] = []
    for f, k, v in op.value:
        if f == "r":
            commands.append(("LRANGE", f"l:{k}", 0, -1))
        elif f == "append":
            commands.append(("RPUSH", f"l:{k}", int(v)))
        else:
            raise BadInput(f"unknown list-append micro-op {f!r}")
    replies = w.transaction(commands)
    if len(replies) != len(commands):
        raise redis.ResponseError(f"EXEC answered {len(replies)} replies to {len(commands)} commands")
    out: list[list[object]] = []
    for (f, k, v), reply in zip(op.value, replies):
        if isinstance(reply, redis.ResponseError):  # a command failed inside EXEC: the others ran
            raise reply
        out.append(["r", k, [int(x) for x in reply]] if f == "r" else ["append", k, v])
    return out


def counter(w: Wire, op: Op) -> object:
    """add delta -> delta; read -> the count (0 before any add)."""
    if op.f == "add":
        w.write("INCRBY", "c", int(op.value))
        return op.value
    if op.f == "read":
        return _int(w.read("GET", "c"))
    raise _bad("counter", op)


def unique_ids(w: Wire, op: Op) -> object:
    """generate -> the counter's new value."""
    if op.f == "generate":
        return int(w.write("INCR", "u"))
    raise _bad("unique-ids", op)


def idempotent(w: Wire, op: Op) -> object:
    """request {"key", ...} -> {..., "result": r}; read -> {key: times applied}."""
    if op.f == "request" and isinstance(op.value, Mapping):
        key = str(op.value["key"])
        r = w.write("EVAL", _IDEMPOTENT, 3, f"i:done:{key}", "i:seq", "i:applied", key)
        return {**op.value, "result": int(r)}
    if op.f == "read":
        return _hash_counts(w.read("HGETALL", "i:applied"))
    raise _bad("idempotent", op)


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _hash_counts(reply: Mapping[bytes | str, bytes | str | int] | list[bytes | str | int] | None) -> dict[str, int]:
    """HGETALL's reply (redis-py makes it a dict; a flat [field, value, ...] list otherwise) as {field: int}."""
    if isinstance(reply, Mapping):
        return {_text(k): int(v) for k, v in reply.items()}
    items = list(reply or [])
    return {_text(k): int(v) for k, v in zip(items[0::2], items[1::2])}


PERFORMERS: dict[str, Performer] = {
    "register": register,
    "set": set_,
    "list-append": list_append,
    "counter": counter,
    "unique-ids": unique_ids,
    "idempotent": idempotent,
}
WORKLOADS = frozenset(PERFORMERS)
