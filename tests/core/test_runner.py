"""The runner end to end through `harness run` in a subprocess: the built-in demo system (no root needed),
and real 3-node etcd runs on local namespaces, one killed with SIGKILL mid-run and cleaned up by `harness
cleanup` while another runs on."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.op import History, read_jsonl
from tests.core.residue import harness_leftovers

ENV = {**os.environ, "CI": "true"}


def harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


def run_dir_of(stdout: str) -> Path:
    return Path(stdout.strip().splitlines()[-1].split("\t")[0])


def test_demo_run_is_valid_and_writes_a_run_directory(tmp_path: Path) -> None:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "2", "--seed", "7",
                "--rate", "200", "--results", str(tmp_path))
    assert p.returncode == 0, p.stderr
    d = run_dir_of(p.stdout)
    assert p.stdout.strip().endswith("\tvalid")
    test = json.loads((d / "test.json").read_text())
    assert test["seed"] == 7 and test["options"]["system"] == "memory" and "argv" in test
    results = json.loads((d / "results.json").read_text())
    assert results["schema"] == 1 and results["valid"] is True and results["exit_code"] == 0
    h = History.from_jsonl(d / "history.jsonl")
    oks = [o for o in h if o.type == "ok"]
    assert len(oks) > 100
    assert all(c is not None for _, c in h.pairs())
    assert (tmp_path / "latest").resolve() == d.resolve()
    assert (d / "harness.log").read_text().count("phase") >= 4


def test_a_planted_bug_makes_the_run_invalid_with_exit_1(tmp_path: Path) -> None:
    p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "2", "--seed", "3",
                "--system-opt", "bug=stale-reads", "--results", str(tmp_path))
    assert p.returncode == 1, p.stderr
    assert p.stdout.strip().endswith("\tinvalid")
    results = json.loads((run_dir_of(p.stdout) / "results.json").read_text())
    assert results["valid"] is False
    # the planted bug changes the expectation, so its runs do not share a name with the bug-free ones
    assert run_dir_of(p.stdout).parent.name == "memory-register-none-bug=stale-reads" == results["run"]["name"]


def test_the_test_name_carries_the_options_that_change_the_expectation() -> None:
    from harness.build import build_test
    from harness.options import RunOptions
    from harness.plugins import Registry

    def name(**kw: object) -> str:
        test = build_test(RunOptions(system="memory", cluster="inprocess", **kw), Registry())  # type: ignore[arg-type]
        test.ledger.close()
        return test.name

    assert name() == "memory-register-none"
    assert name(system_opts={"bug": "none"}) == "memory-register-none"  # the default is not spelled out
    assert name(system_opts={"bug": "stale-reads"}) == "memory-register-none-bug=stale-reads"
    assert name(workload="list-append", workload_opts={"consistency": "PL-SI", "keys": "3"}) == (
        "memory-list-append-none-consistency=snapshot-isolation")  # the parsed model; keys change no expectation


def test_same_seed_same_generator_ops(tmp_path: Path) -> None:
    """The run's randomness is the seed's: two runs with one seed ask the same ops (times differ)."""
    seqs = []
    for i in range(2):
        p = harness("run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "1", "--seed", "11",
                    "--concurrency", "1", "--rate", "100", "--results", str(tmp_path / str(i)))
        assert p.returncode == 0, p.stderr
        h = History.from_jsonl(run_dir_of(p.stdout) / "history.jsonl")
        seqs.append([(o.f, o.value) for o in h if o.type == "invoke"][:50])
    assert seqs[0] == seqs[1] and len(seqs[0]) == 50


needs_root_etcd = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("etcd") is None or shutil.which("ip") is None,
    reason="needs root, iproute2 and etcd (Debian etcd-server) for a real local cluster",
)


def _state_of_run(run_id: str, nodes: tuple[str, ...] = ("n1", "n2", "n3")) -> dict[str, object]:
    """What a local run has on this host: its namespaces with the etcd daemons in each (by pid), its bridge, its
    FORWARD ACCEPT rule, and the partition rules (chain HARNESS-PART) inside each namespace."""
    from clusters.local.network import link_exists, names_for, netns_exists, netns_pids

    names = names_for(run_id)
    netns = {n: names.netns(n) for n in nodes if netns_exists(names.netns(n))}
    accept = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout
    part = {n: [r for r in subprocess.run(["ip", "netns", "exec", ns, "iptables", "-w", "-S", "HARNESS-PART"],
                                          capture_output=True, text=True).stdout.splitlines() if r.startswith("-A")]
            for n, ns in netns.items()}
    return {"netns": sorted(netns.values()), "etcd": {n: sorted(p for p in netns_pids(ns) if _comm(p) == "etcd") for n, ns in netns.items()},
            "bridge": link_exists(names.bridge), "accept": names.bridge in accept,
            "partition": {n: r for n, r in part.items() if r}}


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _oks(results: Path) -> int:
    found = list(results.glob("*/*/history.jsonl"))
    return sum(1 for o in read_jsonl(found[0]) if o.type == "ok") if found else 0


def _run_id(results: Path) -> str | None:
    found = list(results.glob("*/*/test.json"))
    return str(json.loads(found[0].read_text())["run_id"]) if found else None


@pytest.mark.cluster
@needs_root_etcd
def test_cleanup_between_two_runs_undoes_the_killed_one_and_leaves_the_live_one_alone(tmp_path: Path) -> None:
    """Two local etcd runs share a state directory; one is SIGKILLed mid-run while the other has a partition in
    place; two `harness cleanup`s at once remove everything of the killed run (each resource once, no alarm), and
    nothing of the live run: its namespaces, daemons, bridge, ACCEPT rule and partition stay until its own
    teardown, and it finishes valid with nothing left."""
    env = {**ENV, "HARNESS_STATE_DIR": str(tmp_path / "state")}
    run = [sys.executable, "-m", "harness", "run", "--system", "etcd", "--cluster", "local", "--seed", "5"]
    live = subprocess.Popen([*run, "--nemesis", "partition", "--nemesis-opt", "partition-grudge=one", "--op-timeout", "1",
                             "--nemesis-interval", "4", "--time-limit", "10",
                             "--results", str(tmp_path / "live")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    killed = subprocess.Popen([*run, "--time-limit", "60", "--results", str(tmp_path / "killed")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # the killed run has done ops and the live one has its partition in place
            live_id = _run_id(tmp_path / "live")
            if _oks(tmp_path / "killed") >= 50 and live_id and _state_of_run(live_id)["partition"]:
                break
            assert killed.poll() is None and live.poll() is None and time.monotonic() < deadline, \
                "the runs did not get under way together"
            time.sleep(0.2)
        history = next((tmp_path / "killed").glob("*/*/history.jsonl"))
        before = sum(1 for o in read_jsonl(history) if o.type != "invoke")
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=10)
        live_before = _state_of_run(live_id)
        cleanups = [subprocess.Popen([sys.executable, "-m", "harness", "cleanup"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
        outs = [c.communicate(timeout=180) for c in cleanups]
        live_after = _state_of_run(live_id)
        healed = any(o.f == "stop-partition" for o in read_jsonl(next((tmp_path / "live").glob("*/*/history.jsonl"))))
    except BaseException:
        for p in (killed, live):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # the live run tears down on Ctrl-C; the killed one is gone
                p.wait(timeout=120)
        raise
    killed_id = json.loads((history.parent / "test.json").read_text())["run_id"]
    for c, (_, err) in zip(cleanups, outs):
        assert c.returncode == 0 and "could not remove" not in err and "Bad rule" not in err, err
        assert f"skipping {live_id}.jsonl: its harness (pid {live.pid}) is still running" in err, err
    assert sum(err.count("removed iptables-accept") for _, err in outs) == 1  # undone once, by one cleanup
    assert harness_leftovers(killed_id) == []
    # the live run lost nothing: same namespaces, same daemons, its bridge and rule, its partition
    assert all(live_before["etcd"].values()) and live_before["bridge"] and live_before["accept"]
    assert live_after == live_before or (healed and live_after["partition"] == {}
                                                                 and {**live_after, "partition": {}}
                                                                 == {**live_before, "partition": {}})
    out, err = live.communicate(timeout=120)
    assert live.returncode == 0 and out.strip().endswith("\tvalid"), err[-3000:]
    assert harness_leftovers(live_id) == [] and not list((tmp_path / "state" / "ledger").glob("*.jsonl"))
    # the killed run lost no completed op: its history is parseable, every completion after its invocation
    ops = list(read_jsonl(history))
    completed = [o for o in ops if o.type != "invoke"]
    assert len(completed) >= before
    h = History(ops)
    invoked = {(o.process, o.index) for o in h if o.type == "invoke"}
    for o in completed:
        inv = h.invocation(o)
        assert inv is not None and (inv.process, inv.index) in invoked and inv.index < o.index


@pytest.mark.cluster
@needs_root_etcd
def test_default_main_job_on_local_etcd_is_valid(tmp_path: Path) -> None:
    p = harness("run", "--time-limit", "5", "--results", str(tmp_path), timeout=240)
    assert p.returncode == 0, p.stderr
    d = run_dir_of(p.stdout)
    h = History.from_jsonl(d / "history.jsonl")
    nodes = {o.node for o in h if o.type == "ok" and o.node}
    assert nodes == {"n1", "n2", "n3"}
    assert re.search(r"\tvalid$", p.stdout.strip())
    assert harness_leftovers(json.loads((d / "test.json").read_text())["run_id"]) == []
