"""Every workload's op vocabulary on etcd: which keys hold what, and how each op becomes etcd requests.

Owns one small class per workload (`setup` creates what the workload needs before the run, idempotently;
`perform` turns one op into requests and returns the completed value in the shape its checker expects) and
`PERFORMERS`, the map from workload name to it. The vocabularies are those documented in `workloads/*.py`.
Does not open connections or classify errors (see `clusters.etcd.client`); the optimistic read-modify-write
machinery is `clusters.etcd.guarded`. `perform` raises `Rejected` or `Conflict` for an op that definitely did
not happen, `EtcdError` for a request that did not complete, and `BadInput` for an op outside the vocabulary.

Keys, one prefix per workload (so runs of different workloads on one cluster cannot meet):
    register     r/<k>            JSON value; cas = txn comparing the value
    set          s/<element>      one key per element; read = one range over the prefix (atomic, one revision)
    list-append  l/<k>            the list as JSON; txn = snapshot + guarded commit of every touched key
    rw-register  w/<k>            JSON value; txn = snapshot of the keys it reads before writing them, commit
                                  guarded on those (blind writes need no guard: the commit is atomic anyway)
    bank         b/<account>      balance; setup creates every account in one txn guarded on their absence;
                                  transfer = guarded read-modify-write of both accounts; read = one range
    counter      c/n              the count (absent = 0); add = guarded read-modify-write (cas loop)
    unique-ids   u/next           the last id handed out; generate = guarded increment, returns the new value
    monotonic    m/<k>            the key's version (absent = 0); write = guarded increment, returns the new one
    idempotent   i/done/<key>     the marker of an applied request (its create revision is the request's result)
                 i/pay/<key>/<id> one key per application of the payment (a duplicate would be a second key)
                                  request = ONE txn: if the marker is absent, put marker + payment; else read the
                                  marker. read = {key: number of payment keys}.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from clusters.etcd.gateway import (
    KV,
    EtcdError,
    compare_mod,
    compare_value,
    parse_kvs,
    prefix_end,
    request_put,
    request_range,
)
from clusters.etcd.guarded import (
    Rejected,
    Session,
    Snapshot,
    cas_update,
    guarded_update,
    txn_reply,
)
from harness.control import NotYet, retry_until
from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test


class Performer(Protocol):
    def setup(self, s: Session, test: Test) -> None: ...

    def perform(self, s: Session, op: Op) -> object: ...


def _bad(workload: str, op: Op) -> BadInput:
    return BadInput(f"the etcd client cannot perform f={op.f!r} with value {op.value!r} of workload {workload!r}")


def _element(s: str) -> Any:
    try:
        return int(s)
    except ValueError:
        return s


def _int(kv: KV | None) -> int:
    return int(kv.value) if kv is not None else 0


def _read_one(s: Session, key: str) -> KV | None:
    kvs = s.gw.range(key, serializable=s.serializable)
    return kvs[0] if kvs else None


class _NoSetup:
    def setup(self, s: Session, test: Test) -> None:
        pass


class Register(_NoSetup):
    """read (k, None) -> (k, v | None); write (k, v); cas (k, (old, new)): fails with "cas-mismatch"."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f == "read":
            k = op.value[0]
            kv = _read_one(s, f"r/{k}")
            return (k, json.loads(kv.value) if kv is not None else None)
        if op.f == "write":
            k, v = op.value
            s.gw.put(f"r/{k}", json.dumps(v))
            return op.value
        if op.f == "cas":
            k, (old, new) = op.value
            key = f"r/{k}"
            ok, _ = s.gw.txn([compare_value(key, json.dumps(old))], [request_put(key, json.dumps(new))])
            if not ok:
                raise Rejected("cas-mismatch")
            return op.value
        raise _bad("register", op)


