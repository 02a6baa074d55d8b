"""Postgres's system options: the specs `--system-opt` is checked against (the one place their defaults live)
and `PostgresOptions`, their typed value for one test. Does not own what the options do (`clusters.postgres.db`,
`.client`; the isolation models in `clusters.postgres`).

  isolation=serializable   or read-committed, repeatable-read: the level of every client transaction, and the
                           consistency model transactional workloads check by default
  replication=auto         none on one node (a single primary), sync on more; async or sync: the other nodes
                           are streaming standbys (sync: each commit waits for ANY 1 standby); none with more
                           than one node is refused (`clusters.postgres.db.topology`)
  allow=CIDR,...           further networks that may connect (the nodes and this machine always may)
  bindir=/usr/lib/postgresql/15/bin, port=5432, fsync=true
  conf.KEY=VALUE           a server setting (-c KEY=VALUE); lazyfs=true: the data directory on the lazy filesystem
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from clusters.postgres.auth import Network, parse_networks
from clusters.postgres.client import ISOLATION
from harness.options import OptionSpec, conf_spec, lazyfs_spec, parse_bool, typed_options

PORT = 5432  # postgres's own default; the `port` option's default


def _port(s: str) -> int:
    v = int(s)
    if not 0 < v < 65536:
        raise ValueError("must be a TCP port (1-65535)")
    return v


OPTION_SPECS: Sequence[OptionSpec] = (
    OptionSpec(name="isolation", default="serializable", help="isolation level of client transactions",
               choices=tuple(ISOLATION), expectation=True),
    OptionSpec(name="replication", default="auto",
               help="auto (none on one node, sync on more), none (one primary), async or sync streaming standbys",
               choices=("auto", "none", "async", "sync"), expectation=True),
    OptionSpec(name="allow", default=(), parse=parse_networks,
               help="further addresses or networks (CIDR, comma-separated) allowed to connect"),
    OptionSpec(name="bindir", default="/usr/lib/postgresql/15/bin", help="directory of the postgres binaries"),
    OptionSpec(name="port", default=PORT, help="TCP port of postgres on every node", parse=_port),
    OptionSpec(name="fsync", default=True, help="fsync on commit (off: faster, not crash-safe)", parse=parse_bool),
    conf_spec("a server setting (-c KEY=VALUE, over postgresql.conf)"),
    lazyfs_spec(),
)


@dataclass(frozen=True, kw_only=True)
class PostgresOptions:
    """The postgres system's options for one test, typed (see the module docstring); `replication` as asked
    (`auto` is resolved by `clusters.postgres.db.topology`, which knows the nodes)."""

    isolation: str
    replication: str
    allow: tuple[Network, ...]
    bindir: str
    port: int
    fsync: bool
    conf: Mapping[str, str]
    lazyfs: bool

    @classmethod
    def of(cls, opts: Mapping[str, object]) -> PostgresOptions:
        """From parsed options (`harness.options.parse_opts`); options left out take their defaults."""
        return typed_options(cls, OPTION_SPECS, opts)
