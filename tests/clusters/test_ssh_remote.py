"""The ssh Remote against real sshd processes in local network namespaces (key auth, generated keys):
streams and exit codes, timeouts that leave nothing behind, the channel limit, host-key policies, bad keys,
unreachable hosts, reconnecting, file transfer."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from clusters.ssh import PLUGIN as SSH
from clusters.ssh.remote import SSHParams, SSHRemote
from clusters.ssh.sandbox import SSHSandbox
from harness.cluster import ClusterSpec
from harness.errors import BadInput, Unreachable
from harness.ledger import Ledger
from tests.real_cluster import new_run_id, require, residue

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHSandbox]:
    require("ssh")
    d = tmp_path_factory.mktemp("ssh")
    run_id = new_run_id("s")
    ledger = Ledger(run_id, directory=str(d / "ledger"))
    sb = SSHSandbox(run_id=run_id, directory=str(d), ledger=ledger, node_names=("h1", "h2")).start()
    try:
        yield sb
    finally:
        sb.stop()
        assert not ledger.outstanding()
        assert not residue([run_id]), residue([run_id])


def host(sb: SSHSandbox, i: int = 0) -> str:
    assert sb.hosts is not None
    return sb.hosts.nodes[i].host


def remote(sb: SSHSandbox, **kw: object) -> SSHRemote:
    params = SSHParams(host=host(sb), key_file=sb.key, known_hosts="ignore", connect_timeout=3.0)
    return SSHRemote("h1", replace(params, **kw))  # type: ignore[arg-type]


def test_streams_and_exit_code(sandbox: SSHSandbox) -> None:
    r = remote(sandbox)
    try:
        res = r.run(["sh", "-c", 'cat; echo "$X" >&2; exit 3'], stdin=b"in\n", env={"X": "a b"}, check=False)
        assert (res.exit_code, res.stdout, res.stderr) == (3, "in\n", "a b\n")
        assert r.run(["id", "-u"]).stdout.strip() == "0"
    finally:
        r.close()


def test_timeout_leaves_no_process(sandbox: SSHSandbox) -> None:
    r = remote(sandbox)
    try:
        t0 = time.monotonic()
        res = r.run(["sleep", "7.731"], timeout=1.0, check=False)
        assert res.exit_code is None and time.monotonic() - t0 < 6
        time.sleep(0.3)
        assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == "sleep 7.731"]
    finally:
        r.close()


def _cmdline(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_channel_limit_per_host(sandbox: SSHSandbox) -> None:
    r = remote(sandbox, max_channels=2)
    try:
        r.connect()
        t0 = time.monotonic()
        threads = [threading.Thread(target=r.run, args=(["sleep", "0.4"],)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert time.monotonic() - t0 >= 1.2  # 6 commands, 2 at a time, 0.4 s each
    finally:
        r.close()


def test_reconnects_after_the_connection_drops(sandbox: SSHSandbox) -> None:
    r = remote(sandbox)
    try:
        r.connect().close()  # the transport dies under the Remote
        assert r.run(["echo", "again"]).stdout == "again\n"
    finally:
        r.close()


def test_upload_and_download(sandbox: SSHSandbox, tmp_path: Path) -> None:
    r = remote(sandbox)
    src, back = tmp_path / "src.bin", tmp_path / "back.bin"
    src.write_bytes(bytes(range(256)) * 100)
    target = f"{tmp_path}/remote/dir/file.bin"
    try:
        r.upload(src, target)
        r.download(target, back)
        assert back.read_bytes() == src.read_bytes()
        with pytest.raises(FileNotFoundError):
            r.download(f"{tmp_path}/remote/nope", tmp_path / "nope")
    finally:
        r.close()


def test_host_key_policies(sandbox: SSHSandbox, tmp_path: Path) -> None:
    known = str(tmp_path / "known_hosts")
    open(known, "w").close()
    strict = remote(sandbox, known_hosts="strict", known_hosts_file=known)
    with pytest.raises(Unreachable, match="ssh host"):
        strict.run(["true"])  # unknown host key, strict policy: refused, one line
    first = remote(sandbox, known_hosts="accept-new", known_hosts_file=known)
    first.run(["true"])
    first.close()
    assert host(sandbox) in open(known).read()
    again = remote(sandbox, known_hosts="strict", known_hosts_file=known)
    assert again.run(["true"]).ok  # now known
    again.close()


def test_bad_key_and_closed_port_are_unreachable(sandbox: SSHSandbox, tmp_path: Path) -> None:
    import subprocess

    other = str(tmp_path / "other_key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True)
    with pytest.raises(Unreachable):
        remote(sandbox, key_file=other).run(["true"])
    with pytest.raises(Unreachable):
        remote(sandbox, port=2999, retries=0).run(["true"])


def test_provider_reads_nodes_file_and_cleans_up(sandbox: SSHSandbox, tmp_path: Path) -> None:
    run_id = new_run_id()
    ledger = Ledger(run_id, directory=str(tmp_path / "ledger"))
    spec = ClusterSpec(run_id=run_id, system="etcd", node_names=(), nodes_file=sandbox.nodes_file,
                       opts={"key": sandbox.key, "known_hosts": "ignore"})
    cluster = SSH.create(spec, ledger)
    assert [n.name for n in cluster.nodes] == ["h1", "h2"]
    cluster.setup()
    try:
        for n in cluster.nodes:
            assert cluster.remote(n.name).run(["test", "-d", n.workdir]).ok
    finally:
        cluster.teardown()
    assert not ledger.outstanding()
    assert not residue([run_id])
    with pytest.raises(BadInput, match="unknown option"):
        SSH.create(replace(spec, opts={"nope": "1"}), ledger)
    with pytest.raises(BadInput, match="does not exist"):
        SSH.create(replace(spec, opts={"key": str(tmp_path / "missing")}), ledger)
    # an unreachable host fails create (before any run starts), in one line naming it
    with pytest.raises(Unreachable, match=r"cannot reach ssh host root@\S+:2999 \(h1\): connection refused"):
        SSH.create(replace(spec, opts={"key": sandbox.key, "known_hosts": "ignore", "port": "2999"}), ledger)


def test_sudo_path(sandbox: SSHSandbox, tmp_path: Path) -> None:
    """sudo=always as root takes the sudo code path (sudo -n, staged file transfer) without a second user."""
    import shutil

    if shutil.which("sudo") is None:
        pytest.skip("sudo is not installed on the sandbox hosts (they share this machine's filesystem)")
    r = remote(sandbox, sudo=True)
    try:
        assert r.run(["id", "-u"]).stdout.strip() == "0"
        src = tmp_path / "s.txt"
        src.write_text("via sudo")
        r.upload(src, f"{tmp_path}/remote/s.txt")
        r.download(f"{tmp_path}/remote/s.txt", tmp_path / "back.txt")
        assert (tmp_path / "back.txt").read_text() == "via sudo"
    finally:
        r.close()
