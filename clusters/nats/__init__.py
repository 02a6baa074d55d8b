"""NATS with clustered JetStream: the `harness.systems` plugin `nats`.

Owns `NatsSystem` (name, workloads, option specs, the factories of the DB and the client) and `NatsOptions`, the
one typed value of its options, built once from the test's parsed system options. The DB lives in
`clusters.nats.db` (the configuration file in `clusters.nats.conf`), the client in `clusters.nats.client`, each
workload's requests and streams in `clusters.nats.workloads`, the node image recipe in `clusters/nats/Dockerfile`
(Debian 12's nats-server 2.9).

System options (`--system-opt key=value`):
  replicas=N           copies of the workload's stream (JetStream's num_replicas, 1 to 5 and at most the number of
                       nodes); default: one per node
  sync=DURATION        JetStream's sync_interval (how often the store is fsynced; `always` on servers that have
                       it): passed to the server, which refuses it before it starts if it lacks the setting, as
                       nats-server 2.9 does (one line, exit 254)
  msg_id=false         true: every publish carries a Nats-Msg-Id header (the element) and the stream detects
                       duplicates within a 2-minute window
  binary=nats-server   the nats-server binary on the nodes (2.9 is tested)
  conf.KEY=VALUE       a top-level setting of nats-server's configuration file, written as `KEY: VALUE`; a key
                       the server does not know is refused on the node before it starts
Every node authenticates clients and routes with the run's password and listens on its cluster address only.

Workloads: stream (append / read by offset / read-all), queue (enqueue / dequeue / drain on a work-queue stream).

What to expect: JetStream acknowledges a publish once a majority of the stream's replicas have it in memory and
fsyncs its files on a timer (every two minutes by default in 2.9), so kill and partition with replicas=3 should
stay valid, and a power loss on every node at once can lose acknowledged messages (see docs/nats.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clusters.nats.client import NatsClient
from clusters.nats.workloads import WORKLOADS
from harness.errors import BadInput
from harness.options import OptionSpec, conf_spec, filled, parse_bool, require_nodes

if TYPE_CHECKING:
    from clusters.nats.db import NatsDB
    from harness.test import Test

MAX_REPLICAS = 5  # JetStream's limit on a stream's replicas


def _replicas(s: str) -> int:
    v = int(s)
    if not 1 <= v <= MAX_REPLICAS:
        raise ValueError(f"must be 1 to {MAX_REPLICAS} (JetStream's limit)")
    return v


@dataclass(frozen=True, kw_only=True)
class NatsOptions:
    """The nats system's options for one test, typed; `replicas` is resolved (never 0)."""

    replicas: int
    sync: str | None
    msg_id: bool
    binary: str
    conf: Mapping[str, str]

    @classmethod
    def of(cls, opts: Mapping[str, Any], nodes: Sequence[str]) -> NatsOptions:
        """From parsed system options (`harness.options.parse_opts`); BadInput for replicas the nodes cannot hold."""
        require_nodes("nats", nodes)
        replicas = int(opts["replicas"]) or min(len(nodes), MAX_REPLICAS)
        if replicas > len(nodes):
            raise BadInput(f"nats replicas={replicas} needs at least {replicas} nodes, and the test has {len(nodes)}")
        sync = str(opts["sync"]) or None
        return cls(replicas=replicas, sync=sync, msg_id=bool(opts["msg_id"]), binary=str(opts["binary"]),
                   conf=dict(opts.get("conf") or {}))


class NatsSystem:
    """The `harness.systems` plugin for nats-server 2.9+ with clustered JetStream."""

    name = "nats"
    workloads: frozenset[str] = WORKLOADS
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="replicas", default=0, parse=_replicas, expectation=True,
                   help="copies of the workload's stream (1-5, at most the nodes); default one per node"),
        OptionSpec(name="sync", default="", expectation=True,
                   help="JetStream sync_interval (e.g. 1s, always); nats-server 2.9 has none and refuses it"),
        OptionSpec(name="msg_id", default=False, parse=parse_bool, expectation=True,
                   help="true: publishes carry Nats-Msg-Id and the stream detects duplicates (2 min window)"),
        OptionSpec(name="binary", default="nats-server", help="path of nats-server on the nodes (2.9 or later)"),
        conf_spec("a top-level setting of nats-server's configuration file (KEY: VALUE)"),
    )

    def options(self, test: Test) -> NatsOptions:
        return NatsOptions.of(filled(self.option_specs, test.system_opts), test.nodes)

    def db(self, test: Test) -> NatsDB:
        from clusters.nats.db import NatsDB

        return NatsDB(self.options(test), password=test.secrets.password("nats"), workload=test.options.workload)

    def client(self, test: Test) -> NatsClient:
        return NatsClient(workload=test.options.workload, password=test.secrets.password("nats"),
                          msg_id=self.options(test).msg_id)

    def versions(self, test: Test) -> dict[str, object]:
        from clusters.nats.db import NatsDB

        db = test.db if isinstance(test.db, NatsDB) else self.db(test)
        o = db.opts
        return {"nats-server": db.installed_version(test, test.nodes[0]), "binary": o.binary,
                "replicas": o.replicas, "sync": o.sync, "msg_id": o.msg_id}


PLUGIN = NatsSystem()
