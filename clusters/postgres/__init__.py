"""Postgres, the second system: the `harness.systems` plugin `postgres`.

Owns `PostgresSystem` (name, workloads, and the factories of the DB and the client) and the isolation models of
its levels. Its options live in `clusters.postgres.options`, the DB in `clusters.postgres.db`, the client in `clusters.postgres.client`, the SQL of each workload in
`clusters.postgres.tables`, the node image recipe in `clusters/postgres/Dockerfile`.

System options (`--system-opt key=value`): see `clusters.postgres.options`.
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
from typing import TYPE_CHECKING

from clusters.postgres.client import WORKLOADS, PostgresClient
from clusters.postgres.db import PostgresDB
from clusters.postgres.options import OPTION_SPECS, PostgresOptions
from harness.db import Isolation
from harness.options import OptionSpec

if TYPE_CHECKING:
    from harness.test import Test


class PostgresSystem:
    """The `harness.systems` plugin for Postgres 15."""

    name = "postgres"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = OPTION_SPECS

    def options(self, test: Test) -> PostgresOptions:
        return PostgresOptions.of(test.system_opts)

    def db(self, test: Test) -> PostgresDB:
        return PostgresDB(self.options(test), test.nodes, password=test.secrets.password("postgres"))

    def client(self, test: Test) -> PostgresClient:
        o = self.options(test)
        return PostgresClient(workload=test.options.workload, isolation=o.isolation, primary=test.nodes[0],
                              port=o.port, password=test.secrets.password("postgres"))

    def versions(self, test: Test) -> dict[str, object]:
        db = test.db if isinstance(test.db, PostgresDB) else self.db(test)
        return {"postgres": db.installed_version(test, db.primary), "isolation": self.options(test).isolation,
                "replication": db.replication}

    def isolation(self, test: Test) -> Isolation:
        """The model transactional workloads check by default: the one the `isolation` option names."""
        return ISOLATION_MODELS[self.options(test).isolation]


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
