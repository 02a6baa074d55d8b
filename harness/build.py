"""Building a Test from RunOptions and the plugin registry, with all validation before any node is touched.

Owns `build_test` and the composition of the run's generator (main phase with faults, then heal, quiet and
final phases). Does not run anything.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from harness import generator as g
from harness.cluster import ClusterSpec, check_node_name
from harness.errors import BadInput
from harness.generator.core import GenLike
from harness.ledger import Ledger
from harness.nemesis import ComposedNemesis, Nemesis, NoopNemesis, Package
from harness.options import (
    LAZYFS,
    RunOptions,
    build_test_name,
    expectation_opts,
    parse_opts,
)
from harness.plugins import Registry
from harness.store import new_run_id
from harness.test import Test, bare_test

QUIET_SECONDS = 2.0


def _validate(o: RunOptions) -> None:
    if o.concurrency < 1:
        raise BadInput(f"--concurrency must be at least 1, not {o.concurrency}")
    if o.time_limit <= 0:
        raise BadInput(f"--time-limit must be positive, not {o.time_limit}")
    if o.op_timeout is not None and o.op_timeout <= 0:
        raise BadInput(f"--op-timeout must be positive, not {o.op_timeout}")
    if o.min_fault_ops < 0:
        raise BadInput(f"--min-fault-ops must be 0 or more, not {o.min_fault_ops}")
    if o.rate < 0:
        raise BadInput(f"--rate must be 0 (unlimited) or positive, not {o.rate}")
    if not o.node_names and not o.nodes_file:
        raise BadInput("a test needs at least one node")
    for n in o.node_names:
        check_node_name(n)
    if len(set(o.node_names)) != len(o.node_names):
        raise BadInput(f"node names must be distinct: {', '.join(o.node_names)}")
    _check_results_dir(o.results_dir)
    if o.nodes_file and not os.path.isfile(o.nodes_file):
        raise BadInput(f"--nodes-file {o.nodes_file}: no such file")
    if o.leave_running and o.cluster == "inprocess":
        raise BadInput("--leave-running: the inprocess cluster lives inside the harness process and ends with it; "
                       "use --cluster local or docker")


def _check_results_dir(path: str) -> None:
    """The results directory exists (it is created if need be) and takes files; else BadInput, before anything
    of the run exists."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise BadInput(f"--results {path}: cannot write run directories there ({e.strerror})") from None


def system_of(options: RunOptions, registry: Registry) -> Any:
    """The System plugin the options name, or the declarative system of their --system-file (the one place the
    core reaches into clusters/: a file-made system is built, not registered)."""
    if options.system_file:
        from clusters.declarative import load_system

        return load_system(options.system_file)
    return registry.get("systems", options.system)


DEFAULT_WORKLOADS = ("register", "list-append", "queue")


def default_workload(served: frozenset[str]) -> str:
    """The workload of a run that names none: register where the system serves it (etcd, the default system), else
    the first of list-append (SQL systems) and queue (brokers) it serves, else the first of its workloads."""
    return next((w for w in DEFAULT_WORKLOADS if w in served), min(served, default="register"))


