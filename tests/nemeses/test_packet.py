"""Packet faults on a real etcd cluster of local namespaces, measured with real packets between the nodes:
random loss through iptables, a rate limit through tc htb, netem delay (skipped on kernels without netem), and
the refusal before the run of a behaviour that needs netem when the kernel has none."""

from __future__ import annotations

import pytest

from harness.build import build_test
from harness.errors import MissingAbility
from harness.evidence import evidence_of
from harness.options import RunOptions
from harness.plugins import Registry
from nemeses.net import tc
from nemeses.net.iptables import chain_rules
from nemeses.packet import CHAIN
from tests.nemeses.netprobe import tcp_transfer_seconds, udp_delivery
from tests.real_cluster import etcd_put, invoke, running, skip_reason

pytestmark = [pytest.mark.cluster]


def _ns(test, node):  # type: ignore[no-untyped-def]
    return test.cluster.remote(node).netns


def test_iptables_loss_drops_about_half_of_what_the_target_sends() -> None:
    opts = {"packet-loss": "50", "packet-loss-via": "iptables"}
    with running(("packet",), opts) as test:
        n1, n2, n3 = test.nodes
        done = invoke(test, "start-packet", {"nodes": [n1]})
        assert done.error is None and done.value["nodes"] == [n1] and done.value["iptables_loss_pct"] == 50.0
        evidence = evidence_of(done)  # n1's datagrams to a peer, counted by the peer's kernel
        assert evidence is not None and evidence.took_effect
        (probe,) = evidence.probes
        assert probe.node == n1 and probe.what == "udp delivery" and probe.target in (n2, n3)
        lost, sent = (int(x) for x in probe.observed.split()[:3:2])
        assert sent == 100 and 25 <= lost <= 75, probe
        # the rules sit on the receivers and match only n1's address
        assert chain_rules(test.cluster.remote(n1), CHAIN) == []
        for peer in (n2, n3):
            (rule,) = chain_rules(test.cluster.remote(peer), CHAIN)
            assert f"-s {test.node_host(n1)}/32" in rule and "statistic --mode random --probability 0.5" in rule

        lossy = udp_delivery(_ns(test, n1), _ns(test, n2), test.node_host(n2))
        clean = udp_delivery(_ns(test, n2), _ns(test, n3), test.node_host(n3))
        assert 0.35 < lossy < 0.65, lossy
        assert clean > 0.95, clean

        healed = invoke(test, "stop-packet")
        assert healed.error is None and healed.value["healed"] == [n1]
        assert udp_delivery(_ns(test, n1), _ns(test, n2), test.node_host(n2)) > 0.95
        assert etcd_put(test, n1, "after", "heal")


def test_rate_limit_slows_transfers_between_nodes_only() -> None:
    with running(("packet",), {"packet-rate": "1mbit"}) as test:
        n1, n2, _ = test.nodes
        size = 250_000  # 2 Mbit: about 2 s at 1 Mbit/s
        before = tcp_transfer_seconds(_ns(test, n1), _ns(test, n2), test.node_host(n2), size)
        done = invoke(test, "start-packet", {"nodes": [n1]})
        assert done.error is None and done.value["tc"]["rate"] == "1mbit"
        evidence = evidence_of(done)  # no short probe shows a rate: the class is read back from the node
        assert evidence is not None and evidence.took_effect
        assert [(p.node, p.what, p.observed) for p in evidence.probes] == [(n1, "tc read back", "in place")]
        dev = tc.node_interface(test.cluster.remote(n1), test.node_host(n1))
        assert tc.root_handle(test.cluster.remote(n1), dev) == tc.ROOT
        limited = tcp_transfer_seconds(_ns(test, n1), _ns(test, n2), test.node_host(n2), size)
        assert limited > 1.2 and limited > 5 * before, (before, limited)
        # the reverse direction is not shaped
        assert tcp_transfer_seconds(_ns(test, n2), _ns(test, n1), test.node_host(n1), size) < 1.0

        invoke(test, "stop-packet")
        assert tc.root_handle(test.cluster.remote(n1), dev) == "0:"
        assert tcp_transfer_seconds(_ns(test, n1), _ns(test, n2), test.node_host(n2), size) < 1.0


def test_netem_delay_adds_latency() -> None:
    why = tc.host_has_netem()
    if why:
        pytest.skip(f"netem tests need the netem qdisc: {why}")
    with running(("packet",), {"packet-delay-ms": "200"}) as test:
        n1, n2, _ = test.nodes
        before = tcp_transfer_seconds(_ns(test, n1), _ns(test, n2), test.node_host(n2), 1000)
        done = invoke(test, "start-packet", {"nodes": [n1]})
        assert done.error is None and "delay 200ms" in done.value["tc"]["netem"]
        evidence = evidence_of(done)  # handshakes from n1 take the delay
        assert evidence is not None and evidence.took_effect
        assert [p.what for p in evidence.probes] == ["tcp handshake time"]
        after = tcp_transfer_seconds(_ns(test, n1), _ns(test, n2), test.node_host(n2), 1000)
        assert after > before + 0.15, (before, after)
        invoke(test, "stop-packet")


def test_netem_behaviour_refused_before_the_run_without_netem() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    options = RunOptions(system="etcd", nemeses=("packet",), nemesis_opts={"packet-delay-ms": "100"})
    if tc.host_has_netem() is None:
        test = build_test(options, Registry())  # netem exists: accepted
        test.ledger.close()
        return
    with pytest.raises(MissingAbility, match="delay and jitter needs the netem qdisc"):
        build_test(options, Registry())
