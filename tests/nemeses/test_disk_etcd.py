"""Disk faults on a real etcd cluster: a data file of a stopped node is changed exactly as reported (one bit
flipped, or its tail cut) inside its written data, never in the zero-filled, preallocated tail of a WAL
segment; the change is evidenced by checksums of the written data before and after; the node is started again
(etcd may refuse a WAL it finds corrupt: that is its answer, recorded); systems that cannot name their data files
are refused before the run."""

from __future__ import annotations

import subprocess

import pytest

from clusters.daemon import daemon_pids
from harness.build import build_test
from harness.errors import MissingAbility
from harness.evidence import evidence_of
from harness.options import RunOptions
from harness.plugins import Registry
from nemeses.datafile import bitflip, checksum, truncate, written_bytes
from tests.real_cluster import etcd_status, invoke, running, skip_reason, wait_for

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
        # aimed at the written part of the 64 MB preallocated segment, not its zero tail
        assert 0 <= change["offset"] < change["written"] < 1_000_000
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect
        (probe,) = evidence.probes
        assert probe.node == node and probe.what == "sha256 of the written data" and probe.expected == "changed"
        assert change["sha256_before"] != change["sha256_after"]
        # (the byte is not read back here: etcd zeroes its WAL past the last valid record when it restarts)
        if "start_failed" in done.value:  # etcd found the WAL corrupt and refused it ("walpb: crc mismatch")
            assert "crc mismatch" in done.value["start_failed"][node] or "exited" in done.value["start_failed"][node]
        else:
            (new,) = daemon_pids(test.cluster.remote(node), test.db.pidfile(test, node))
            assert new != old  # it was stopped for the corruption and started again


def test_bitflip_flips_exactly_one_bit_of_a_file_on_the_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    with running(("disk",), WAL, nodes=("n1", "n2")) as test:
        path = str(tmp_path / "data.bin")
        original = bytes(range(256)) * 64
        with open(path, "wb") as fh:
            fh.write(original)
        with open(path, "ab") as fh:
            fh.write(bytes(3 * 4096 + 100))  # a zero-filled tail, as a preallocated log has
        remote = test.cluster.remote("n1")
        assert written_bytes(remote, path) == (len(original) + 3 * 4096 + 100, len(original))
        before = checksum(remote, path, len(original))
        change = bitflip(remote, path, random.Random(3), len(original))
        with open(path, "rb") as fh:
            now = fh.read()
        diff = [i for i in range(len(now)) if (original[i] if i < len(original) else 0) != now[i]]
        assert diff == [change["offset"]]
        assert original[diff[0]] ^ now[diff[0]] == 1 << change["bit"]
        assert checksum(remote, path, len(original)) != before


