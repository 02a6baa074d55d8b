"""Postgres, the second system: the `harness.systems` plugin `postgres`.

Owns `PostgresSystem` (name, workloads, option specs, and the factories of the DB and the client). The DB lives
in `clusters.postgres.db`, the client in `clusters.postgres.client`, the SQL of each workload in
`clusters.postgres.tables`, the node image recipe in `clusters/postgres/Dockerfile`.

System options (`--system-opt key=value`):
  isolation=serializable   or read-committed, repeatable-read: the level of every client transaction
  replication=auto         none on one node (a single primary), sync on more; async or sync: the other nodes
                           are streaming standbys (sync: each commit waits for ANY 1 standby); none with more
                           than one node is refused (see `clusters.postgres.db`)
  allow=CIDR,...           further networks that may connect (the nodes and this machine always may)
  bindir=/usr/lib/postgresql/15/bin, port=5432, fsync=true
Clients always talk to the primary (the first node), as the superuser with the run's password.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clusters.postgres.auth import parse_networks
from clusters.postgres.client import ISOLATION, WORKLOADS, PostgresClient
from clusters.postgres.db import PORT, PostgresDB
from harness.options import OptionSpec, parse_bool

if TYPE_CHECKING:
    from harness.test import Test


def _port(s: str) -> int:
    v = int(s)
    if not 0 < v < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return v


class PostgresSystem:
    """The `harness.systems` plugin for Postgres 15."""

    name = "postgres"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="isolation", default="serializable", help="isolation level of client transactions",
                   choices=tuple(ISOLATION)),
        OptionSpec(name="replication", default="auto",
                   help="auto (none on one node, sync on more), none (one primary), async or sync streaming standbys",
                   choices=("auto", "none", "async", "sync")),
        OptionSpec(name="allow", default=(), parse=parse_networks,
                   help="further addresses or networks (CIDR, comma-separated) allowed to connect"),
        OptionSpec(name="bindir", default="/usr/lib/postgresql/15/bin", help="directory of the postgres binaries"),
        OptionSpec(name="port", default=PORT, help="TCP port of postgres on every node", parse=_port),
        OptionSpec(name="fsync", default=True, help="fsync on commit (off: faster, not crash-safe)",
                   parse=parse_bool),
    )

    def _opts(self, test: Test) -> dict[str, Any]:
        opts = {s.name: s.default for s in self.option_specs}
        opts.update(dict(test.system_opts or {}))
        return opts

    def db(self, test: Test) -> PostgresDB:
        return PostgresDB(self._opts(test), test.nodes, password=test.secrets.password("postgres"))

    def client(self, test: Test) -> PostgresClient:
        o = self._opts(test)
        return PostgresClient(workload=test.options.workload, isolation=str(o["isolation"]), primary=test.nodes[0],
                              port=int(o["port"]), password=test.secrets.password("postgres"))

    def versions(self, test: Test) -> dict[str, Any]:
        db = test.db if isinstance(test.db, PostgresDB) else self.db(test)
        return {"postgres": db.installed_version(test, db.primary), "isolation": self._opts(test)["isolation"],
                "replication": db.replication}


PLUGIN = PostgresSystem()
