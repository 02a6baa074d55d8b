"""RabbitMQ, the message broker: the `harness.systems` plugin `rabbitmq`.

Owns `RabbitMQSystem` (name, workloads, option specs, the factories of the DB and the client) and
`RabbitMQOptions`, the one typed value of its options, built once from the test's parsed system options. The DB
lives in `clusters.rabbitmq.db`, the client in `clusters.rabbitmq.client`, the node image recipe in
`clusters/rabbitmq/Dockerfile` (Debian 12's rabbitmq-server 3.10).

System options (`--system-opt key=value`):
  queue=quorum             the test's one durable queue: `quorum` (Raft-replicated over every node),
                           `classic-mirrored` (a classic queue mirrored to every node by an ha-mode=all policy
                           with automatic sync), or `classic` (one node holds it)
  partition_handling=pause_minority   cluster_partition_handling: `pause_minority` (nodes in a minority stop
                           serving), `autoheal` (after a partition the losing side restarts and drops its
                           state), or `ignore` (both sides keep serving)
  net_ticktime=5           Erlang's net_ticktime in seconds: a peer silent for about this long is declared
                           down (RabbitMQ's default, 60, is a whole run)
  conf.KEY=VALUE           a rabbitmq.conf setting of every node (checked against the broker's schema on the
                           node before it starts: an unknown key is bad input)
Every node authenticates clients with the run's password (account `harness`), clusters with the run's Erlang
cookie, and listens on its cluster address only (see `clusters.rabbitmq.db`).

Workload: queue (`workloads.queue`).

What to expect (see docs/rabbitmq.md): quorum queues confirm a publish once a majority has it, so under
partitions and kills they should lose no confirmed message. Classic mirrored queues with partition_handling=
ignore or autoheal let both sides of a partition keep a master; when the partition heals one side's messages
are thrown away: confirmed messages lost (or, with requeues, delivered twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusters.rabbitmq.client import WORKLOADS, RabbitMQClient
from harness.options import CONF, OptionSpec, conf_spec, filled, require_nodes

if TYPE_CHECKING:
    from clusters.rabbitmq.db import RabbitMQDB
    from harness.test import Test

QUEUES = ("quorum", "classic-mirrored", "classic")
PARTITION_HANDLING = ("pause_minority", "autoheal", "ignore")
AMQP_PORT = 5672


def _ticktime(s: str) -> int:
    v = int(s)
    if not 1 <= v <= 120:
        raise ValueError("must be 1-120 (seconds)")
    return v


@dataclass(frozen=True, kw_only=True)
class RabbitMQOptions:
    """The rabbitmq system's options for one test, typed."""

    queue: str
    partition_handling: str
    net_ticktime: int
    conf: Mapping[str, str]

    @classmethod
    def of(cls, opts: Mapping[str, Any], nodes: Sequence[str]) -> RabbitMQOptions:
        """From parsed system options (`harness.options.parse_opts`, defaults filled in)."""
        require_nodes("rabbitmq", nodes)
        return cls(queue=str(opts["queue"]), partition_handling=str(opts["partition_handling"]),
                   net_ticktime=int(opts["net_ticktime"]), conf=dict(opts.get(CONF) or {}))

    def queue_args(self) -> dict[str, str]:
        """The x-arguments the queue is declared with."""
        return {"x-queue-type": "quorum" if self.queue == "quorum" else "classic"}


class RabbitMQSystem:
    """The `harness.systems` plugin for RabbitMQ 3.10."""

    name = "rabbitmq"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="queue", default="quorum", choices=QUEUES, expectation=True,
                   help="quorum, classic-mirrored (ha-mode=all policy) or classic (one node)"),
        OptionSpec(name="partition_handling", default="pause_minority", choices=PARTITION_HANDLING, expectation=True,
                   help="cluster_partition_handling: pause_minority, autoheal or ignore"),
        OptionSpec(name="net_ticktime", default=5, parse=_ticktime,
                   help="Erlang net_ticktime (seconds): how soon a silent peer is declared down"),
        conf_spec("a rabbitmq.conf setting (KEY = VALUE) of every node"),
    )

    def options(self, test: Test) -> RabbitMQOptions:
        return RabbitMQOptions.of(filled(self.option_specs, test.system_opts), test.nodes)

    def db(self, test: Test) -> RabbitMQDB:
        from clusters.rabbitmq.db import RabbitMQDB

        return RabbitMQDB(self.options(test), test.nodes, password=test.secrets.password("rabbitmq"),
                          cookie=test.secrets.password("rabbitmq-cookie"))

    def client(self, test: Test) -> RabbitMQClient:
        return RabbitMQClient(workload=test.options.workload, queue_args=self.options(test).queue_args(),
                              password=test.secrets.password("rabbitmq"), port=AMQP_PORT)

    def versions(self, test: Test) -> dict[str, object]:
        from clusters.rabbitmq.db import RabbitMQDB

        db = test.db if isinstance(test.db, RabbitMQDB) else self.db(test)
        o = db.opts
        return {"rabbitmq": db.installed_version(test, test.nodes[0]), "queue": o.queue,
                "partition_handling": o.partition_handling, "net_ticktime": o.net_ticktime}


PLUGIN = RabbitMQSystem()
