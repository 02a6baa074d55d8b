"""Membership changes on a real etcd cluster: a removed member leaves the member list and stops serving; added
back, it rejoins with a new member id and serves again; teardown re-adds what is still removed."""

from __future__ import annotations

import pytest

from clusters.daemon import daemon_pids
from harness.evidence import evidence_of
from tests.real_cluster import (
    etcd_member_id,
    etcd_put,
    etcd_status,
    invoke,
    running,
    wait_for,
)

pytestmark = [pytest.mark.cluster]


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_remove_and_add_back(provider: str) -> None:
    with running(("membership",), provider=provider) as test:
        n1, _, n3 = test.nodes
        nemesis = test.nemesis.nemeses[0]
        old_id = etcd_member_id(test, n3)
        done = invoke(test, "remove-member", [n3])
        assert done.error is None and done.value["removed"] == [n3]
        evidence = evidence_of(done)  # the member list read back from the cluster
        assert evidence is not None and evidence.took_effect
        assert [(p.node, p.observed.split(";")[0]) for p in evidence.probes] == [(n3, "not a member")]
        assert sorted(nemesis.members(test)) == [n for n in test.nodes if n != n3]
        assert daemon_pids(test.cluster.remote(n3), test.db.pidfile(test, n3)) == []
        assert etcd_status(test, n3) is None
        # the two remaining members go on (after an election if the removed member led)
        wait_for(lambda: etcd_put(test, n1, "k", "two-members"), 15, "a commit with two members")

        added = invoke(test, "add-member")
        assert added.error is None and added.value["added"] == [n3]
        wait_for(lambda: n3 in nemesis.members(test), 30, f"{n3} to be a started member again")
        wait_for(lambda: etcd_status(test, n3), 30, f"{n3} to serve")
        assert etcd_member_id(test, n3) != old_id
        wait_for(lambda: etcd_put(test, n3, "k", "three-members"), 15, f"a commit through {n3}")


def test_never_below_two_members_and_teardown_readds() -> None:
    with running(("membership",)) as test:
        done = invoke(test, "remove-member", "all")
        assert done.error is None
        assert len(done.value["removed"]) == 1 and len(done.value["kept"]) == 2
        # left removed: the fixture's teardown must add it back (residue would fail the test)
