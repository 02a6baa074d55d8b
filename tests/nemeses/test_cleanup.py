"""`harness cleanup` after a kill -9 of the harness: the undo functions registered by the nemeses heal the
faults from their ledger entries alone (no Test, no Cluster object), on real nodes."""

from __future__ import annotations

import pytest

from harness.ledger import undo_entries
from nemeses.net import tc
from nemeses.net.iptables import chain_rules
from nemeses.partition import CHAIN as PART
from nemeses.process import stopped_pids
from tests.real_cluster import etcd_status, invoke, running, wait_for

pytestmark = [pytest.mark.cluster]


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_undoers_heal_from_the_ledger_alone(provider: str) -> None:
    with running(("partition", "pause", "packet"), {"packet-rate": "1mbit"}, provider=provider) as test:
        _, n2, n3 = test.nodes
        assert invoke(test, "start-partition", "one").error is None
        assert invoke(test, "pause", [n2]).error is None
        assert invoke(test, "start-packet", {"nodes": [n3]}).error is None
        dev = tc.node_interface(test.cluster.remote(n3), test.node_host(n3))
        assert tc.root_handle(test.cluster.remote(n3), dev) == tc.ROOT
        assert stopped_pids(test.cluster.remote(n2))

        entries = [e for e in test.ledger.outstanding() if e.kind.startswith("nemesis-")]
        assert {e.kind for e in entries} == {"nemesis-iptables", "nemesis-pause", "nemesis-tc"}
        logged: list[str] = []
        assert undo_entries(entries, logged.append) == []  # what `harness cleanup` runs for a dead harness

        for n in test.nodes:
            assert chain_rules(test.cluster.remote(n), PART) == []
        assert tc.root_handle(test.cluster.remote(n3), dev) == "0:"
        wait_for(lambda: etcd_status(test, n2), 10, f"{n2} to answer after SIGCONT by the undoer")
        # the nemeses' own teardown then runs on the already-healed nodes: idempotent (checked by `running`)
