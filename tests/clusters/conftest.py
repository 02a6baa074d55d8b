"""Fixtures for tests of real clusters: an etcd cluster on each provider (`tests.real_cluster.running`, the one
shared way tests bring a system up) and the residue check that runs after every test, also failed ones."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from clusters.etcd.db import EtcdDB
from harness.test import Test as HarnessTest
from tests.real_cluster import PROVIDERS, residue, running


def listening_addresses(remote: Any, port: int) -> set[str]:
    """Local IPv4 and IPv6 addresses of the node's TCP sockets listening on `port`, read from /proc/net/tcp{,6}
    in the node's own network namespace (no tool needed on the node)."""
    import ipaddress

    out = remote.run(["sh", "-c", "cat /proc/net/tcp; cat /proc/net/tcp6 2>/dev/null; true"], timeout=30).stdout
    found = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 4 or ":" not in fields[1] or fields[3] != "0A":  # 0A: LISTEN
            continue
        addr, hexport = fields[1].split(":")
        if int(hexport, 16) != port:
            continue
        raw = bytes.fromhex(addr)
        # the kernel prints each 32-bit word in host (little-endian) order
        words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
        found.add(str(ipaddress.ip_address(words)))
    return found


@dataclass
class EtcdEnv:
    """A running 3-node etcd cluster on one provider."""

    provider: str
    test: HarnessTest
    db: EtcdDB

    def with_workload(self, workload: str, **system_opts: Any) -> HarnessTest:
        opts = replace(self.test.options, workload=workload)
        return replace(self.test, options=opts, system_opts={**self.test.system_opts, **system_opts})


@pytest.fixture
def run_ids() -> Iterator[list[str]]:
    """Run ids a test creates; after the test, nothing of them may remain on the machine."""
    ids: list[str] = []
    yield ids
    left = residue(ids)
    assert not left, f"left behind: {left}"


@pytest.fixture(params=PROVIDERS)
def etcd(request: pytest.FixtureRequest) -> Iterator[EtcdEnv]:
    provider: str = request.param
    with running(provider=provider, op_timeout=5.0) as test:
        assert isinstance(test.db, EtcdDB)
        yield EtcdEnv(provider=provider, test=test, db=test.db)


def recheck(run_dir: Path, out_dir: Path) -> subprocess.CompletedProcess[str]:
    """`harness check` of a run's own history.jsonl (no checker named: the run's own, from its test.json)."""
    return subprocess.run([sys.executable, "-m", "harness", "check", "--out-dir", str(out_dir),
                           str(run_dir / "history.jsonl")], capture_output=True, text=True, timeout=300, check=False)
