"""Postgres managed by Patroni, the system with failover: the `harness.systems` plugin `patroni`.

Owns `PatroniSystem` (name, workloads, option specs, the factories of the DB and the client) and
`PatroniOptions`, the one typed record of its options, built once from `test.system_opts`. The DB lives in
`clusters.patroni.db` (Patroni on every node, its DCS the etcd system's own `EtcdDB` on the same nodes); the
client is the Postgres system's (`clusters.postgres.client`) given every node as a candidate, so each new
connection reaches whichever node accepts writes (libpq's target_session_attrs=read-write) and completions
name the node that served them. The SQL of every workload is the Postgres system's (`clusters.postgres.tables`).

System options (`--system-opt key=value`):
  replication=async      async: a standby promoted by a failover may lack commits the old primary acknowledged
                         (Patroni's maximum_lag_on_failover bounds how many bytes, not whether); sync: Patroni's
                         synchronous_mode (commits wait for one synchronous standby while one is available, and
                         only a synchronous standby may be promoted); sync-strict: synchronous_mode_strict
                         (commits wait even when no standby is available)
  isolation=serializable or read-committed, repeatable-read (as the postgres system)
  ttl=6, loop_wait=1, retry_timeout=2
                         Patroni's leader lease (s), its loop period, and how long it retries the DCS or Postgres
                         before it demotes; short, so that a failover happens within a fault window of a 30-60 s
                         run (a partition shorter than the lease fails nothing over: the old primary demotes, then
                         takes its lease back). Patroni's own defaults: 30, 10, 10. Patroni needs loop_wait +
                         2 * retry_timeout <= ttl.
  bindir=/usr/lib/postgresql/15/bin, port=5432, api_port=8008, fsync=true
  conf.KEY=VALUE         a Postgres setting, through Patroni's configuration (bootstrap.dcs.postgresql.parameters
                         and postgresql.parameters); a key Postgres has no setting for is refused before start
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusters.patroni.db import API_PORT, PatroniDB
from clusters.postgres import ISOLATION_MODELS
from clusters.postgres.client import ISOLATION, WORKLOADS, PostgresClient
from clusters.postgres.options import PORT
from harness.db import Isolation
from harness.errors import BadInput
from harness.options import OptionSpec, conf_spec, parse_bool, typed_options

if TYPE_CHECKING:
    from harness.test import Test

REPLICATION = ("async", "sync", "sync-strict")


def _port(s: str) -> int:
    v = int(s)
    if not 0 < v < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return v


def _seconds(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise ValueError("must be a positive number of seconds")
    return v


@dataclass(frozen=True, kw_only=True)
class PatroniOptions:
    """The system options of a run, typed (see the module docstring for each)."""

    replication: str
    isolation: str
    ttl: int
    loop_wait: int
    retry_timeout: int
    bindir: str
    port: int
    api_port: int
    fsync: bool
    conf: Mapping[str, str]

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> PatroniOptions:
        """From parsed options (`harness.options.parse_opts`; options left out take their defaults); BadInput for
        timings Patroni would refuse or silently change."""
        opts = typed_options(cls, PatroniSystem.option_specs, values)
        if opts.loop_wait + 2 * opts.retry_timeout > opts.ttl:
            raise BadInput(f"patroni needs loop_wait + 2 * retry_timeout <= ttl, and {opts.loop_wait} + 2 * "
                           f"{opts.retry_timeout} > {opts.ttl}: raise ttl or lower the others")
        return opts


class PatroniSystem:
    """The `harness.systems` plugin for Postgres 15 under Patroni 3, with etcd as the DCS."""

    name = "patroni"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="replication", default="async", choices=REPLICATION, expectation=True,
                   help="async, sync (synchronous_mode) or sync-strict (synchronous_mode_strict)"),
        OptionSpec(name="isolation", default="serializable", help="isolation level of client transactions",
                   choices=tuple(ISOLATION), expectation=True),
        OptionSpec(name="ttl", default=6, parse=_seconds, expectation=True, help="leader lease (s)"),
        OptionSpec(name="loop_wait", default=1, parse=_seconds, help="Patroni's loop period (s)"),
        OptionSpec(name="retry_timeout", default=2, parse=_seconds,
                   help="how long Patroni retries the DCS and Postgres before it demotes (s)"),
        OptionSpec(name="bindir", default="/usr/lib/postgresql/15/bin", help="directory of the postgres binaries"),
        OptionSpec(name="port", default=PORT, help="TCP port of postgres on every node", parse=_port),
        OptionSpec(name="api_port", default=API_PORT, help="TCP port of Patroni's REST API", parse=_port),
        OptionSpec(name="fsync", default=True, help="fsync on commit (off: faster, not crash-safe)",
                   parse=parse_bool),
        conf_spec("a Postgres setting in Patroni's configuration (postgresql.parameters)"),
    )

    def options(self, test: Test) -> PatroniOptions:
        return PatroniOptions.of(test.system_opts)

    def db(self, test: Test) -> PatroniDB:
        return PatroniDB(self.options(test), test.nodes, password=test.secrets.password("postgres"),
                         api_password=test.secrets.password("patroni-api"))

    def client(self, test: Test) -> PostgresClient:
        o = self.options(test)
        return PostgresClient(workload=test.options.workload, isolation=o.isolation, primary=test.nodes[0],
                              port=o.port, password=test.secrets.password("postgres"), candidates=tuple(test.nodes))

    def versions(self, test: Test) -> dict[str, object]:
        db = test.db if isinstance(test.db, PatroniDB) else self.db(test)
        node = test.nodes[0]
        return {"patroni": db.patroni_version(test, node), "postgres": db.pg.installed_version(test, node),
                "etcd": db.etcd.installed_version(test, node), "replication": db.opts.replication,
                "isolation": db.opts.isolation}

    def isolation(self, test: Test) -> Isolation:
        """The model transactional workloads check by default: the one the `isolation` option names."""
        level = self.options(test).isolation
        base = ISOLATION_MODELS[level]
        return Isolation(model=base.model, why=f"patroni isolation={level}", notes=base.notes, compare=base.compare)


PLUGIN = PatroniSystem()
