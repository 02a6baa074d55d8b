"""The etcd client of a worker: performs register, set and list-append ops through the JSON gateway.

Owns the mapping from the workload op vocabularies to etcd requests and from etcd outcomes to ok/fail/info.
Does not generate ops or judge them. Keys live under a prefix per workload: `r/<k>` (register), `s/<element>`
(set: one key per element, read with one range over the prefix, which etcd serves atomically at one
revision), `l/<k>` (list-append: the list as JSON).

Outcomes: a read that did not complete is `fail` (reads have no effect, so this is sound); a write whose error
is definite (see `clusters.etcd.gateway`) is `fail`; any other write error is `info`. `reads=serializable` makes
reads local to the member (they may be stale: that is the point of the option).

list-append transactions: read every key the txn touches in one read-only txn (a snapshot at one revision),
apply the micro-ops locally (a read sees the txn's own earlier appends), then commit with one txn whose guards
compare each touched key's mod_revision with the snapshot's (0 for an absent key) and whose success branch
puts the written keys. A failed guard means another txn wrote in between: retried up to `txn_retries` times,
then `fail` with error "conflict" (definite: the guarded txn did not apply).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clusters.etcd.gateway import (
    KV,
    EtcdError,
    Gateway,
    compare_mod,
    compare_value,
    parse_kvs,
    prefix_end,
    request_put,
    request_range,
)
from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

WORKLOADS = frozenset({"register", "set", "list-append"})
CLIENT_PORT = 2379


class EtcdClient:
    """Unopened it is a factory; `open(test, node)` returns a connected client for that node."""

    def __init__(self, *, workload: str, reads: str = "linearizable", txn_retries: int = 2, port: int = CLIENT_PORT,
                 node: str | None = None, gateway: Gateway | None = None) -> None:
        if workload not in WORKLOADS:
            raise BadInput(f"the etcd client has no workload {workload!r} (it has: {', '.join(sorted(WORKLOADS))})")
        self.workload = workload
        self.reads = reads
        self.txn_retries = txn_retries
        self.port = port
        self.node = node
        self.gateway = gateway

    def open(self, test: Test, node: str) -> EtcdClient:
        # Connecting lazily would hide an unreachable node until the first op; connect-time errors on open are
        # left to the first op instead, because open must not fail the run when a node is down under a nemesis.
        gw = Gateway(test.node_host(node), self.port, timeout=test.op_timeout)
        return EtcdClient(workload=self.workload, reads=self.reads, txn_retries=self.txn_retries, port=self.port,
                          node=node, gateway=gw)

    def setup(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        if self.gateway is not None:
            self.gateway.close()

    # ------------------------------------------------------------------------------------------ invoke
    def invoke(self, test: Test, op: Op) -> Op:
        assert self.gateway is not None, "invoke on an unopened EtcdClient"
        node = op.node or self.node
        is_read = op.f == "read" or (op.f == "txn" and _read_only(op.value))
        try:
            value = self._perform(op)
        except EtcdError as e:
            kind = "fail" if (e.definite or is_read) else "info"
            return op.replace(type=kind, error=str(e), node=node)
        except _Conflict as e:
            return op.replace(type="fail", error=str(e), node=node)
        except _CasMismatch:
            return op.replace(type="fail", error="cas-mismatch", node=node)
        return op.replace(type="ok", value=value, node=node)

    def _perform(self, op: Op) -> Any:
        w, f = self.workload, op.f
        if w == "register":
            if f == "read":
                return self._register_read(op.value)
            if f == "write":
                k, v = op.value
                self.gw.put(f"r/{k}", json.dumps(v))
                return op.value
            if f == "cas":
                k, (old, new) = op.value
                key = f"r/{k}"
                ok, _ = self.gw.txn([compare_value(key, json.dumps(old))], [request_put(key, json.dumps(new))])
                if not ok:
                    raise _CasMismatch()
                return op.value
        elif w == "set":
            if f == "add":
                self.gw.put(f"s/{op.value}", "")
                return op.value
            if f == "read":
                kvs = self.gw.range("s/", end=prefix_end("s/"), serializable=self.serializable, keys_only=True)
                return sorted(_element(kv.key[2:]) for kv in kvs)
        elif w == "list-append" and f == "txn":
            return self._txn(op.value)
        raise BadInput(f"the etcd client cannot perform f={f!r} of workload {w!r}")

    @property
    def gw(self) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    @property
    def serializable(self) -> bool:
        return self.reads == "serializable"

    def _register_read(self, value: Any) -> tuple[Any, Any]:
        k = value[0]
        kvs = self.gw.range(f"r/{k}", serializable=self.serializable)
        return (k, json.loads(kvs[0].value) if kvs else None)

    # ------------------------------------------------------------------------------------- list-append
    def _snapshot(self, keys: Sequence[str]) -> dict[str, KV | None]:
        if self.serializable:
            out: dict[str, KV | None] = {}
            for key in keys:
                kvs = self.gw.range(key, serializable=True)
                out[key] = kvs[0] if kvs else None
            return out
        ok, responses = self.gw.txn([], [request_range(key) for key in keys])
        if not ok or len(responses) != len(keys):
            raise EtcdError("snapshot txn returned an unexpected reply", definite=True)
        snap: dict[str, KV | None] = {}
        for key, r in zip(keys, responses, strict=True):
            kvs = parse_kvs(r.get("response_range", {}))
            snap[key] = kvs[0] if kvs else None
        return snap

    def _txn(self, mops: Any) -> list[list[Any]]:
        keys = list(dict.fromkeys(f"l/{m[1]}" for m in mops))
        for _attempt in range(self.txn_retries + 1):
            snap = self._snapshot(keys)
            state = {key: (json.loads(kv.value) if kv is not None else []) for key, kv in snap.items()}
            written: set[str] = set()
            out: list[list[Any]] = []
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
            if not written:
                return out
            guards = [compare_mod(key, kv.mod_revision if kv is not None else 0) for key, kv in snap.items()]
            puts = [request_put(key, json.dumps(state[key])) for key in keys if key in written]
            ok, _ = self.gw.txn(guards, puts)
            if ok:
                return out
        raise _Conflict(f"conflict: a guarded txn failed {self.txn_retries + 1} times")


class _Conflict(Exception):
    pass


class _CasMismatch(Exception):
    pass


def _read_only(mops: Any) -> bool:
    try:
        return all(m[0] == "r" for m in mops)
    except (TypeError, IndexError):
        return False


def _element(s: str) -> Any:
    try:
        return int(s)
    except ValueError:
        return s
