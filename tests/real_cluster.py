"""The one way tests bring up a real cluster: why a provider cannot run here (`skip_reason`), a system running on
a provider and built as the runner builds it (`running`: cluster, database on every node in parallel, readiness,
nemeses, optionally the client's setup), and what a run leaves on the host (`residue`). On leaving `running`,
everything is torn down and the test fails if anything is left: a nemesis's own residue, a ledger entry, or a
namespace, link, rule, process, container or workdir of the run.

Owns only test plumbing; what a test asserts about a system lives in the test. Probes of one system (etcd's
status and puts) are here because tests of clusters and of nemeses both use them."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from harness.build import build_test
from harness.control import NotYet, on_nodes, retry_until
from harness.db import AwaitsReady
from harness.errors import BadInput, TimedOut
from harness.ledger import Ledger
from harness.nemesis import ChecksResidue
from harness.op import Op
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import Test

PROVIDERS = ("local", "docker", "ssh")
POSTGRES_BIN = "/usr/lib/postgresql/15/bin"


def _host_binaries_missing(system: str) -> str | None:
    """What the host lacks to run `system` itself (local namespaces and ssh sandbox hosts run the host's
    binaries; docker nodes bring their own from the system's image)."""
    if system == "etcd" and shutil.which("etcd") is None:
        return "needs etcd on the host (apt-get install etcd-server)"
    if system == "nats" and shutil.which("nats-server") is None:
        return "needs nats-server on the host (apt-get install nats-server)"
    if system == "postgres":
        if not os.path.exists(os.path.join(POSTGRES_BIN, "postgres")):
            return f"needs PostgreSQL 15 in {POSTGRES_BIN} (apt-get install postgresql-15)"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "needs the `postgres` OS user (created by Debian's postgresql package)"
        if shutil.which("setpriv") is None:
            return "needs setpriv (util-linux)"
    if system == "mariadb":
        if not os.path.exists("/usr/sbin/mariadbd"):
            return "needs MariaDB (apt-get install mariadb-server)"
        try:
            pwd.getpwnam("mysql")
        except KeyError:
            return "needs the `mysql` OS user (created by Debian's mariadb-server package)"
    if system == "rabbitmq" and not os.path.exists("/usr/lib/rabbitmq/bin/rabbitmq-server"):
        return "needs rabbitmq-server (apt-get install rabbitmq-server)"
    return None


def skip_reason(provider: str, system: str = "etcd") -> str | None:
    """Why `system` cannot run on a `provider` cluster on this machine, or None."""
    if os.geteuid() != 0:
        return f"{system} on {provider} clusters needs root (network namespaces, docker, sshd in namespaces)"
    if shutil.which("ip") is None or shutil.which("iptables") is None:
        return "needs iproute2 and iptables on the host"
    if provider == "docker":
        try:
            from clusters.docker.images import engine

            engine()
        except (BadInput, ImportError) as e:
            return f"no usable docker engine: {e}"
        return None
    if provider == "ssh" and not os.path.exists("/usr/sbin/sshd"):
        return "needs OpenSSH's sshd (apt-get install openssh-server)"
    return _host_binaries_missing(system)


def require(provider: str, system: str = "etcd") -> None:
    reason = skip_reason(provider, system)
    if reason:
        pytest.skip(reason)


def new_run_id(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def residue(run_ids: list[str], extra_markers: tuple[str, ...] = ()) -> list[str]:
    """Everything of these runs still on the machine: namespaces, links, iptables rules, containers,
    docker networks, processes (by run id or marker in their command line), workdirs."""
    from clusters.local.network import names_for

    found: list[str] = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, check=False).stdout
    for run_id in run_ids:
        tag = names_for(run_id).tag
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
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in markers):
            found.append(f"process {pid}: {cmd[:120]}")
    return found + _docker_residue(run_ids)


def assert_clean(results: Mapping[str, Any]) -> None:
    """Nothing of the run that wrote these results (results.json) is left on the machine."""
    left = residue([results["run"]["run_id"]])
    assert not left, f"left behind: {left}"


def _docker_residue(run_ids: list[str]) -> list[str]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception:  # noqa: BLE001 - no engine, no containers
        return []
    found: list[str] = []
    for run_id in run_ids:
        found += [f"container {c.name}" for c in client.containers.list(all=True, filters={"label": f"harness.run={run_id}"})]
        found += [f"docker network {n.name}" for n in client.networks.list(filters={"label": f"harness.run={run_id}"})]
    return found


def _ssh_hosts(stack: ExitStack, tmp: str, nodes: tuple[str, ...], problems: list[str]) -> tuple[str, dict[str, str], str]:
    """Real sshd hosts in namespaces for an ssh cluster: (nodes file, cluster options, the hosts' run id). They
    are stopped when `stack` closes; what they leave goes to `problems`."""
    from clusters.ssh.sandbox import SSHSandbox

    run_id = new_run_id("hosts")
    ledger = Ledger(run_id, directory=os.path.join(tmp, "ledger"))

    def stop() -> None:
        sandbox.stop()
        problems.extend(f"ssh hosts' ledger entry left: {e.kind} {e.key}" for e in ledger.outstanding())
        ledger.close()

    sandbox = SSHSandbox(run_id=run_id, directory=os.path.join(tmp, "ssh"), ledger=ledger, node_names=nodes)
    stack.callback(stop)
    sandbox.start()
    opts = {"key": sandbox.key, "known_hosts_file": os.path.join(tmp, "ssh", "known_hosts")}
    return sandbox.nodes_file, opts, run_id


