"""The etcd client of a worker: performs the ops of every workload etcd supports through the JSON gateway.

Owns the connection of one worker (one `Gateway` to its node) and the mapping from etcd outcomes to
ok/fail/info. Does not generate ops or judge them, and does not know any workload's keys: how each op becomes
etcd requests lives in `clusters.etcd.workloads` (one class per workload, its keys documented there), the
optimistic read-modify-write machinery (snapshot, mod-revision guards, retries) in `clusters.etcd.guarded`.

Outcomes: a read that did not complete is `fail` (reads have no effect, so this is sound); an op refused by the
workload's own rule (insufficient funds, a cas whose old value did not match: error "cas-mismatch") or whose
guarded commit lost every race (error "conflict: ...") is `fail`; a write whose error is definite (see
`clusters.etcd.gateway`; an error while only reading, before any write was sent, is definite too) is `fail`;
any other write error is `info`. `reads=serializable` makes reads local to the member (they may be stale:
that is the point of the option).

Transactions (list-append, rw-register) and every other read-modify-write (bank transfers, counter adds,
unique ids, monotonic versions) read, compute locally and commit with one txn guarded by the mod revisions they
read. A failed guard means another writer won: retried up to `txn_retries` times, then `fail` with error
"conflict: a guarded txn failed N times" (definite: the guarded txn did not apply).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clusters.etcd.gateway import EtcdError, Gateway
from clusters.etcd.guarded import Conflict, Rejected, Session
from harness.client import refused
from clusters.etcd.workloads import PERFORMERS, Performer
from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

WORKLOADS = frozenset(PERFORMERS)
CLIENT_PORT = 2379


class EtcdClient:
    """Unopened it is a factory; `open(test, node)` returns a connected client for that node."""

    def __init__(self, *, workload: str, reads: str = "linearizable", txn_retries: int = 2, port: int = CLIENT_PORT,
                 node: str | None = None, gateway: Gateway | None = None) -> None:
        if workload not in WORKLOADS:
            raise BadInput(f"the etcd client has no workload {workload!r} (it has: {', '.join(sorted(WORKLOADS))})")
        self.workload = workload
        self.performer: Performer = PERFORMERS[workload]
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
        """Create what the workload needs before the run (bank accounts); idempotent, called on an open client."""
        self.performer.setup(self.session, test)

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        if self.gateway is not None:
            self.gateway.close()

    @property
    def session(self) -> Session:
        assert self.gateway is not None, "an unopened EtcdClient has no session"
        return Session(gw=self.gateway, serializable=self.serializable, retries=self.txn_retries)

    @property
    def gw(self) -> Gateway:
        assert self.gateway is not None
        return self.gateway

    @property
    def serializable(self) -> bool:
        return self.reads == "serializable"

    # ------------------------------------------------------------------------------------------ invoke
    def invoke(self, test: Test, op: Op) -> Op:
        assert self.gateway is not None, "invoke on an unopened EtcdClient"
        node = op.node or self.node
        is_read = op.f == "read" or (op.f == "txn" and _read_only(op.value))
        try:
            value = self.performer.perform(self.session, op)
        except EtcdError as e:
            kind = "fail" if (e.definite or is_read) else "info"
            return op.replace(type=kind, error=str(e), node=node)
        except (Conflict, Rejected) as e:  # the cluster answered: a compare did not hold, or every race was lost
            return op.replace(type="fail", error=refused(str(e)), node=node)
        return op.replace(type="ok", value=value, node=node)


def _read_only(mops: Any) -> bool:
    try:
        return all(m[0] == "r" for m in mops)
    except (TypeError, IndexError):
        return False
