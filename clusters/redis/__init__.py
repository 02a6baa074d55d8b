"""Redis with Sentinel, the failover system: the `harness.systems` plugin `redis`.

Owns `RedisSystem` (name, workloads, option specs, the factories of the DB and the client) and `RedisOptions`,
the one typed value of its options, built once from the test's parsed system options. The DB lives in
`clusters.redis.db` (configuration files in `clusters.redis.conf`), the client in `clusters.redis.client`, each
workload's commands in `clusters.redis.workloads`, the node image recipe in `clusters/redis/Dockerfile`.

System options (`--system-opt key=value`):
  mode=auto              standalone on one node, sentinel on more; standalone: one redis-server, no failover;
                         sentinel: the first node starts as the primary, every other node as its replica, and a
                         Sentinel on every node watches them (quorum: a majority of the nodes)
  discovery=sentinel     each op asks the Sentinels for the current primary (the worker's own node's Sentinel
                         first, as a client living on that node would); `static`: a client asks once, on its
                         first op, and keeps talking to that node, whatever it becomes
  down_after_ms=2000     Sentinel's down-after-milliseconds: how long a primary may not answer before failover
  failover_timeout_ms=6000   Sentinel's failover-timeout
  binary=redis-server    the redis-server binary on the nodes (6.2 or later should do; 7.0 is tested; the Sentinel
                         runs as `binary --sentinel`)
  conf.KEY=VALUE         a redis.conf directive (not the Sentinel's), e.g. conf.min-replicas-to-write=1; a
                         directive this redis-server does not know is refused on the node before it starts
Every node authenticates clients, replicas and Sentinels with the run's password and listens on its cluster
address only (see `clusters.redis.conf`).

Workloads: register, set, counter, list-append, unique-ids, idempotent (see `clusters.redis.workloads`).

What to expect: replication is asynchronous, so a failover loses the writes the old primary acknowledged and
did not pass on, and a primary cut off by a partition keeps acknowledging writes (from the clients that still
reach it) until it rejoins as a replica and drops them. Runs with partition, kill or pause of the primary
(`primaries`) are therefore usually invalid: lost acknowledged writes (set, counter), non-linearizable
histories (register), cycles (list-append). `conf.min-replicas-to-write=1` narrows the window (a primary stops
taking writes once no replica has acknowledged for min-replicas-max-lag seconds) but does not close it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusters.redis.client import RedisClient
from clusters.redis.workloads import WORKLOADS
from harness.db import Isolation
from harness.errors import BadInput
from harness.options import OptionSpec, conf_spec, filled, one_node_only, require_nodes

if TYPE_CHECKING:
    from clusters.redis.db import RedisDB
    from harness.test import Test

MODES = ("auto", "standalone", "sentinel")
DISCOVERIES = ("sentinel", "static")


def _positive_ms(s: str) -> int:
    v = int(s)
    if v < 100:
        raise ValueError("must be at least 100 (milliseconds)")
    return v


@dataclass(frozen=True, kw_only=True)
class RedisOptions:
    """The redis system's options for one test, typed; `mode` is resolved (never "auto")."""

    mode: str
    discovery: str
    down_after_ms: int
    failover_timeout_ms: int
    binary: str
    conf: Mapping[str, str]

    @classmethod
    def of(cls, opts: Mapping[str, Any], nodes: Sequence[str]) -> RedisOptions:
        """From parsed system options (`harness.options.parse_opts`); BadInput for a mode the nodes cannot run."""
        mode = str(opts["mode"])
        require_nodes("redis", nodes)
        if mode == "auto":
            mode = "standalone" if len(nodes) == 1 else "sentinel"
        if mode == "standalone":
            one_node_only("redis mode=standalone", nodes, "mode=sentinel (the default with more nodes)")
        if mode == "sentinel" and len(nodes) < 2:
            raise BadInput("redis mode=sentinel needs at least 2 nodes (a primary and a replica; 3 to fail over "
                           "while one node is cut off)")
        return cls(mode=mode, discovery=str(opts["discovery"]), down_after_ms=int(opts["down_after_ms"]),
                   failover_timeout_ms=int(opts["failover_timeout_ms"]), binary=str(opts["binary"]),
                   conf=dict(opts.get("conf") or {}))


class RedisSystem:
    """The `harness.systems` plugin for Redis 6.2+ with Sentinel."""

    name = "redis"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="mode", default="auto", choices=MODES, expectation=True,
                   help="auto (standalone on one node, sentinel on more), standalone, or sentinel"),
        OptionSpec(name="discovery", default="sentinel", choices=DISCOVERIES, expectation=True,
                   help="sentinel: every op asks the Sentinels for the primary; static: ask once, keep that node"),
        OptionSpec(name="down_after_ms", default=2000, parse=_positive_ms,
                   help="Sentinel down-after-milliseconds (how long a silent primary lasts before failover)"),
        OptionSpec(name="failover_timeout_ms", default=6000, parse=_positive_ms,
                   help="Sentinel failover-timeout (milliseconds)"),
        OptionSpec(name="binary", default="redis-server", help="path of redis-server on the nodes (6.2 or later)"),
        conf_spec("a redis.conf directive (KEY VALUE) of every redis-server"),
    )

    def options(self, test: Test) -> RedisOptions:
        return RedisOptions.of(filled(self.option_specs, test.system_opts), test.nodes)

    def db(self, test: Test) -> RedisDB:
        from clusters.redis.db import RedisDB

        return RedisDB(self.options(test), password=test.secrets.password("redis"))

    def client(self, test: Test) -> RedisClient:
        o = self.options(test)
        return RedisClient(workload=test.options.workload, mode=o.mode, discovery=o.discovery,
                           password=test.secrets.password("redis"))

    def versions(self, test: Test) -> dict[str, object]:
        from clusters.redis.db import RedisDB

        db = test.db if isinstance(test.db, RedisDB) else self.db(test)
        o = db.opts
        return {"redis": db.installed_version(test, test.nodes[0]), "binary": o.binary, "mode": o.mode,
                "discovery": o.discovery, "down_after_ms": o.down_after_ms,
                "failover_timeout_ms": o.failover_timeout_ms}


    def isolation(self, test: Test) -> Isolation:
        """What list-append's MULTI/EXEC promises: strict serializability, on a single primary."""
        return ISOLATION


ISOLATION = Isolation(
    model="strict-serializable",
    why="redis runs each MULTI/EXEC alone, in arrival order, on the one primary every client writes to",
    notes=("a failover breaks this promise: replication is asynchronous, so a promoted replica may lack "
           "transactions the old primary acknowledged, and a cut-off primary keeps acknowledging its own",),
)

PLUGIN = RedisSystem()