def build_test(options: RunOptions, registry: Registry, *, started: dt.datetime | None = None) -> Test:
    """A fully specified Test. Raises BadInput (one line) for anything the user must fix."""
    _validate(options)
    system = system_of(options, registry)
    if not options.workload:
        options = dataclasses.replace(options, workload=default_workload(system.workloads))
    workload = registry.get("workloads", options.workload)
    provider = registry.get("clusters", options.cluster)
    nemesis_plugins = [registry.get("nemeses", n) for n in options.nemeses]
    if options.workload not in system.workloads:
        raise BadInput(
            f"system {options.system} does not implement workload {options.workload} "
            f"(it does: {', '.join(sorted(system.workloads))})"
        )
    system_opts = parse_opts(f"system {system.name}", system.option_specs, options.system_opts)
    workload_opts = parse_opts(f"workload {workload.name}", workload.option_specs, options.workload_opts)
    nemesis_specs = [s for p in nemesis_plugins for s in p.option_specs]
    nemesis_opts = parse_opts(
        "nemesis " + (",".join(options.nemeses) or "none"),
        list({s.name: s for s in nemesis_specs}.values()),
        options.nemesis_opts,
    )
    cluster_opts = parse_opts(f"cluster {provider.name}", provider.option_specs, options.cluster_opts)

    name = build_test_name(options, expectation_opts(system.option_specs, system_opts)
                           + expectation_opts(workload.option_specs, workload_opts))
    started = started or dt.datetime.now(dt.timezone.utc)
    run_id = new_run_id(name, started)
    test = bare_test(
        name=name,
        options=options,
        run_id=run_id,
        started=started,
        system=system,
        workload=workload,
        system_opts=system_opts,
        workload_opts=workload_opts,
        nemesis_opts=nemesis_opts,
        registry=registry,
    )
    # the workload's checkers come from the registry now, so a checker it names that is not there is bad input
    # before anything of the run exists
    test = dataclasses.replace(test, checker=workload.checker(test))
    ledger = Ledger(run_id)
    try:
        spec = ClusterSpec(
            run_id=run_id,
            system=getattr(system, "node_image", None) or options.system,  # a system file may borrow an image
            dockerfile=getattr(system, "node_dockerfile", None),  # ... or bring its own recipe
            node_names=options.node_names,
            nodes_file=options.nodes_file,
            opts=cluster_opts,
            needs=_node_needs(nemesis_plugins, system_opts),
        )
        cluster = provider.create(spec, ledger)
        test = dataclasses.replace(test, cluster=cluster, ledger=ledger, nodes=tuple(n.name for n in cluster.nodes))
        test = dataclasses.replace(test, db=system.db(test))
        test = dataclasses.replace(test, client=system.client(test))
        packages: list[Package] = [p.package(test) for p in nemesis_plugins]
        nemesis: Nemesis = ComposedNemesis([p.nemesis for p in packages]) if packages else NoopNemesis()
        test = dataclasses.replace(test, packages=tuple(packages), nemesis=nemesis)
        test = dataclasses.replace(test, generator=main_generator(test), final_generator=final_generator(test))
    except BaseException:
        ledger.close()
        raise
    return test


def _node_needs(nemesis_plugins: Sequence[object], system_opts: Mapping[str, object]) -> frozenset[str]:
    """What the nodes must offer beyond the system: the nemeses' needs, and FUSE for a data directory on the lazy
    filesystem."""
    needs = {n for p in nemesis_plugins for n in getattr(p, "node_needs", ())}
    return frozenset(needs | ({"fuse"} if system_opts.get(LAZYFS) else set()))


def main_generator(test: Test) -> GenLike:
    """Client ops of the workload (staggered to the rate) alongside the faults' schedules, for the time limit."""
    client_gen = test.workload.generator(test)
    rate = test.options.rate
    if rate > 0:
        client_gen = g.stagger(1.0 / rate, client_gen)
    if test.packages:
        nemesis_gen = g.any(*(p.generator for p in test.packages)) if len(test.packages) > 1 else test.packages[0].generator
        gen = g.clients(client_gen, nemesis_gen)
    else:
        gen = g.clients(client_gen)
    return g.time_limit(test.time_limit, gen)


def final_generator(test: Test) -> GenLike:
    """After the main phase: heal every fault, let the system settle, then the workload's final ops."""
    phases: list[GenLike] = []
    heals = [p.final_generator for p in test.packages if p.final_generator is not None]
    if heals:
        phases.append(g.nemesis(list(heals)))
        phases.append(g.sleep(QUIET_SECONDS))
    final = test.workload.final_generator(test)
    if final is not None:
        phases.append(g.clients(final))
    return g.phases(*phases) if phases else None