class Set(_NoSetup):
    """add element; read -> sorted elements (one range over s/, served atomically at one revision)."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f == "add":
            s.gw.put(f"s/{op.value}", "")
            return op.value
        if op.f == "read":
            kvs = s.gw.range("s/", end=prefix_end("s/"), serializable=s.serializable, keys_only=True)
            return sorted(_element(kv.key[2:]) for kv in kvs)
        raise _bad("set", op)


class ListAppend(_NoSetup):
    """txn [["append", k, v] | ["r", k, None], ...]: a read sees the txn's own earlier appends."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f != "txn":
            raise _bad("list-append", op)
        mops = op.value
        keys = list(dict.fromkeys(f"l/{m[1]}" for m in mops))

        def apply(snap: Snapshot) -> tuple[list[list[object]], dict[str, str]]:
            state = {key: (json.loads(kv.value) if kv is not None else []) for key, kv in snap.items()}
            written: set[str] = set()
            out: list[list[object]] = []
            for f, k, v in mops:
                key = f"l/{k}"
                if f == "r":
                    out.append(["r", k, list(state[key])])
                elif f == "append":
                    state[key] = [*state[key], v]
                    written.add(key)
                    out.append(["append", k, v])
                else:
                    raise BadInput(f"unknown list-append micro-op {f!r}")
            return out, {key: json.dumps(state[key]) for key in keys if key in written}

        return guarded_update(s, keys, apply)


class RwRegister(_NoSetup):
    """txn [["w", k, v] | ["r", k, None], ...]: reads filled in (None if never written); a read after the txn's
    own write of the key sees that write. Guards cover exactly the keys whose snapshot value a read observed."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f != "txn":
            raise _bad("rw-register", op)
        mops = op.value
        observed: list[str] = []  # keys read before this txn wrote them: the txn depends on their value
        written: set[str] = set()
        for m in mops:
            if m[0] not in ("r", "w"):
                raise BadInput(f"unknown rw-register micro-op {m[0]!r}")
            key = f"w/{m[1]}"
            if m[0] == "r" and key not in written and key not in observed:
                observed.append(key)
            elif m[0] == "w":
                written.add(key)

        def apply(snap: Snapshot) -> tuple[list[list[object]], dict[str, str]]:
            state: dict[str, object] = {key: (json.loads(kv.value) if kv is not None else None) for key, kv in snap.items()}
            puts: dict[str, str] = {}
            out: list[list[object]] = []
            for f, k, v in mops:
                key = f"w/{k}"
                if f == "r":
                    out.append(["r", k, state[key]])
                else:
                    state[key] = v
                    puts[key] = json.dumps(v)
                    out.append(["w", k, v])
            return out, puts

        return guarded_update(s, observed, apply)


class Bank:
    """transfer {"from", "to", "amount"} (refused with "insufficient funds" if the source would go negative);
    read -> {account: balance} for every account, from one range (one revision)."""

    def setup(self, s: Session, test: Test) -> None:
        from workloads.bank import initial_balances

        balances = initial_balances(test)
        keys = [f"b/{a}" for a in balances]
        # One txn: every account is created, or (already created by an earlier setup) none is touched.
        guards = [compare_mod(key, 0) for key in keys]
        puts = [request_put(f"b/{a}", str(b)) for a, b in balances.items()]
        _retry_setup("bank", lambda: s.gw.txn(guards, puts))

    def perform(self, s: Session, op: Op) -> object:
        if op.f == "read":
            kvs = s.gw.range("b/", end=prefix_end("b/"), serializable=s.serializable)
            return {_element(kv.key[2:]): int(kv.value) for kv in kvs}
        if op.f == "transfer" and isinstance(op.value, Mapping):
            src, dst, amount = op.value["from"], op.value["to"], int(op.value["amount"])
            a, b = f"b/{src}", f"b/{dst}"

            def apply(snap: Snapshot) -> tuple[object, dict[str, str]]:
                missing = [k for k in (a, b) if snap.get(k) is None]
                if missing:
                    raise Rejected(f"no account {missing[0][2:]}")
                balance = {k: _int(snap[k]) for k in (a, b)}
                if balance[a] < amount:
                    raise Rejected("insufficient funds")
                balance[a] -= amount
                balance[b] += amount
                return op.value, {k: str(v) for k, v in balance.items()}

            return guarded_update(s, list(dict.fromkeys((a, b))), apply)
        raise _bad("bank", op)


class Counter(_NoSetup):
    """add delta -> delta (guarded read-modify-write of c/n); read -> the count (0 before any add)."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f == "add":
            delta = int(op.value)
            return cas_update(s, "c/n", lambda kv: (op.value, str(_int(kv) + delta)))
        if op.f == "read":
            return _int(_read_one(s, "c/n"))
        raise _bad("counter", op)


