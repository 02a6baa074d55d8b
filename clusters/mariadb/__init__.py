"""MariaDB and MariaDB Galera Cluster: the `harness.systems` plugin `mariadb`.

Owns `MariaDBSystem` (name, workloads, option specs, the factories of the DB and the client), `MariaDBOptions`
(the one typed view of the system options, built once from `test.system_opts`) and the consistency model each
isolation level is checked against (`ISOLATION_MODELS`). The DB lives in `clusters.mariadb.db`, the client in
`clusters.mariadb.client`, the SQL of each workload in `clusters.mariadb.tables`, the node image recipe in
`clusters/mariadb/Dockerfile` (Debian 12's mariadb-server 10.11 and galera-4).

System options (`--system-opt key=value`):
  galera=auto              on with 2+ nodes (a multi-primary Galera cluster), off with one (plain MariaDB);
                           off with more than one node is refused (the other nodes would run nothing)
  isolation=repeatable-read  (the server's default) or read-committed, serializable: the level of every
                           client transaction and the model transactional workloads check by default
  routing=any              each client talks to the node the harness gave it (multi-primary writes), or `one`:
                           every client talks to the first node
  wsrep_sync_wait=0        Galera's causality checks (0-15; 1 makes reads wait until the node applied every
                           write the cluster committed before the read began)
  innodb_flush_log_at_trx_commit=1   0, 1 or 2 (1: write and fsync the redo log at every commit)
  innodb_snapshot_isolation=false    true: at repeatable read a transaction that writes a row changed since its
                           snapshot is refused (error 1020) instead of silently writing over the newer version
  port=3306, conf.KEY=VALUE (any server option, as --KEY=VALUE on mariadbd's command line; checked on the node)

Isolation levels and the model checked (Adya's definitions, as Elle names them), see `ISOLATION_MODELS`.
`--workload-opt consistency=MODEL` overrides the model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from clusters.mariadb.client import ISOLATION, WORKLOADS, MariaDBClient
from clusters.mariadb.db import PORT, MariaDB
from harness.db import Isolation
from harness.options import CONF, OptionSpec, conf_spec, filled, one_node_only, parse_bool, require_nodes

if TYPE_CHECKING:
    from harness.test import Test


def _port(s: str) -> int:
    v = int(s)
    if not 0 < v < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return v


def _sync_wait(s: str) -> int:
    v = int(s)
    if not 0 <= v <= 15:
        raise ValueError("must be 0-15 (a bitmask of the statement kinds that wait for causality)")
    return v


def _flush(s: str) -> int:
    v = int(s)
    if v not in (0, 1, 2):
        raise ValueError("must be 0, 1 or 2")
    return v


@dataclass(frozen=True, kw_only=True)
class MariaDBOptions:
    """The system options of one run, typed; `galera` is resolved against the node count."""

    galera: bool
    isolation: str
    routing: str
    wsrep_sync_wait: int
    innodb_flush_log_at_trx_commit: int
    innodb_snapshot_isolation: bool
    port: int
    conf: Mapping[str, str]

    @classmethod
    def of(cls, opts: Mapping[str, Any], nodes: Sequence[str]) -> MariaDBOptions:
        """From options parsed by `harness.options.parse_opts` (defaults filled in)."""
        galera = str(opts["galera"])
        require_nodes("mariadb", nodes)
        if galera == "off":
            one_node_only("mariadb galera=off", nodes, "galera=on (the default with more nodes)")
        return cls(galera=galera == "on" or (galera == "auto" and len(nodes) > 1), isolation=str(opts["isolation"]),
                   routing=str(opts["routing"]), wsrep_sync_wait=int(opts["wsrep_sync_wait"]),
                   innodb_flush_log_at_trx_commit=int(opts["innodb_flush_log_at_trx_commit"]),
                   innodb_snapshot_isolation=bool(opts["innodb_snapshot_isolation"]), port=int(opts["port"]),
                   conf=dict(opts.get(CONF) or {}))


class MariaDBSystem:
    """The `harness.systems` plugin for MariaDB 10.11, alone or as a Galera cluster."""

    name = "mariadb"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="galera", default="auto", choices=("auto", "on", "off"), expectation=True,
                   help="auto (on with 2+ nodes), on: a Galera cluster of every node, off: one plain MariaDB"),
        OptionSpec(name="isolation", default="repeatable-read", choices=tuple(ISOLATION), expectation=True,
                   help="isolation level of client transactions (repeatable-read is the server's default)"),
        OptionSpec(name="routing", default="any", choices=("any", "one"), expectation=True,
                   help="any: each client talks to its own node; one: every client talks to the first node"),
        OptionSpec(name="wsrep_sync_wait", default=0, parse=_sync_wait, expectation=True,
                   help="Galera causality checks before reads (0-15)"),
        OptionSpec(name="innodb_flush_log_at_trx_commit", default=1, parse=_flush, expectation=True,
                   help="0, 1 or 2: when the redo log is written and fsynced"),
        OptionSpec(name="innodb_snapshot_isolation", default=False, parse=parse_bool, expectation=True,
                   help="refuse, at repeatable read, writes to rows changed since the snapshot (error 1020)"),
        OptionSpec(name="port", default=PORT, parse=_port, help="TCP port of MariaDB on every node"),
        conf_spec("a server option (--KEY=VALUE on mariadbd's command line)"),
    )

    def options(self, test: Test) -> MariaDBOptions:
        return MariaDBOptions.of(filled(self.option_specs, test.system_opts), test.nodes)

    def db(self, test: Test) -> MariaDB:
        return MariaDB(self.options(test), test.nodes, password=test.secrets.password("mariadb"))

    def client(self, test: Test) -> MariaDBClient:
        o = self.options(test)
        return MariaDBClient(workload=test.options.workload, isolation=o.isolation,
                             home=test.nodes[0] if o.routing == "one" else None, port=o.port,
                             password=test.secrets.password("mariadb"))

    def versions(self, test: Test) -> dict[str, object]:
        db = test.db if isinstance(test.db, MariaDB) else self.db(test)
        o = db.opts
        return {"mariadb": db.installed_version(test, test.nodes[0]), "galera": o.galera, "isolation": o.isolation,
                "routing": o.routing}

    def isolation(self, test: Test) -> Isolation:
        """The model transactional workloads check by default: the one the `isolation` option names (and
        `innodb_snapshot_isolation`, which changes what repeatable read promises)."""
        o = self.options(test)
        if o.isolation == "repeatable-read" and o.innodb_snapshot_isolation:
            iso = SNAPSHOT_REPEATABLE_READ
        else:
            iso = ISOLATION_MODELS[o.isolation]
        return replace(iso, notes=(*iso.notes, _GALERA_NOTE)) if o.galera else iso


_GALERA_NOTE = ("On a Galera cluster the level holds inside each node; between nodes Galera certifies write sets "
                "first-committer-wins on the rows they wrote, which it documents as snapshot isolation for "
                "transactions on different nodes")

ISOLATION_MODELS: dict[str, Isolation] = {
    "read-committed": Isolation(
        model="read-committed", why="mariadb isolation=read-committed",
        notes=("InnoDB's READ COMMITTED reads a fresh snapshot per statement and writes the latest row version: it "
               "forbids dirty writes and reads (G0, G1) but allows read skew (G-single), write skew (G2-item) and "
               "lost updates, which are therefore not counted against it",),
    ),
    "repeatable-read": Isolation(
        model="repeatable-read", why="mariadb isolation=repeatable-read, read as Adya's repeatable read (PL-2.99)",
        notes=("InnoDB's REPEATABLE READ reads from a snapshot taken at the transaction's first read but writes "
               "(UPDATE, INSERT ... ON DUPLICATE KEY UPDATE) the latest committed version, so two transactions "
               "can read the same version and both write over it: a lost update (P4), which Adya's repeatable "
               "read and snapshot isolation both forbid; a run that shows one is invalid and names it. "
               "innodb_snapshot_isolation=true makes such a write fail with error 1020 instead",),
        compare=("snapshot-isolation", "read-committed"),
    ),
    "serializable": Isolation(
        model="serializable", why="mariadb isolation=serializable",
        notes=("InnoDB's SERIALIZABLE turns every plain read into a shared-locking read. Galera does not replicate "
               "read locks: between nodes only write sets are certified, so transactions on different nodes can "
               "still show write skew",),
    ),
}

SNAPSHOT_REPEATABLE_READ = Isolation(
    model="snapshot-isolation",
    why="mariadb isolation=repeatable-read with innodb_snapshot_isolation=true, which MariaDB documents as snapshot "
        "isolation",
    notes=("With innodb_snapshot_isolation a write to a row changed since the transaction's snapshot fails (error "
           "1020), so lost updates should be gone; write skew (G2-item) is still allowed, as snapshot isolation "
           "permits",),
    compare=("repeatable-read",),
)

PLUGIN = MariaDBSystem()
