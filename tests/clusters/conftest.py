"""Fixtures for tests of real clusters: an etcd cluster on each provider, the residue check that runs after
every test (also failed ones), and skip rules that say why a provider cannot run here."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from clusters.etcd import PLUGIN as ETCD
from clusters.etcd.db import EtcdDB
from harness.cluster import ClusterSpec
from harness.errors import BadInput
from harness.ledger import Ledger
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import Test as HarnessTest
from harness.test import bare_test

PROVIDERS = ("local", "docker", "ssh")


def skip_reason(provider: str) -> str | None:
    """Why `provider` cannot run on this machine, or None."""
    if os.geteuid() != 0:
        return f"{provider} clusters need root (network namespaces / docker / sshd in namespaces)"
    if shutil.which("ip") is None:
        return "needs iproute2 (`ip`)"
    if provider in ("local", "ssh") and shutil.which("etcd") is None:
        return "needs etcd on the host (apt-get install etcd-server)"
    if provider == "ssh" and not os.path.exists("/usr/sbin/sshd"):
        return "needs OpenSSH's sshd (apt-get install openssh-server)"
    if provider == "docker":
        from clusters.docker.images import engine

        try:
            engine()
        except BadInput as e:
            return str(e)
    return None


def require(provider: str) -> None:
    reason = skip_reason(provider)
    if reason:
        pytest.skip(reason)


def _tag(run_id: str) -> str:
    return hashlib.sha1(run_id.encode()).hexdigest()[:6]


def residue(run_ids: list[str], extra_markers: tuple[str, ...] = ()) -> list[str]:
    """Everything of these runs still on the machine: namespaces, links, iptables rules, containers,
    docker networks, processes (by run id or marker in their command line), workdirs."""
    found: list[str] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True).stdout
    for run_id in run_ids:
        tag = _tag(run_id)
        found += [f"netns {line.split()[0]}" for line in netns.splitlines() if line.startswith(f"harness-{tag}-")]
        found += [f"link {line.split(':')[1].strip()}" for line in links.splitlines()
                  if f" hbr{tag}" in line or f" hv{tag}" in line]
        found += [f"iptables {line}" for line in rules.splitlines() if f"hbr{tag}" in line]
        if os.path.exists(f"/var/lib/harness/{run_id}"):
            found.append(f"workdir /var/lib/harness/{run_id}")
    markers = [f"/{r}/" for r in run_ids] + list(extra_markers)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in markers):
            found.append(f"process {pid}: {cmd[:120]}")
    try:
        import docker

        client = docker.from_env()
        client.ping()
        for run_id in run_ids:
            for c in client.containers.list(all=True, filters={"label": f"harness.run={run_id}"}):
                found.append(f"container {c.name}")
            for n in client.networks.list(filters={"label": f"harness.run={run_id}"}):
                found.append(f"docker network {n.name}")
    except Exception:  # noqa: BLE001 - no engine, no containers
        pass
    return found


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
    ledger: Ledger

    def with_workload(self, workload: str, **system_opts: Any) -> HarnessTest:
        opts = replace(self.test.options, workload=workload)
        return replace(self.test, options=opts, system_opts={**self.test.system_opts, **system_opts})


def new_run_id(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def run_ids() -> Iterator[list[str]]:
    """Run ids a test creates; after the test, nothing of them may remain on the machine."""
    ids: list[str] = []
    yield ids
    left = residue(ids)
    assert not left, f"left behind: {left}"


@pytest.fixture(params=PROVIDERS)
def etcd(request: pytest.FixtureRequest, tmp_path: Path, run_ids: list[str]) -> Iterator[EtcdEnv]:
    provider: str = request.param
    require(provider)
    run_id = new_run_id()
    run_ids += [run_id, run_id + "-hosts"]
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    sandbox = None
    cluster = None
    db: EtcdDB | None = None
    test: HarnessTest | None = None
    try:
        spec = ClusterSpec(run_id=run_id, system="etcd", node_names=("n1", "n2", "n3"))
        if provider == "ssh":
            from clusters.ssh.sandbox import SSHSandbox

            sandbox = SSHSandbox(run_id=run_id + "-hosts", directory=str(tmp_path / "ssh"), ledger=ledger).start()
            spec = replace(spec, node_names=(), nodes_file=sandbox.nodes_file,
                           opts={"key": sandbox.key, "known_hosts_file": str(tmp_path / "ssh" / "known_hosts")})
        cluster = Registry().get("clusters", provider).create(spec, ledger)
        cluster.setup()
        options = RunOptions(workload="register", cluster=provider, op_timeout=5.0)
        test = bare_test(options=options, cluster=cluster, ledger=ledger, system_opts={})
        db = ETCD.db(test)
        with ThreadPoolExecutor(3) as ex:
            list(ex.map(lambda n: db.setup(test, n), test.nodes))  # type: ignore[union-attr]
        db.await_ready(test, 30)
        yield EtcdEnv(provider=provider, test=test, db=db, ledger=ledger)
    finally:
        errors: list[str] = []
        if db is not None and test is not None:
            for n in test.nodes:
                try:
                    db.teardown(test, n)
                except Exception as e:  # noqa: BLE001 - keep tearing down, report at the end
                    errors.append(f"db teardown {n}: {e}")
        if cluster is not None:
            cluster.teardown()
        if sandbox is not None:
            sandbox.stop()
        left = ledger.outstanding()
        ledger.close()
        assert not errors, errors
        assert not left, f"ledger entries not released: {left}"


def recheck(run_dir: Path, out_dir: Path) -> subprocess.CompletedProcess[str]:
    """`harness check` of a run's own history.jsonl (no checker named: the run's own, from its test.json)."""
    return subprocess.run([sys.executable, "-m", "harness", "check", "--out-dir", str(out_dir),
                           str(run_dir / "history.jsonl")], capture_output=True, text=True, timeout=300, check=False)
