"""The `power-loss` fault family: a node loses power, and with it every write it had not fsynced.

`kill -9` leaves the page cache intact, so a system that acknowledges writes before they are durable looks safe
under kill. This family mounts the lazy filesystem (`clusters.lazyfs`) over the system's data directory
(`HasDataDir`) on every node at setup, and then:

    power-off  value {"nodes": <node spec or list>, "torn": bool}: on each node, SIGKILL the system (`Killable`),
               then drop everything not fsynced (with torn: first persist half of the last un-fsynced write of
               each file); the node stays off. Completes with {"nodes": [...], "dropped": {node: {"files": n,
               "bytes": n, "namespace_ops": n, "torn_bytes": n}}}: what each node lost, measured by the filesystem.
    power-on   start the system again on every node this family turned off.

A power-off window (from power-off to power-on) is a fault interval like a kill's. Teardown turns every node on,
makes all data durable, unmounts and puts the data directories back; a killed harness leaves a ledger entry from
which `harness cleanup` does the same. Options: `power-loss-targets` (node specs, default one, majority, all),
`power-loss-mode` (lose: drop what was not fsynced; torn: also tear the last write; both: draw per fault).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from clusters import lazyfs
from harness.control import on_nodes
from harness.db import AwaitsReady, HasDataDir, Killable, ability, active_nodes, require
from harness.errors import BadInput, FaultError
from harness.evidence import Evidence, Probe, with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.probe import system_pids
from nemeses.process import kill_evidence, running_probe
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)
from nemeses.targets import parse_specs, require_targets, targets_of

if TYPE_CHECKING:
    from harness.test import Test

OFF, ON = "power-off", "power-on"
FS = frozenset({OFF, ON})
DEFAULT_SPECS = ("one", "majority", "all")
MODES = ("lose", "torn", "both")


def _drop_probe(node: str, dropped: dict[str, object] | None) -> Probe:
    """What the node's filesystem dropped (it answered: the power cut took effect on the data), or that it did
    not answer."""
    if dropped is None:
        return Probe(node=node, what="un-fsynced data dropped", expected="dropped", observed="no answer",
                     effect=False)
    seen = (f"{dropped['bytes']} bytes in {dropped['files']} files, {dropped['namespace_ops']} namespace ops undone"
            + (f", {dropped['torn_bytes']} torn bytes kept" if dropped.get("torn_bytes") else ""))
    return Probe(node=node, what="un-fsynced data dropped", target="lazyfs", expected="dropped", observed=seen,
                 effect=True)


@runtime_checkable
class _PowerCycled(Killable, HasDataDir, Protocol):
    """What power loss needs of the system: its data directory (put on the lazy filesystem) and kill/start."""


def _failures(failed: dict[str, Exception]) -> str | None:
    return "; ".join(f"{n}: {e}" for n, e in sorted(failed.items())) or None


class PowerLossNemesis:
    """Cuts and restores power on nodes whose data directory is on the lazy filesystem."""

    fs = FS

    def __init__(self) -> None:
        self.mounts: dict[str, lazyfs.LazyMount] = {}
        self.off: set[str] = set()

    def setup(self, test: Test) -> None:
        nodes = list(active_nodes(test))
        lazyfs.require_fuse(test, nodes)
        db = ability(test, _PowerCycled)

        # known before mounting, so that teardown unmounts whatever a failed setup left
        self.mounts = {n: lazyfs.describe(test, n, db.data_dir(test, n)) for n in nodes}

        def put_on_lazyfs(node: str) -> None:
            db.kill(test, node)
            lazyfs.mount(test, self.mounts[node])
            db.start(test, node)

        _, failed = on_nodes(nodes, put_on_lazyfs)
        if failed:
            raise FaultError("could not put the data on the lazy filesystem: " + str(_failures(failed)))
        if isinstance(db, AwaitsReady):
            db.await_ready(test, timeout=120.0)

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f == OFF:
            return self._off(test, op)
        if op.f == ON:
            nodes = sorted(self.off, key=test.nodes.index)
            _, failed = on_nodes(nodes, lambda n: ability(test, Killable).start(test, n))
            self.off = set(failed)
            pids, _ = on_nodes(nodes, lambda n: system_pids(test, n))
            probes = tuple(running_probe(n, p) for n, p in pids.items())
            return op.replace(type="info", value=with_evidence({"nodes": nodes}, Evidence(probes=probes)),
                              error=_failures(failed))
        return op.replace(type="info", error=f"power-loss does not handle {op.f!r}")

    def _off(self, test: Test, op: Op) -> Op:
        v = op.value if isinstance(op.value, dict) else {"nodes": op.value}
        torn = bool(v.get("torn"))
        try:
            nodes, note = targets_of(test, v.get("nodes"))
        except ValueError as e:
            return op.replace(type="info", error=f"power-off: {e}")
        missing = [n for n in nodes if n not in self.mounts]
        if missing:
            return op.replace(type="info", error=f"power-off: no lazy filesystem on {', '.join(missing)}")

        def cut(node: str) -> dict[str, object]:
            self.off.add(node)
            ability(test, Killable).kill(test, node)
            reply = lazyfs.command(test, self.mounts[node], "torn-write" if torn else "power-loss")
            return {k: reply[k] for k in ("files", "bytes", "namespace_ops", "torn_bytes")}

        before, _ = on_nodes(nodes, lambda n: system_pids(test, n))
        dropped, failed = on_nodes(nodes, cut)
        after, _ = on_nodes(nodes, lambda n: system_pids(test, n))
        value: dict[str, object] = {"nodes": nodes, "torn": torn, "dropped": dropped}
        if note:
            value["skipped"] = note
        evidence = kill_evidence(test, nodes, before, after)
        evidence = Evidence(probes=evidence.probes + tuple(_drop_probe(n, dropped.get(n)) for n in nodes),
                            nothing=evidence.nothing)
        return op.replace(type="info", value=with_evidence(value, evidence), error=_failures(failed))

    def teardown(self, test: Test) -> None:
        db = ability(test, Killable)

        def heal(node: str) -> None:
            db.kill(test, node)
            lazyfs.unmount(test, self.mounts[node])
            db.start(test, node)
            self.off.discard(node)

        done, failed = on_nodes(sorted(self.mounts), heal)
        for node in done:
            del self.mounts[node]
        if failed:
            raise FaultError("could not take the data off the lazy filesystem: " + str(_failures(failed)))

    def residue(self, test: Test) -> list[str]:
        out = [f"{n}: powered off and not restarted" for n in sorted(self.off)]
        for node in active_nodes(test):
            # Only this run's: local nodes share the host's mount table with other runs on the machine, whose
            # mounts are theirs to heal (another run's power-loss made this run's verdict unknown).
            data_dir, workdir = ability(test, HasDataDir).data_dir(test, node), str(test.node_info(node).workdir).rstrip("/") + "/"
            out += [f"{node}: lazy filesystem still mounted at {p}"
                    for p in lazyfs.mounted(lazyfs.fs_remote(test, node)) if p == data_dir or p.startswith(workdir)]
        return out


def _mode(text: str) -> str:
    if text not in MODES:
        raise ValueError(f"one of {', '.join(MODES)}")
    return text


class PowerLossPlugin:
    """The `harness.nemeses` plugin `power-loss`."""

    name = "power-loss"
    fs = FS  # the ops its nemesis handles
    node_needs = frozenset({"fuse"})
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="power-loss-targets", default=(), parse=parse_specs,
                   help="node specs the power-loss schedule draws from (one, minority, majority, all, primaries)"),
        OptionSpec(name="power-loss-mode", default="lose", parse=_mode,
                   help="lose (drop what was not fsynced), torn (also persist half the last write), both"),
        SCHEDULE_SPEC,
    )

    def package(self, test: Test) -> Package:
        require(test.db, Killable, "nemesis power-loss", test.options.system)
        require(test.db, HasDataDir, "nemesis power-loss", test.options.system)
        require_targets(test, "nemesis power-loss")
        if lazyfs.wanted(test):
            raise BadInput("nemesis power-loss mounts the lazy filesystem itself and cuts power on its own schedule; "
                           "--system-opt lazyfs=true makes every kill a power cut: use one or the other")
        specs: tuple[str, ...] = tuple(test.nemesis_opts.get("power-loss-targets") or ()) or DEFAULT_SPECS
        mode = str(test.nemesis_opts.get("power-loss-mode") or "lose")

        def off(t: Test) -> dict[str, object]:
            torn = mode == "torn" or (mode == "both" and t.rng.random() < 0.5)
            return {"f": OFF, "value": {"nodes": t.rng.choice(specs), "torn": torn}}

        gen = family_generator(test, "power-loss", FS, default_schedule(test, off, {"f": ON}))
        return Package(name="power-loss", nemesis=PowerLossNemesis(), generator=gen, final_generator={"f": ON},
                       label="power loss", start_fs=frozenset({OFF}), stop_fs=frozenset({ON}))


PLUGIN = PowerLossPlugin()
