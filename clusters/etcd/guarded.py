"""Optimistic read-modify-write on etcd: snapshot reads, and commits guarded by the mod revisions they read.

Owns `Session` (one worker's gateway, read mode and retry budget), `snapshot`, `guarded_update`, `cas_update`,
`txn_reply`, and the two definite refusals `Conflict` and `Rejected`. Does not know any workload's keys or values
(see `clusters.etcd.workloads`) and does not classify outcomes into ok/fail/info (see `clusters.etcd.client`).

etcd has no server-side arithmetic and no interactive transactions, so every read-modify-write here is optimistic:
read the keys (one read-only txn, a snapshot at one revision), compute locally, then commit with one txn whose
guards say "each key I depended on still has the mod revision I read (0: still absent)". A failed guard means
someone else wrote in between; the txn applied nothing, so retrying is sound. After `retries` extra attempts the
op ends with `Conflict` (a definite fail).

Definiteness: nothing that happens before the guarded commit is sent can have an effect (snapshots only read,
and an earlier attempt's commit failed its guard), so an error during a snapshot is re-raised as definite. An
error of the commit itself keeps the gateway's classification (a timeout after sending is indefinite).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from clusters.etcd.gateway import (
    KV,
    EtcdError,
    Gateway,
    compare_mod,
    parse_kvs,
    request_put,
    request_range,
)

T = TypeVar("T")
Snapshot = Mapping[str, KV | None]


class Conflict(Exception):
    """Every attempt's guard failed: other writers kept winning. Definite: no attempt applied anything."""


class Rejected(Exception):
    """The workload's own rule refused the op (insufficient funds, a cas whose old value did not match, ...).
    Definite: it was decided before or by a guard, so nothing was applied. The message is the op's error."""


@dataclass(frozen=True, kw_only=True)
class Session:
    """What a workload's perform needs of its client: the gateway (one connection, one worker), whether reads
    may be served locally by the member (`serializable`, possibly stale), and how many times a guarded commit
    that lost a race is retried."""

    gw: Gateway
    serializable: bool = False
    retries: int = 2


def txn_reply(
    gw: Gateway, compare: list[dict[str, object]], success: list[dict[str, object]], failure: list[dict[str, object]]
) -> tuple[bool, int, list[dict[str, Any]]]:
    """One txn; (succeeded, revision of the store after it, responses of the branch that ran). The revision is
    the txn's own when it wrote (etcd bumps the revision once per writing txn)."""
    reply = gw.call("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure})
    revision = int(reply.get("header", {}).get("revision", 0))
    return bool(reply.get("succeeded", False)), revision, list(reply.get("responses", []))


def _definite(e: EtcdError) -> EtcdError:
    return e if e.definite else EtcdError(f"{e} (while reading, before any write was sent)", definite=True)


def snapshot(s: Session, keys: Sequence[str]) -> dict[str, KV | None]:
    """The current KV of each key (None: absent). Linearizable mode reads all keys in one read-only txn, so they
    are one revision's values; serializable mode reads each key from the member's local store (a later guarded
    commit still goes through the leader, so only read-only ops can observe staleness)."""
    try:
        if s.serializable:
            out: dict[str, KV | None] = {}
            for key in keys:
                kvs = s.gw.range(key, serializable=True)
                out[key] = kvs[0] if kvs else None
            return out
        ok, responses = s.gw.txn([], [request_range(key) for key in keys])
    except EtcdError as e:
        raise _definite(e) from None
    if not ok or len(responses) != len(keys):
        raise EtcdError("snapshot txn returned an unexpected reply", definite=True)
    snap: dict[str, KV | None] = {}
    for key, r in zip(keys, responses, strict=True):
        kvs = parse_kvs(r.get("response_range", {}))
        snap[key] = kvs[0] if kvs else None
    return snap


def guarded_update(s: Session, keys: Sequence[str], apply: Callable[[Snapshot], tuple[T, Mapping[str, str]]]) -> T:
    """Read `keys` in a snapshot, let `apply` compute (result, puts), and commit the puts guarded by the
    snapshot's mod revisions of `keys`; retried on a lost race. No puts: the result is returned without a commit
    (a read-only op is the snapshot itself). `apply` may raise `Rejected`; it must be a pure function of the
    snapshot, since it runs once per attempt. Raises `Conflict` when every attempt lost."""
    for _attempt in range(s.retries + 1):
        snap = snapshot(s, keys) if keys else {}
        result, puts = apply(snap)
        if not puts:
            return result
        guards = [compare_mod(key, kv.mod_revision if kv is not None else 0) for key, kv in snap.items()]
        ok, _ = s.gw.txn(guards, [request_put(key, value) for key, value in puts.items()])
        if ok:
            return result
    raise Conflict(f"conflict: a guarded txn failed {s.retries + 1} times")


def cas_update(s: Session, key: str, step: Callable[[KV | None], tuple[T, str]]) -> T:
    """Read-modify-write of one key: `step(current) -> (result, new value)`, committed with a guard on the mod
    revision read. The failure branch of the guarded txn reads the key again, so a lost race costs one round
    trip, not two. Raises `Conflict` after `retries` lost races."""
    try:
        kvs = s.gw.range(key, serializable=s.serializable)
    except EtcdError as e:
        raise _definite(e) from None
    current = kvs[0] if kvs else None
    for _attempt in range(s.retries + 1):
        result, value = step(current)
        guard = [compare_mod(key, current.mod_revision if current is not None else 0)]
        ok, _, responses = txn_reply(s.gw, guard, [request_put(key, value)], [request_range(key)])
        if ok:
            return result
        if len(responses) != 1:  # the failure branch ran: it applied nothing
            raise EtcdError("guarded txn returned an unexpected reply", definite=True)
        fresh = parse_kvs(responses[0].get("response_range", {}))
        current = fresh[0] if fresh else None
    raise Conflict(f"conflict: a guarded txn failed {s.retries + 1} times")
