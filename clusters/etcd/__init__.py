"""etcd, the first system: the `harness.systems` plugin `etcd`.

Owns `EtcdSystem` (name, workloads, and the factories of the DB and the client). Its options live in
`clusters.etcd.options`, the DB in `clusters.etcd.db`, the client in `clusters.etcd.client`, the HTTP gateway
in `clusters.etcd.gateway`, the node image recipe in `clusters/etcd/Dockerfile`.

System options (`--system-opt key=value`): see `clusters.etcd.options`.

Workloads: every one whose ops `clusters.etcd.workloads` implements (register, set, list-append, rw-register,
bank, counter, unique-ids, monotonic, idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from clusters.etcd.client import WORKLOADS, EtcdClient
from clusters.etcd.db import EtcdDB
from clusters.etcd.options import OPTION_SPECS, EtcdOptions
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.test import Test


class EtcdSystem:
    """The `harness.systems` plugin for etcd 3.x."""

    name = "etcd"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = OPTION_SPECS

    def options(self, test: Test) -> EtcdOptions:
        return EtcdOptions.of(test.system_opts)

    def db(self, test: Test) -> EtcdDB:
        return EtcdDB(self.options(test))

    def client(self, test: Test) -> EtcdClient:
        o = self.options(test)
        return EtcdClient(workload=test.options.workload, reads=o.reads, txn_retries=o.txn_retries)

    def versions(self, test: Test) -> dict[str, object]:
        db = self.db(test)
        return {"etcd": db.installed_version(test, test.nodes[0]), "binary": db.binary}


PLUGIN = EtcdSystem()