class UniqueIds(_NoSetup):
    """generate -> the next integer id (guarded increment of u/next: unique only if the guard does its work)."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f == "generate":
            def step(kv: KV | None) -> tuple[int, str]:
                new = _int(kv) + 1
                return new, str(new)

            return cas_update(s, "u/next", step)
        raise _bad("unique-ids", op)


class Monotonic(_NoSetup):
    """write [k, None] -> [k, v] (guarded increment: v is above every earlier version); read [k, None] -> [k, v]."""

    def perform(self, s: Session, op: Op) -> object:
        k = op.value[0]
        key = f"m/{k}"
        if op.f == "write":
            def step(kv: KV | None) -> tuple[list[object], str]:
                new = _int(kv) + 1
                return [k, new], str(new)

            return cas_update(s, key, step)
        if op.f == "read":
            return [k, _int(_read_one(s, key))]
        raise _bad("monotonic", op)


class Idempotent(_NoSetup):
    """request {"key", ...payload} -> {..., "result": r}, r the revision at which the payment was applied (a
    retry of an applied key returns the same r and applies nothing); read -> {key: times applied}."""

    def perform(self, s: Session, op: Op) -> object:
        if op.f == "request" and isinstance(op.value, Mapping):
            key = str(op.value["key"])
            payload = json.dumps({k: v for k, v in op.value.items() if k != "result"}, sort_keys=True)
            marker = f"i/done/{key}"
            payment = f"i/pay/{key}/{uuid.uuid4().hex[:12]}"  # any id unique to this attempt
            ok, revision, responses = txn_reply(
                s.gw, [compare_mod(marker, 0)], [request_put(marker, payload), request_put(payment, payload)],
                [request_range(marker)],
            )
            if ok:
                result = revision
            else:
                kvs = parse_kvs(responses[0].get("response_range", {})) if responses else []
                if not kvs:  # markers are never deleted; the failure branch wrote nothing, so this is definite
                    raise Rejected("the marker of an applied request vanished")
                result = kvs[0].create_revision
            return {**op.value, "result": result}
        if op.f == "read":
            kvs = s.gw.range("i/pay/", end=prefix_end("i/pay/"), serializable=s.serializable, keys_only=True)
            counts: dict[str, int] = {}
            for kv in kvs:
                key = kv.key[len("i/pay/"):].rsplit("/", 1)[0]
                counts[key] = counts.get(key, 0) + 1
            return counts
        raise _bad("idempotent", op)


def _retry_setup(workload: str, action: Callable[[], object], timeout: float = 3.0) -> None:
    """Run an idempotent setup request, retrying errors (an election right after start-up); TimedOut (a
    ClusterError) naming the last one after `timeout` seconds."""

    def attempt() -> None:
        try:
            action()
        except EtcdError as e:
            raise NotYet(str(e)) from None

    retry_until(timeout, attempt, every=0.5, what=f"etcd client setup of workload {workload}")


PERFORMERS: dict[str, Performer] = {
    "register": Register(),
    "set": Set(),
    "list-append": ListAppend(),
    "rw-register": RwRegister(),
    "bank": Bank(),
    "counter": Counter(),
    "unique-ids": UniqueIds(),
    "monotonic": Monotonic(),
    "idempotent": Idempotent(),
}
