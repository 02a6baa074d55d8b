"""Kill and pause on a real etcd cluster: a killed node's process is gone and comes back with `start`; a
paused node stops answering and answers again after `resume`; nothing stays stopped after teardown. The
evidence on each op is what was measured: the killed pid gone and the new one running, the paused pid in state
T and running again after the resume."""

from __future__ import annotations

import pytest

from clusters.daemon import daemon_pids
from harness.evidence import evidence_of
from nemeses.process import stopped_pids
from tests.real_cluster import etcd_status, invoke, running, wait_for

pytestmark = [pytest.mark.cluster]


def _gone(pid: int) -> bool:
    """No such process, or only its zombie (reaped by whoever adopted it)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1].startswith("Z")
    except OSError:
        return True


def _pid(test, node):  # type: ignore[no-untyped-def]
    return daemon_pids(test.cluster.remote(node), test.db.pidfile(test, node))


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_kill_then_start(provider: str) -> None:
    with running(("kill",), provider=provider) as test:
        node = test.nodes[1]
        (old,) = _pid(test, node)
        done = invoke(test, "kill", [node])
        assert done.error is None and done.value["nodes"] == [node]
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect
        assert [(p.node, p.target, p.observed) for p in evidence.probes] == [(node, f"pid {old}", "gone")]
        assert _pid(test, node) == []
        if provider == "local":  # same pid namespace as the host: the process is really gone
            wait_for(lambda: _gone(old), 5, f"pid {old} to be gone")
        else:  # the container's init reaped it: not even a zombie is left in the container's pid namespace
            remote = test.cluster.remote(node)
            wait_for(lambda: remote.run(["test", "-e", f"/proc/{old}"], check=False).exit_code != 0, 5,
                     f"pid {old} to be reaped in its container")
        assert etcd_status(test, node) is None

        started = invoke(test, "start")
        assert started.error is None and started.value["nodes"] == [node]
        (new,) = _pid(test, node)
        assert new != old
        evidence = evidence_of(started)
        assert evidence is not None and [(p.node, p.target, p.observed) for p in evidence.probes] == [
            (node, f"pid {new}", "running")]
        wait_for(lambda: etcd_status(test, node), 30, f"{node} to serve again")


def test_kill_majority_by_spec() -> None:
    with running(("kill",)) as test:
        done = invoke(test, "kill", "majority")
        assert done.error is None and len(done.value["nodes"]) == 2
        for n in done.value["nodes"]:
            assert _pid(test, n) == []
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect
        assert sorted(p.node for p in evidence.judged) == sorted(done.value["nodes"])
        again = invoke(test, "kill", done.value["nodes"])  # nothing runs there any more: acts on nothing
        evidence = evidence_of(again)
        assert evidence is not None and not evidence.took_effect
        assert {p.observed for p in evidence.probes} == {"no process of the system was running"}
        # teardown (not a `start` op) must bring them back: the fixture checks the residue


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_pause_then_resume(provider: str) -> None:
    with running(("pause",), provider=provider) as test:
        node = test.nodes[0]
        (pid,) = _pid(test, node)
        done = invoke(test, "pause", [node])
        assert done.error is None and done.value["nodes"] == [node]
        assert done.value["pids"][node] == [pid]
        assert pid in stopped_pids(test.cluster.remote(node))
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect
        assert [(p.node, p.target, p.observed) for p in evidence.probes] == [(node, f"pid {pid}", "T")]
        assert etcd_status(test, node, timeout=1.0) is None  # a stopped process does not answer

        resumed = invoke(test, "resume")
        assert resumed.error is None and resumed.value["nodes"] == [node]
        evidence = evidence_of(resumed)
        assert evidence is not None and evidence.took_effect and evidence.probes[0].observed in ("S", "R")
        assert pid not in stopped_pids(test.cluster.remote(node))
        wait_for(lambda: etcd_status(test, node), 10, f"{node} to answer again")
        assert _pid(test, node) == [pid]  # the same process, continued


def test_pause_left_in_place_is_healed_by_teardown() -> None:
    with running(("pause",)) as test:
        done = invoke(test, "pause", "all")
        assert done.error is None and sorted(done.value["nodes"]) == sorted(test.nodes)
        assert test.ledger.outstanding()  # recorded for `harness cleanup`


def test_kill_and_pause_by_spec_draw_from_the_nodes_where_the_system_runs() -> None:
    """With kill and pause in one run, a pause or a second kill drawn after a kill must not land on the killed
    node (it would act on nothing, and the run would call the fault untested): a node spec draws from live
    processes only."""
    with running(("kill", "pause")) as test:
        killed = invoke(test, "kill", [test.nodes[0]])
        assert killed.error is None and _pid(test, test.nodes[0]) == []
        for _ in range(5):  # "one" drawn five times: never the killed node
            done = invoke(test, "pause", "one")
            assert done.error is None and done.value["nodes"] and test.nodes[0] not in done.value["nodes"], done
            evidence = evidence_of(done)
            assert evidence is not None and evidence.took_effect
            assert invoke(test, "resume").error is None
        done = invoke(test, "pause", "all")
        assert sorted(done.value["nodes"]) == sorted(test.nodes[1:]), done
        assert invoke(test, "resume").error is None
        again = invoke(test, "kill", "all")
        assert again.error is None and sorted(again.value["nodes"]) == sorted(test.nodes[1:]), again
        evidence = evidence_of(again)
        assert evidence is not None and evidence.took_effect
        assert invoke(test, "start").error is None


def test_a_spec_that_names_no_node_is_redrawn_among_the_familys_specs() -> None:
    """A majority killed, etcd has no leader: a pause drawn as `primaries` would stop nothing. The nemesis
    draws again among the family's specs (from the nemesis stream: the same stream state, the same stand-in)
    and pauses the one node still running; "acted on nothing" is left for when no spec names a node."""
    from nemeses.targets import draw_targets

    with running(("kill", "pause")) as test:
        killed = invoke(test, "kill", "majority")
        assert killed.error is None and len(killed.value["nodes"]) == 2
        [survivor] = [n for n in test.nodes if n not in killed.value["nodes"]]
        wait_for(lambda: not test.db.primaries(test), 30, "etcd to have no leader")
        state = test.nemesis_rng.getstate()
        redrawn = []
        for _ in range(2):
            test.nemesis_rng.setstate(state)
            done = invoke(test, "pause", "primaries")
            assert done.error is None and done.value["nodes"] == [survivor], done
            assert done.value["redrawn"].startswith("'primaries' named no node now; drew "), done
            assert "skipped" not in done.value
            evidence = evidence_of(done)
            assert evidence is not None and evidence.took_effect and not evidence.nothing
            assert [p.node for p in evidence.judged] == [survivor]
            redrawn.append(done.value["redrawn"])
            assert invoke(test, "resume").error is None
        assert redrawn[0] == redrawn[1]
        # only specs that name no node: acted on nothing, saying which were tried
        none = draw_targets(test, "primaries", ("primaries", "minority"), [survivor])
        assert none.nodes == [] and none.redrawn is None
        assert none.note == "no node matches 'primaries', 'minority' now"
        assert invoke(test, "start").error is None