@dataclass
class _Progress:
    """How far set-up got: what teardown must undo."""

    db: bool = False
    nemesis: bool = False


@contextmanager
def running(
    nemeses: tuple[str, ...] = (),
    opts: Mapping[str, str] | None = None,
    *,
    provider: str = "local",
    system: str = "etcd",
    nodes: tuple[str, ...] = ("n1", "n2", "n3"),
    workload: str = "register",
    system_opts: Mapping[str, str] | None = None,
    op_timeout: float = 2.0,
    nemesis_interval: float = 5.0,
    client_setup: bool = False,
) -> Iterator[Test]:
    """A Test (built by `harness.build.build_test`) whose cluster is up, whose system runs and is ready on every
    node, with `nemeses` (options `opts`) set up and, with `client_setup`, the workload's client setup done, as
    the runner does before it starts the workload. Skips with the reason when the machine cannot run it. On
    exit: nemesis teardown and its residue check, db and cluster teardown, then the ledger and the host must
    hold nothing of the run (the test fails otherwise)."""
    require(provider, system)
    problems: list[str] = []
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="real-cluster-"))
        run_ids: list[str] = []
        # ExitStack undoes in reverse: this check runs last, after teardown and after the ssh hosts stopped
        stack.callback(lambda: problems.extend(f"left on the host: {x}" for x in residue(run_ids)))
        names, nodes_file, cluster_opts = nodes, None, dict[str, str]()
        if provider == "ssh":
            nodes_file, cluster_opts, hosts_id = _ssh_hosts(stack, tmp, nodes, problems)
            names = ()
            run_ids.append(hosts_id)
        options = RunOptions(
            system=system, workload=workload, cluster=provider, nemeses=nemeses, nemesis_opts=dict(opts or {}),
            node_names=names, nodes_file=nodes_file, cluster_opts=cluster_opts, system_opts=dict(system_opts or {}),
            nemesis_interval=nemesis_interval, results_dir=tmp, op_timeout=op_timeout,
        )
        test = build_test(options, Registry())
        run_ids.append(test.run_id)
        progress = _Progress()
        stack.callback(_teardown, test, progress, problems)
        _set_up(test, progress, client_setup)
        yield test
    assert not problems, problems


def _set_up(test: Test, progress: _Progress, client_setup: bool) -> None:
    test.cluster.setup()
    progress.db = True
    _, failures = on_nodes(test.nodes, lambda n: test.db.setup(test, n))
    if failures:  # the first node's error as it was raised (a BadInput stays one)
        raise next(iter(failures.values()))
    if isinstance(test.db, AwaitsReady):
        test.db.await_ready(test, 90)
    progress.nemesis = True
    test.nemesis.setup(test)
    if client_setup:
        c = test.client.open(test, test.nodes[0])
        try:
            c.setup(test)
        finally:
            c.close(test)


def _teardown(test: Test, progress: _Progress, problems: list[str]) -> None:
    """Undo what set-up did, in reverse, recording (not raising) what fails, then the ledger's account."""
    if progress.nemesis:
        try:
            test.nemesis.teardown(test)
        except Exception as e:  # noqa: BLE001 - report, keep tearing down
            problems.append(f"nemesis teardown: {e}")
        if isinstance(test.nemesis, ChecksResidue):
            problems += test.nemesis.residue(test)
    if progress.db:
        _, failures = on_nodes(test.nodes, lambda n: test.db.teardown(test, n))
        problems += [f"db teardown {n}: {e}" for n, e in failures.items()]
    test.cluster.teardown()
    problems += [f"ledger entry left: {e.kind} {e.key}" for e in test.ledger.outstanding()]
    test.ledger.close()


def invoke(test: Test, f: str, value: Any = None) -> Op:
    """Perform one nemesis op as the interpreter would, and return its completion."""
    op = Op(index=-1, time_ns=0, type="invoke", process="nemesis", f=f, value=value)
    return test.nemesis.invoke(test, op)


def wait_for(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.2) -> Any:
    """The first true value of `pred()`, polled every `step` seconds; AssertionError after `timeout`."""

    def attempt() -> Any:
        v = pred()
        if not v:
            raise NotYet(what)
        return v

    try:
        return retry_until(timeout, attempt, every=step, what=what)
    except TimedOut as e:
        raise AssertionError(str(e)) from None


# --- probes of etcd -------------------------------------------------------------------------------------------


def etcd_status(test: Test, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
    """The node's own status (leader id, raft term), or None if it does not answer."""
    from clusters.etcd.gateway import EtcdError, Gateway

    gw = Gateway(test.node_host(node), 2379, timeout=timeout)
    try:
        return gw.status()
    except (EtcdError, OSError):
        return None
    finally:
        gw.close()


def etcd_member_id(test: Test, node: str) -> str:
    st = etcd_status(test, node)
    assert st is not None, f"{node} does not answer"
    return str(st["header"]["member_id"])


def etcd_put(test: Test, node: str, key: str, value: str, timeout: float = 2.0) -> bool:
    """True if a put through `node` commits (needs the node to reach a quorum)."""
    from clusters.etcd.gateway import EtcdError, Gateway

    gw = Gateway(test.node_host(node), 2379, timeout=timeout)
    try:
        gw.put(key, value)
        return True
    except (EtcdError, OSError):
        return False
    finally:
        gw.close()
