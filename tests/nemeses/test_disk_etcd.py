"""Disk faults on a real etcd cluster: a data file of a stopped node is changed exactly as reported (one bit
flipped, or its tail cut), the node is restarted and serves again; systems that cannot name their data files
are refused before the run."""

from __future__ import annotations

import subprocess

import pytest

from clusters.daemon import daemon_pids
from harness.build import build_test
from harness.errors import MissingAbility
from harness.options import RunOptions
from harness.plugins import Registry
from nemeses.disk import bitflip
from tests.nemeses.conftest import etcd_status, invoke, provider_skip, running, wait_for

pytestmark = [pytest.mark.cluster]
WAL = {"disk-files": "data/member/wal/*.wal"}


@pytest.mark.parametrize("provider", ["local", "docker"])
def test_bitflip_changes_one_bit_and_node_restarts(provider: str) -> None:
    with running(("disk",), WAL, provider=provider) as test:
        node = test.nodes[2]
        (old,) = daemon_pids(test.cluster.remote(node), test.db.pidfile(test, node))
        done = invoke(test, "corrupt-file", {"nodes": [node], "mode": "bitflip"})
        assert done.error is None, done.error
        (change,) = done.value["changes"]
        assert change["node"] == node and change["file"].endswith(".wal")
        assert change["after"] == change["before"] ^ (1 << change["bit"])
        # (the byte is not read back here: etcd zeroes its WAL past the last valid record when it restarts)
        (new,) = daemon_pids(test.cluster.remote(node), test.db.pidfile(test, node))
        assert new != old  # it was stopped for the corruption and started again
        assert "start_failed" not in done.value


def test_bitflip_flips_exactly_one_bit_of_a_file_on_the_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    with running(("disk",), WAL, nodes=("n1", "n2")) as test:
        path = str(tmp_path / "data.bin")
        original = bytes(range(256)) * 64
        with open(path, "wb") as fh:
            fh.write(original)
        change = bitflip(test.cluster.remote("n1"), path, random.Random(3))
        with open(path, "rb") as fh:
            now = fh.read()
        diff = [i for i in range(len(original)) if original[i] != now[i]]
        assert diff == [change["offset"]]
        assert original[diff[0]] ^ now[diff[0]] == 1 << change["bit"]


def test_truncate_cuts_the_tail_while_stopped() -> None:
    with running(("disk",), {**WAL, "disk-max-bytes": "512"}) as test:
        node = test.nodes[0]
        done = invoke(test, "corrupt-file", {"nodes": [node], "mode": "truncate"})
        assert done.error is None, done.error
        (change,) = done.value["changes"]
        assert 1 <= change["from_size"] - change["to_size"] <= 512
        size = int(subprocess.run(["stat", "-c", "%s", change["file"]], capture_output=True, text=True, check=False).stdout)
        assert size <= change["to_size"] or size >= change["from_size"]  # cut, unless etcd extended it since
        wait_for(lambda: etcd_status(test, node), 30, f"{node} to serve after a torn WAL tail")


def test_disk_needs_data_files_before_the_run() -> None:
    if provider_skip("local"):
        pytest.skip(provider_skip("local"))
    # postgres does not list its data files (etcd does: HasDataFiles), so without disk-files= it is refused
    with pytest.raises(MissingAbility, match="disk-files=GLOB"):
        build_test(RunOptions(system="postgres", workload="bank", nemeses=("disk",)), Registry())
