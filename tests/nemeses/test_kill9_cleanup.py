"""A real `harness run` killed with SIGKILL in the middle of a partition and a pause, then `harness cleanup`:
the nemeses' ledger entries are undone by their undo functions (in their own state directory, so no other
run on this machine is touched), with no problem reported and nothing of the run left; the nodes' logs, which
the killed harness never collected, are copied into the run directory before the workdirs are deleted."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from clusters.local.network import names_for
from tests.real_cluster import skip_reason
from tests.rundirs import harness_cleanup, sigkilled_run

pytestmark = [pytest.mark.cluster]


def _partitioned_and_paused(history: Path) -> bool:
    """The scenario's partition and pause have both begun (their nemesis ops are in the history)."""
    done = {o["f"] for o in map(json.loads, history.read_text().splitlines())
            if o["process"] == "nemesis" and o["type"] == "info"}
    return {"start-partition", "pause"} <= done


def test_cleanup_after_sigkill_heals_the_faults() -> None:
    reason = skip_reason("local")
    if reason:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="nemeses-kill9-") as d:
        root = Path(d)
        scenario = root / "scenario.json"
        scenario.write_text(json.dumps([
            {"at": 1, "f": "start-partition", "value": "one"},
            {"at": 1.5, "f": "pause", "value": ["n2"]},
        ]))
        killed = sigkilled_run(root, "--system", "etcd", "--cluster", "local", "--nemesis", "partition,pause",
                               "--nemesis-opt", f"schedule={scenario}", "--time-limit", "60",
                               started=_partitioned_and_paused)
        ledgers = list((root / "state" / "ledger").glob("*.jsonl"))
        assert len(ledgers) == 1
        kinds = {json.loads(x).get("kind") for x in ledgers[0].read_text().splitlines()}
        assert {"nemesis-iptables", "nemesis-pause"} <= kinds

        c = harness_cleanup(killed.env)
        assert c.returncode == 0, c.stderr
        assert "could not remove" not in c.stderr
        assert "removed nemesis-iptables" in c.stderr and "removed nemesis-pause" in c.stderr
        assert f"cleanup: scanned {root / 'state' / 'ledger'}: 1 ledger(s) of ended runs" in c.stderr
        [run_dir] = [d for d in (root / "results").glob("*/*")
                     if d.is_dir() and not d.is_symlink() and not d.parent.is_symlink()]
        for node in ("n1", "n2", "n3"):
            salvaged = run_dir / "nodes" / node
            assert "etcd" in (salvaged / "etcd.log").read_text(), f"{node}'s log was not rescued"
            assert "harness cleanup" in (salvaged / "SALVAGED.txt").read_text()
        assert not list((root / "state" / "ledger").glob("*.jsonl"))  # every entry undone
        netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        run_id = ledgers[0].name.removesuffix(".jsonl")
        assert not (root / "state" / run_id).exists()
        tag = names_for(run_id).tag
        assert not [line for line in netns.splitlines() if line.startswith(f"harness-{tag}-")]
