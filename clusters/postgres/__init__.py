"""Postgres, the second system: the `harness.systems` plugin `postgres`.

Owns `PostgresSystem` (name, workloads, option specs, and the factories of the DB and the client). The DB lives
in `clusters.postgres.db`, the client in `clusters.postgres.client`, the SQL of each workload in
`clusters.postgres.tables`, the node image recipe in `clusters/postgres/Dockerfile`.

System options (`--system-opt key=value`):
  isolation=serializable   or read-committed, repeatable-read: the level of every client transaction, and the
                           consistency model transactional workloads check by default (`isolation` below)
  replication=auto         none on one node (a single primary), sync on more; async or sync: the other nodes
                           are streaming standbys (sync: each commit waits for ANY 1 standby); none with more
                           than one node is refused (see `clusters.postgres.db`)
  allow=CIDR,...           further networks that may connect (the nodes and this machine always may)
  bindir=/usr/lib/postgresql/15/bin, port=5432, fsync=true
Clients always talk to the primary (the first node), as the superuser with the run's password.

Isolation levels and the model checked (Adya's definitions, as Elle names them):
  read-committed   read-committed (PL-2): no G0, G1a, G1b, G1c. Postgres takes a snapshot per statement, so read
                   skew (G-single), write skew (G2-item) and lost updates are allowed and not counted.
  repeatable-read  Adya's repeatable-read (PL-2.99): also no G2-item. Postgres's REPEATABLE READ is snapshot
                   isolation, which forbids G-single and lost updates but allows write skew (G2-item): the
                   report says so and also checks the history against snapshot-isolation.
  serializable     serializable (PL-3): no dependency cycle at all.
`--workload-opt consistency=MODEL` overrides the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from clusters.postgres.auth import parse_networks
from clusters.postgres.client import ISOLATION, WORKLOADS, PostgresClient
from clusters.postgres.db import PORT, PostgresDB
from harness.db import Isolation
from harness.options import OptionSpec, conf_spec, lazyfs_spec, parse_bool

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
                   choices=tuple(ISOLATION), expectation=True),
        OptionSpec(name="replication", default="auto",
                   help="auto (none on one node, sync on more), none (one primary), async or sync streaming standbys",
                   choices=("auto", "none", "async", "sync"), expectation=True),
        OptionSpec(name="allow", default=(), parse=parse_networks,
                   help="further addresses or networks (CIDR, comma-separated) allowed to connect"),
        OptionSpec(name="bindir", default="/usr/lib/postgresql/15/bin", help="directory of the postgres binaries"),
        OptionSpec(name="port", default=PORT, help="TCP port of postgres on every node", parse=_port),
        OptionSpec(name="fsync", default=True, help="fsync on commit (off: faster, not crash-safe)",
                   parse=parse_bool),
        conf_spec("a server setting (-c KEY=VALUE, over postgresql.conf)"),
        lazyfs_spec(),
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

    def versions(self, test: Test) -> dict[str, object]:
        db = test.db if isinstance(test.db, PostgresDB) else self.db(test)
        return {"postgres": db.installed_version(test, db.primary), "isolation": self._opts(test)["isolation"],
                "replication": db.replication}

    def isolation(self, test: Test) -> Isolation:
        """The model transactional workloads check by default: the one the `isolation` option names."""
        level = str(self._opts(test)["isolation"])
        return ISOLATION_MODELS[level]


ISOLATION_MODELS: dict[str, Isolation] = {
    "read-committed": Isolation(
        model="read-committed", why="postgres isolation=read-committed",
        notes=("Postgres's READ COMMITTED takes a new snapshot for every statement: it forbids dirty writes and "
               "reads (G0, G1) but allows read skew (G-single), write skew (G2-item) and lost updates, which are "
               "therefore not counted against it",),
    ),
    "repeatable-read": Isolation(
        model="repeatable-read", why="postgres isolation=repeatable-read, read as Adya's repeatable read (PL-2.99)",
        notes=("Postgres's REPEATABLE READ is snapshot isolation: it forbids read skew (G-single) and lost updates "
               "but allows write skew (G2-item), which Adya's repeatable read forbids; G2-item alone is what "
               "snapshot isolation permits, not a Postgres bug (--workload-opt consistency=snapshot-isolation "
               "checks that promise)",),
        compare=("snapshot-isolation",),
    ),
    "serializable": Isolation(model="serializable", why="postgres isolation=serializable"),
}

PLUGIN = PostgresSystem()
