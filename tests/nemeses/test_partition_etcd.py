"""Partitions on a real 3-node etcd cluster (local namespaces; docker where the engine runs): an isolated
leader loses leadership and cannot commit, the majority elects a new leader, and heal removes every rule. The
evidence each start records is measured: TCP connects across every cut time out, the others connect; an empty
grudge acts on nothing."""

from __future__ import annotations

import pytest

from harness.evidence import evidence_of
from nemeses.net.iptables import chain_rules
from nemeses.partition import CHAIN
from tests.real_cluster import etcd_put, invoke, running, wait_for

pytestmark = [pytest.mark.cluster]


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_isolated_leader_loses_leadership_and_heal_restores(provider: str) -> None:
    with running(("partition",), provider=provider) as test:
        leader = wait_for(lambda: test.db.primaries(test), 30, "a leader")[0]
        others = [n for n in test.nodes if n != leader]

        done = invoke(test, "start-partition", "primaries")
        assert done.type == "info" and done.error is None, done
        assert done.value["kind"] == "primaries"
        assert done.value["grudge"][leader] == others
        for n in others:
            assert done.value["grudge"][n] == [leader]
        # the rules are really in each node's own iptables
        rules = chain_rules(test.cluster.remote(leader), CHAIN)
        assert len(rules) == 2 and all("-j DROP" in r for r in rules), rules
        evidence = evidence_of(done)  # measured on the nodes: the leader's links time out, the others connect
        assert evidence is not None and evidence.took_effect, evidence
        seen = {(p.node, p.target.split(":")[0]): (p.expected, p.observed) for p in evidence.probes}
        assert len(seen) == 6
        for (a, b), outcome in seen.items():
            cut = leader in (a, b)
            assert outcome == (("blocked", "timed out") if cut else ("open", "connected")), seen

        # the majority elects a new leader; the old one cannot commit any more
        new = wait_for(lambda: [p for p in test.db.primaries(test) if p in others], 30, "a new leader")
        assert new[0] in others
        assert etcd_put(test, others[0], "k", "majority-side")
        assert not etcd_put(test, leader, "k", "isolated-side", timeout=2.0)

        healed = invoke(test, "stop-partition")
        assert healed.error is None and healed.value["healed"][leader] == others
        for n in test.nodes:
            assert chain_rules(test.cluster.remote(n), CHAIN) == []
        wait_for(lambda: etcd_put(test, leader, "k", "after-heal"), 30, "the old leader to commit again")
    # leaving `running` asserted: chain and jump removed on every node, no ledger entry left


def test_one_way_cut_only_on_receivers() -> None:
    with running(("partition",)) as test:
        done = invoke(test, "start-partition", "one-way")
        assert done.error is None
        grudge = done.value["grudge"]
        (victim,) = {d for drops in grudge.values() for d in drops}
        assert victim not in grudge  # the victim drops nothing: it still hears everyone
        for n in test.nodes:
            rules = chain_rules(test.cluster.remote(n), CHAIN)
            if n == victim:
                assert rules == []
            else:
                assert rules == [f"-A {CHAIN} -s {test.node_host(victim)}/32 -j DROP"]
        # a TCP handshake needs both directions: the victim's links are blocked both ways for a connect
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect
        assert {(p.node, p.target.split(":")[0]) for p in evidence.judged} == {
            (a, b) for a in test.nodes for b in test.nodes if a != b and victim in (a, b)}
        invoke(test, "stop-partition")


def test_an_empty_grudge_acts_on_nothing() -> None:
    with running(("partition",)) as test:
        done = invoke(test, "start-partition", {n: [] for n in test.nodes})
        assert done.error is None and done.value["grudge"] == {}
        evidence = evidence_of(done)
        assert evidence is not None and not evidence.took_effect
        assert "cut no link" in evidence.nothing


def test_a_cut_is_not_judged_from_a_node_whose_open_links_do_not_answer_either() -> None:
    """n3 sends no TCP handshake at all (a DROP on its own OUTPUT, made here, outside the harness's chains): its
    connect to n2 times out whether or not the partition cut it, so that time-out proves nothing and is recorded
    unjudged; n2's own probes, whose open link answers, still show the cut."""
    with running(("partition",)) as test:
        n3 = test.cluster.remote("n3")
        mute = ["OUTPUT", "-p", "tcp", "--syn", "-j", "DROP"]
        n3.run(["iptables", "-w", "5", "-I", *mute], timeout=30)
        try:
            done = invoke(test, "start-partition", {"n2": ["n3"]})
        finally:
            n3.run(["iptables", "-w", "5", "-D", *mute], timeout=30)
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect, evidence
        by_pair = {(p.node, p.target.split(":")[0]): p for p in evidence.probes}
        unjudged = by_pair[("n3", "n2")]
        assert unjudged.effect is None and "not judged: no open link from n3 answered" in unjudged.observed
        assert by_pair[("n3", "n1")].observed == "timed out"  # the open link that did not answer
        assert by_pair[("n2", "n3")].effect is True and by_pair[("n2", "n1")].observed == "connected"
        invoke(test, "stop-partition")


def test_on_ssh_hosts_the_evidence_probes_etcds_own_port_not_sshds() -> None:
    """On ssh hosts the lowest port a node listens on is sshd's 22. A partition's evidence probes etcd's peer
    port (the system names its ports, `HasPorts`) and still tells the cut links from the open ones; a system
    that names no ports falls back to the lowest listening port."""
    import dataclasses

    from nemeses.probe import listening_ports, probe_aims

    with running(("partition",), provider="ssh") as test:
        n1, n2, n3 = test.nodes
        assert all(listening_ports(test.cluster.remote(n), test.node_host(n))[0] == 22 for n in test.nodes)
        done = invoke(test, "start-partition", {n1: [n2, n3], n2: [n1], n3: [n1]})
        assert done.error is None, done
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect, evidence
        probed = {(p.node, p.target): (p.expected, p.observed) for p in evidence.probes}
        assert set(probed) == {(a, f"{b}:2380") for a in test.nodes for b in test.nodes if a != b}, probed
        for (a, target), outcome in probed.items():
            cut = n1 in (a, target.split(":")[0])
            assert outcome == (("blocked", "timed out") if cut else ("open", "connected")), probed
        assert invoke(test, "stop-partition").error is None
        bare = dataclasses.replace(test, db=object())  # a system that names no ports: the old rule
        assert {n: a.port for n, a in probe_aims(bare, test.nodes).items()} == {n: 22 for n in test.nodes}
