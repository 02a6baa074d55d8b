"""Swizzle-clog on a real etcd cluster: links are cut one node at a time over the spread, the fully clogged
cluster cannot commit, links come back one at a time in another order and the cluster commits again."""

from __future__ import annotations

import pytest

from harness.evidence import evidence_of
from nemeses.net.iptables import chain_rules
from nemeses.swizzle import CHAIN
from tests.nemeses.netprobe import udp_delivery
from tests.real_cluster import etcd_put, invoke, running, wait_for

pytestmark = [pytest.mark.cluster]


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_clog_one_by_one_then_restore_in_another_order(provider: str) -> None:
    with running(("swizzle-clog",), provider=provider) as test:
        n1, n2, _ = test.nodes
        done = invoke(test, "start-clog", {"nodes": "all", "seconds": 1.5})
        assert done.error is None
        order, at = done.value["order"], done.value["at_s"]
        assert sorted(order) == sorted(test.nodes)
        assert at == sorted(at) and at[-1] >= 0.9  # spread over the seconds, not all at once
        for n in test.nodes:
            assert len(chain_rules(test.cluster.remote(n), CHAIN)) == 4  # cut by itself and by both others
        evidence = evidence_of(done)  # every link measured blocked once all cuts are made
        assert evidence is not None and evidence.took_effect and len(evidence.judged) == 6
        assert {p.observed for p in evidence.probes} == {"timed out"}
        if provider == "local":  # packets between namespaces measured directly
            ns = {n: test.cluster.remote(n).netns for n in test.nodes}
            assert udp_delivery(ns[n1], ns[n2], test.node_host(n2), count=200) == 0.0
        assert not etcd_put(test, n1, "k", "clogged", timeout=1.5)

        healed = invoke(test, "stop-clog", {"seconds": 1.0})
        assert healed.error is None
        assert sorted(healed.value["order"]) == sorted(order) and healed.value["order"] != order
        for n in test.nodes:
            assert chain_rules(test.cluster.remote(n), CHAIN) == []
        wait_for(lambda: etcd_put(test, n1, "k", "unclogged"), 30, "the cluster to commit again")


def test_random_subset_by_default() -> None:
    with running(("swizzle-clog",), {"clog-seconds": "0.3"}) as test:
        done = invoke(test, "start-clog")
        assert done.error is None and 1 <= len(done.value["order"]) <= 3
        # left clogged: teardown must remove the chain everywhere (checked by the fixture)
