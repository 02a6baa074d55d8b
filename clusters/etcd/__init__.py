"""etcd, the first system: the `harness.systems` plugin `etcd`.

Owns `EtcdSystem` (name, workloads, option specs, and the factories of the DB and the client). The DB lives in
`clusters.etcd.db`, the client in `clusters.etcd.client`, the HTTP gateway in `clusters.etcd.gateway`, the node
image recipe in `clusters/etcd/Dockerfile`.

System options (`--system-opt key=value`):
  binary=PATH          the etcd binary on the nodes (default: `etcd` from PATH; any 3.x with the v3 gateway)
  version=X.Y[.Z]      require this version (setup fails with one line if the binary reports another)
  reads=linearizable   or `serializable` (member-local reads, may be stale)
  heartbeat_ms=100, election_ms=1000, txn_retries=2 (retries of a guarded txn, see `clusters.etcd.guarded`)

Workloads: every one whose ops `clusters.etcd.workloads` implements (register, set, list-append, rw-register,
bank, counter, unique-ids, monotonic, idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clusters.etcd.client import WORKLOADS, EtcdClient
from clusters.etcd.db import EtcdDB
from harness.options import OptionSpec, conf_spec, lazyfs_spec

if TYPE_CHECKING:
    from harness.test import Test


def _positive_int(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise ValueError("must be a positive integer")
    return v


def _non_negative_int(s: str) -> int:
    v = int(s)
    if v < 0:
        raise ValueError("must be 0 or more")
    return v


class EtcdSystem:
    """The `harness.systems` plugin for etcd 3.x."""

    name = "etcd"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="binary", default="etcd", help="path of the etcd binary on the nodes"),
        OptionSpec(name="version", default="", help="required etcd version (prefix, e.g. 3.4)"),
        OptionSpec(name="reads", default="linearizable", help="read consistency",
                   choices=("linearizable", "serializable"), expectation=True),
        OptionSpec(name="heartbeat_ms", default=100, help="raft heartbeat interval (ms)", parse=_positive_int),
        OptionSpec(name="election_ms", default=1000, help="raft election timeout (ms)", parse=_positive_int),
        OptionSpec(name="txn_retries", default=2, help="retries of a guarded read-modify-write that lost a race",
                   parse=_non_negative_int),
        conf_spec("a command-line flag --KEY=VALUE of etcd"),
        lazyfs_spec(),
    )

    def _opts(self, test: Test) -> dict[str, Any]:
        opts = {s.name: s.default for s in self.option_specs}
        opts.update(dict(test.system_opts or {}))
        return opts

    def db(self, test: Test) -> EtcdDB:
        return EtcdDB(self._opts(test))

    def client(self, test: Test) -> EtcdClient:
        o = self._opts(test)
        return EtcdClient(workload=test.options.workload, reads=str(o["reads"]), txn_retries=int(o["txn_retries"]))

    def versions(self, test: Test) -> dict[str, object]:
        db = self.db(test)
        return {"etcd": db.installed_version(test, test.nodes[0]), "binary": db.binary}


PLUGIN = EtcdSystem()