def test_written_bytes_ends_at_the_last_non_zero_byte(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import random

    with running(("disk",), WAL, nodes=("n1", "n2")) as test:
        remote = test.cluster.remote("n1")
        for data_len, tail in ((0, 0), (0, 5000), (1, 0), (4096, 4096), (4097, 64_000), (9000, 1), (70_000, 0)):
            path = str(tmp_path / f"f{data_len}-{tail}")
            data = bytes(random.Random(data_len).randrange(1, 256) for _ in range(data_len))
            with open(path, "wb") as fh:
                fh.write(data + bytes(tail))
            assert written_bytes(remote, path) == (data_len + tail, data_len), (data_len, tail)
        path = str(tmp_path / "f70000-0")
        cut = truncate(remote, path, random.Random(1), 70_000, 70_000, 100)
        assert 69_900 <= cut["to_size"] < 70_000 and cut["from_size"] == 70_000
        assert written_bytes(remote, path)[0] == cut["to_size"]


def test_truncate_cuts_the_written_tail_while_stopped() -> None:
    with running(("disk",), {**WAL, "disk-max-bytes": "512"}) as test:
        node = test.nodes[0]
        done = invoke(test, "corrupt-file", {"nodes": [node], "mode": "truncate"})
        assert done.error is None, done.error
        (change,) = done.value["changes"]
        assert 1 <= change["written"] - change["to_size"] <= 512  # cut inside the written data
        assert change["from_size"] == 64_000_000 > change["written"]  # (a preallocated WAL segment)
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect
        size = int(subprocess.run(["stat", "-c", "%s", change["file"]], capture_output=True, text=True, check=False).stdout)
        assert size <= change["to_size"] or size >= change["from_size"]  # cut, unless etcd extended it since
        # Records acknowledged as durable are gone: etcd either repairs a torn last record and serves, or finds
        # committed entries missing and refuses to start (a raft panic); the completion records which.
        if "start_failed" in done.value:
            assert "exited right after start" in done.value["start_failed"][node]
            stop = evidence_of(invoke(test, "stop-disk"))  # tries again, records that it still does not run
            assert stop is not None and [(p.node, p.observed) for p in stop.probes] == [(node, "not running")]
        else:
            wait_for(lambda: etcd_status(test, node), 30, f"{node} to serve after a torn WAL tail")


def test_copy_and_rollback_change_written_blocks_of_a_file_on_the_node(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """copy: one block of the written data over another (a misdirected write); rollback: a block written back
    as it was when snapshotted (a lost write). Shown byte for byte on a file of the node."""
    import random

    from nemeses.datafile import copy_chunk, read_chunk, write_chunk

    with running(("disk",), WAL, nodes=("n1", "n2")) as test:
        remote = test.cluster.remote("n1")
        path = str(tmp_path / "log.bin")
        original = bytes(random.Random(5).randrange(256) for _ in range(3 * 4096))
        with open(path, "wb") as fh:
            fh.write(original + bytes(8192))
        c = copy_chunk(remote, path, random.Random(2), len(original))
        now = open(path, "rb").read()
        src, dst, n = c["from_offset"], c["to_offset"], c["length"]
        assert src != dst and now[dst:dst + n] == original[src:src + n]
        assert now[:dst] + now[dst + n:] == original[:dst] + (original + bytes(8192))[dst + n:]
        snap = read_chunk(remote, path, 4096, 4096)
        write_chunk(remote, path, 4096, b"\xff" * 4096)  # the system writes on ...
        write_chunk(remote, path, 4096, snap)  # ... and the rollback puts back what the snapshot saw
        assert open(path, "rb").read()[4096:8192] == snap


def test_rollback_through_the_nemesis_restores_a_snapshotted_block() -> None:
    """The nemesis snapshots the last written block of a WAL segment at setup; etcd writes on (a few hundred
    puts fill that block); a rollback then writes the old block back while the node is stopped: records etcd
    had acknowledged as durable are gone from its disk, and the checksums show the change."""
    from clusters.etcd.gateway import Gateway

    with running(("disk",), WAL) as test:
        node = test.nodes[1]
        nemesis = next(n for n in test.nemesis.nemeses if hasattr(n, "snapshots"))
        assert node in nemesis.snapshots, "setup snapshots a written block on every node"
        path, offset, old = nemesis.snapshots[node]
        gw = Gateway(test.node_host(test.nodes[0]), 2379, timeout=5.0)
        try:
            for i in range(300):
                gw.put(f"k{i}", "x" * 64)
        finally:
            gw.close()
        done = invoke(test, "corrupt-file", {"nodes": [node], "mode": "rollback"})
        assert done.error is None, done.error
        (change,) = done.value["changes"]
        assert change["mode"] == "rollback" and change["offset"] == offset and change["file"] == path
        assert change["length"] == len(old) and change["sha256_before"] != change["sha256_after"]
        evidence = evidence_of(done)
        assert evidence is not None and evidence.took_effect


def test_disk_needs_data_files_before_the_run() -> None:
    if skip_reason("local"):
        pytest.skip(skip_reason("local"))
    # postgres does not list its data files (etcd does: HasDataFiles), so without disk-files= it is refused
    with pytest.raises(MissingAbility, match="disk-files=GLOB"):
        build_test(RunOptions(system="postgres", workload="bank", nemeses=("disk",)), Registry())
