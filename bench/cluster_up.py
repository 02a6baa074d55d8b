"""Benchmark: time from nothing to the first ok op on a 3-node etcd, per cluster provider.

    python bench/cluster_up.py [local] [docker] [ssh] [--repeat N]

For each provider: create + setup the cluster, set etcd up on every node in parallel, then invoke a register
write on n1 until it is ok; that instant is "first ok". Teardown is timed separately. For docker the node image
is ensured first (built if needed) and that time is printed apart: the target assumes a cached image. For ssh
the hosts (sshd in namespaces) are started before the clock starts: they stand in for existing machines.
Targets: local < 5 s, docker < 15 s with a cached image.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clusters.etcd import PLUGIN as ETCD
from harness.cluster import ClusterSpec
from harness.ledger import Ledger
from harness.op import Op
from harness.options import RunOptions
from harness.plugins import Registry
from harness.test import bare_test

TARGETS = {"local": 5.0, "docker": 15.0, "ssh": None}


def one(provider: str, workdir: str) -> tuple[float, float, float]:
    """(seconds to cluster up, seconds to first ok op, seconds to tear down)."""
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    ledger = Ledger(run_id, directory=f"{workdir}/ledger")
    spec = ClusterSpec(run_id=run_id, system="etcd", node_names=("n1", "n2", "n3"))
    sandbox = None
    if provider == "ssh":
        from clusters.ssh.sandbox import SSHSandbox

        sandbox = SSHSandbox(run_id=run_id + "-hosts", directory=f"{workdir}/{run_id}", ledger=ledger).start()
        spec = replace(spec, node_names=(), nodes_file=sandbox.nodes_file,
                       opts={"key": sandbox.key, "known_hosts": "ignore"})
    t0 = time.monotonic()
    cluster = Registry().get("clusters", provider).create(spec, ledger)
    test = None
    db = None
    try:
        cluster.setup()
        t_cluster = time.monotonic() - t0
        test = bare_test(options=RunOptions(workload="register"), cluster=cluster, ledger=ledger)
        db = ETCD.db(test)
        with ThreadPoolExecutor(3) as ex:
            list(ex.map(lambda n: db.setup(test, n), test.nodes))
        client = ETCD.client(test).open(test, "n1")
        while client.invoke(test, Op(type="invoke", process=0, f="write", value=("k", 1))).type != "ok":
            if time.monotonic() - t0 > 120:
                raise RuntimeError("no ok op within 120 s")
            time.sleep(0.02)
        t_first = time.monotonic() - t0
        client.close(test)
    finally:
        t1 = time.monotonic()
        if db is not None and test is not None:
            for n in test.nodes:
                db.teardown(test, n)
        cluster.teardown()
        t_down = time.monotonic() - t1
        if sandbox is not None:
            sandbox.stop()
        ledger.close()
    return t_cluster, t_first, t_down


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("providers", nargs="*", default=["local", "docker", "ssh"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="bench-cluster-up-")
    if "docker" in args.providers:
        from clusters.docker.images import engine, ensure_system_image

        t = time.monotonic()
        tag = ensure_system_image(engine(), "etcd", "local")
        print(f"docker image {tag}: ensured in {time.monotonic() - t:.2f} s (cached if well under a minute)")
    print(f"{'provider':8} {'cluster up':>11} {'first ok op':>12} {'teardown':>9}  target   (median of {args.repeat})")
    for provider in args.providers:
        runs = [one(provider, workdir) for _ in range(args.repeat)]
        up, first, down = (statistics.median(x) for x in zip(*runs, strict=True))
        target = TARGETS.get(provider)
        verdict = "" if target is None else (f"< {target:.0f} s {'met' if first < target else 'MISSED'}")
        print(f"{provider:8} {up:10.2f}s {first:11.2f}s {down:8.2f}s  {verdict}   all first-ok: "
              + ", ".join(f"{r[1]:.2f}" for r in runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
