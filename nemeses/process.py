"""The `kill` and `pause` fault families: crash-restart and stop-continue of the system's processes, through
the system's optional abilities `Killable` (SIGKILL, then start again) and `Pausable` (SIGSTOP / SIGCONT).

Ops: `kill` / `pause` with value a node spec (`nemeses.targets`: one, minority, majority, minority-third,
primaries, all) or an explicit list of nodes; they complete with {"nodes": [...]} naming the nodes actually
hit (a spec that names no node at that moment, `primaries` with no leader, is replaced by another of the
family's specs that does, said in "redrawn"; the op acts on nothing only when none does), and evidence measured on them (`harness.evidence`): for a kill, the system's pid (from its pid file,
`nemeses.probe.HasPidfile`) before and whether it is gone after; for a pause, the state letter of every process
that became stopped, read from /proc/PID/stat (T). `start` restarts every node this nemesis killed and records
the new pids; `resume` continues every node it paused and records the states again. Teardown does both;
`residue` reports nodes still down or processes still stopped.

Pauses are recorded in the ledger (kind "nemesis-pause") before the SIGSTOP, and again afterwards with the
pids that became stopped, so that `harness cleanup` can SIGCONT them after a crash of the harness. Kills need
no entry: a killed process leaves nothing to heal that tearing the cluster down does not remove.

Both plugins are one shape, `ProcessFaultPlugin` (family name, ability, start and stop op). Options:
`kill-targets=one,majority,...` and `pause-targets=...` (default: one, minority, majority, primaries when the
system can name them).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.control import NotYet, Remote, failures_text, on_all, on_nodes, retry_until
from harness.db import HasPrimaries, Killable, Pausable, ability, active_nodes, require
from harness.errors import BadInput, FaultError, TimedOut
from harness.evidence import Evidence, Probe, with_evidence
from harness.ledger import LedgerEntry, undoer
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.probe import process_states, system_pids
from nemeses.remotes import locator_for, node_is_gone, remote_from_locator
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)
from nemeses.targets import Drawn, draw_targets, majority, parse_specs, require_targets

if TYPE_CHECKING:
    from harness.test import Test

PAUSE_KIND = "nemesis-pause"
KILL_FS = frozenset({"kill", "start"})
PAUSE_FS = frozenset({"pause", "resume"})
DEFAULT_SPECS = ("one", "minority", "majority")


def kill_evidence(test: Test, nodes: Sequence[str], before: dict[str, list[int] | None],
                  after: dict[str, list[int] | None], why_none: str | None = None) -> Evidence:
    """Per node: each pid the system had before the kill, gone after it (or not)."""
    if not nodes:
        return Evidence(nothing=why_none or "no node was chosen")
    probes = []
    for n in nodes:
        pids = before.get(n)
        if pids is None:
            probes.append(Probe(node=n, what="process", expected="gone", effect=False,
                                observed=f"not measured: {test.options.system} names no pid file (HasPidfile)"))
        elif not pids:
            probes.append(Probe(node=n, what="process", expected="gone", effect=False,
                                observed="no process of the system was running"))
        for pid in pids or ():
            alive = pid in (after.get(n) or ())
            probes.append(Probe(node=n, what="process", target=f"pid {pid}", expected="gone",
                                observed="still running" if alive else "gone", effect=not alive))
    return Evidence(probes=tuple(probes))


def running_nodes(test: Test, value: object) -> list[str] | None:
    """For a node spec: the nodes where the system's process runs now, to draw from (killing or pausing a node
    that another fault killed would act on nothing); None for an explicit node list or a system without pid
    files."""
    if isinstance(value, (list, tuple)):
        return None
    active = active_nodes(test)
    pids, _ = on_nodes(active, lambda n: system_pids(test, n))
    if len(pids) < len(active) or any(p is None for p in pids.values()):
        return None
    return [n for n in active if pids[n]]


def running_probe(node: str, pids: list[int] | None) -> Probe:
    """Whether the system runs on `node` (its pids from `nemeses.probe.system_pids`), for the record."""
    if pids is None:
        return Probe(node=node, what="process", expected="running", observed="not measured (no pid file)")
    return Probe(node=node, what="process", target=f"pid {', '.join(map(str, pids))}" if pids else "",
                 expected="running", observed="running" if pids else "not running", effect=bool(pids))


def _value(drawn: Drawn, **more: object) -> dict[str, object]:
    """A start op's completion value: the nodes hit, what stood in for a spec that named none, or why none."""
    value: dict[str, object] = {"nodes": drawn.nodes, **more}
    if drawn.redrawn:
        value["redrawn"] = drawn.redrawn
    if drawn.note:
        value["skipped"] = drawn.note
    return value


class KillNemesis:
    """SIGKILLs the system on chosen nodes (`kill`) and starts it again (`start`). A node spec that names no
    node when the kill comes is replaced by another of `specs` (the family's draw) that does."""

    fs = KILL_FS

    def __init__(self, specs: Sequence[str] = ()) -> None:
        self.specs = tuple(specs)
        self.killed: set[str] = set()

    def setup(self, test: Test) -> None:
        pass

    def invoke(self, test: Test, op: Op) -> Op:
        db = ability(test, Killable)
        if op.f == "kill":
            try:
                drawn = draw_targets(test, op.value, self.specs, running_nodes(test, op.value))
            except ValueError as e:
                return op.replace(type="info", error=f"kill: {e}")
            nodes = drawn.nodes
            self.killed.update(nodes)
            before = on_all(nodes, lambda n: system_pids(test, n))
            _, failed = on_nodes(nodes, lambda n: db.kill(test, n))
            after = on_all(nodes, lambda n: system_pids(test, n))
            evidence = kill_evidence(test, nodes, before, after, drawn.note)
            return op.replace(type="info", value=with_evidence(_value(drawn), evidence),
                              error=failures_text(failed) or None)
        if op.f == "start":
            nodes = sorted(self.killed, key=test.nodes.index)
            _, failed = on_nodes(nodes, lambda n: db.start(test, n))
            self.killed = set(failed)
            pids = on_all(nodes, lambda n: system_pids(test, n))
            probes = tuple(running_probe(n, p) for n, p in pids.items())
            return op.replace(type="info", value=with_evidence({"nodes": nodes}, Evidence(probes=probes)),
                              error=failures_text(failed) or None)
        return op.replace(type="info", error=f"kill does not handle {op.f!r}")

    def teardown(self, test: Test) -> None:
        _, failed = on_nodes(sorted(self.killed), lambda n: ability(test, Killable).start(test, n))
        self.killed = set(failed)
        if failed:
            raise FaultError("could not restart killed nodes: " + failures_text(failed))

    def residue(self, test: Test) -> list[str]:
        return [f"{n}: killed and not restarted" for n in sorted(self.killed)]


# ------------------------------------------------------------------------------------------------- pause
_STOPPED = r"ps -eo pid=,stat= | awk '$2 ~ /^T/ {print $1}'"


def stopped_pids(remote: Remote) -> set[int]:
    """Pids in state T (stopped) of the node. A local-namespace node shares the host's pid namespace, so there
    only the processes inside the node's network namespace count (not other stopped processes of the host)."""
    r = remote.run(["sh", "-c", _STOPPED], timeout=30, check=False)
    pids = {int(x) for x in r.stdout.split() if x.isdigit()}
    netns = getattr(remote, "netns", None)
    if isinstance(netns, str) and pids:
        import subprocess

        inside = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, timeout=30,
                                check=False).stdout
        pids &= {int(x) for x in inside.split() if x.isdigit()}
    return pids


# SIGSTOP is asynchronous: a process with many threads (mariadbd) is in state T only once each of its threads has
# taken the signal, which on a loaded machine lagged the kill by more than the probe right after it (a pause that
# stopped the server was recorded as not in effect). The first stopped pid is waited for, this long at most.
_STOP_SETTLE_S = 2.0


def _newly_stopped(remote: Remote, before: set[int]) -> set[int]:
    """The node's pids that entered state T since `before`; empty when none did within _STOP_SETTLE_S."""
    def attempt() -> set[int]:
        new = stopped_pids(remote) - before
        if not new:
            raise NotYet("no process of the system in state T yet")
        return new

    try:
        return retry_until(_STOP_SETTLE_S, attempt, every=0.05, what="the paused process stopping")
    except TimedOut:
        return set()


class PauseNemesis:
    """SIGSTOPs the system on chosen nodes (`pause`) and SIGCONTs it (`resume`). A node spec that names no
    running node when the pause comes is replaced by another of `specs` (the family's draw) that does."""

    fs = PAUSE_FS

    def __init__(self, specs: Sequence[str] = ()) -> None:
        self.specs = tuple(specs)
        self.paused: dict[str, list[int]] = {}  # node -> pids that became stopped
        self._lock = threading.Lock()

    def setup(self, test: Test) -> None:
        pass

    def _pause(self, test: Test, node: str) -> None:
        remote = test.cluster.remote(node)
        loc = locator_for(test, node)
        with self._lock:
            earlier = self.paused.setdefault(node, [])
        if test.ledger is not None:
            test.ledger.record(PAUSE_KIND, node, pids=earlier, **loc)
        before = stopped_pids(remote)
        ability(test, Pausable).pause(test, node)
        pids = sorted(set(earlier) | _newly_stopped(remote, before))
        with self._lock:
            self.paused[node] = pids
        if test.ledger is not None:
            test.ledger.record(PAUSE_KIND, node, pids=pids, **loc)

    def _resume(self, test: Test, node: str) -> None:
        ability(test, Pausable).resume(test, node)
        with self._lock:
            self.paused.pop(node, None)
        if test.ledger is not None:
            test.ledger.release(PAUSE_KIND, node)

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f == "pause":
            try:
                drawn = draw_targets(test, op.value, self.specs, running_nodes(test, op.value))
            except ValueError as e:
                return op.replace(type="info", error=f"pause: {e}")
            _, failed = on_nodes(drawn.nodes, lambda n: self._pause(test, n))
            pids = {n: self.paused.get(n, []) for n in drawn.nodes}
            evidence = self._states(test, pids, stopped=True, why_none=drawn.note)
            return op.replace(type="info", value=with_evidence(_value(drawn, pids=pids), evidence),
                              error=failures_text(failed) or None)
        if op.f == "resume":
            nodes = sorted(self.paused, key=test.nodes.index)
            pids = {n: list(self.paused.get(n, [])) for n in nodes}
            _, failed = on_nodes(nodes, lambda n: self._resume(test, n))
            return op.replace(type="info", value=with_evidence({"nodes": nodes},
                                                               self._states(test, pids, stopped=False)),
                              error=failures_text(failed) or None)
        return op.replace(type="info", error=f"pause does not handle {op.f!r}")

    @staticmethod
    def _states(test: Test, pids: dict[str, list[int]], *, stopped: bool, why_none: str | None = None) -> Evidence:
        """The state of every pid the pause stopped: T after a pause, anything else after a resume."""
        if not pids:
            return Evidence(nothing=why_none or "no node was chosen") if stopped else Evidence()
        states = on_all(pids, lambda n: process_states(test.cluster.remote(n), pids[n]))
        want = "T (stopped)" if stopped else "not stopped"
        probes = [Probe(node=n, what="process state", target=f"pid {p}", expected=want, observed=st,
                        effect=(st in ("T", "t")) == stopped) for n in pids for p, st in states[n].items()]
        probes += [Probe(node=n, what="process state", expected=want, effect=False,
                         observed="no process of the system became stopped") for n in pids if stopped and not pids[n]]
        return Evidence(probes=tuple(probes))

    def teardown(self, test: Test) -> None:
        _, failed = on_nodes(sorted(self.paused), lambda n: self._resume(test, n))
        if failed:
            raise FaultError("could not resume paused nodes: " + failures_text(failed))

    def residue(self, test: Test) -> list[str]:
        left = []
        for node in test.nodes:
            remote = test.cluster.remote(node)
            r = remote.run(["sh", "-c", "ps -o pid=,stat= -p \"$1\" 2>/dev/null", "ps", ",".join(
                str(p) for p in self.paused.get(node, [])) or "0"], timeout=30, check=False)
            left += [f"{node}: pid {ln.split()[0]} still stopped" for ln in r.stdout.splitlines()
                     if len(ln.split()) > 1 and ln.split()[1].startswith("T")]
            if node in self.paused:
                left.append(f"{node}: paused and not resumed")
        return left


@undoer(PAUSE_KIND)
def _undo_pause(entry: LedgerEntry) -> None:
    """SIGCONT the processes the pause stopped (recorded after the SIGSTOP; if the harness died in between,
    every stopped process of the node's namespace or container)."""
    data = entry.data
    if node_is_gone(data):
        return
    pids = [int(p) for p in data.get("pids") or []]
    if data.get("via") == "netns":
        if not pids:
            import subprocess

            out = subprocess.run(["ip", "netns", "pids", str(data["netns"])], capture_output=True, text=True,
                                 check=False).stdout
            pids = [int(x) for x in out.split() if x.isdigit()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        return
    remote = remote_from_locator(data)
    try:
        if pids:
            remote.run(["kill", "-s", "CONT", *map(str, pids)], timeout=30, check=False)
        elif data.get("via") == "docker":
            remote.run(["kill", "-s", "CONT", "-1"], timeout=30, check=False)
        else:
            raise FaultError(f"node {entry.key}: the harness died while pausing it; SIGCONT its processes by hand")
    finally:
        remote.close()


# ------------------------------------------------------------------------------------------------ plugins
def _specs_option(family: str) -> OptionSpec:
    return OptionSpec(name=f"{family}-targets", default=(), parse=parse_specs,
                      help=f"node specs the {family} schedule draws from (one, minority, majority, minority-third, "
                      "primaries, all)")


def _default_specs(test: Test, family: str) -> tuple[str, ...]:
    specs: tuple[str, ...] = tuple(test.nemesis_opts.get(f"{family}-targets") or ())
    if specs:
        if "primaries" in specs and not isinstance(test.db, HasPrimaries):
            raise BadInput(f"{family}-targets=primaries needs a system that is HasPrimaries; {test.options.system} is not")
        return specs
    # a spec that names no node on this cluster ("minority" of one or two nodes) would only make faults that act
    # on nothing: left out of the default draw
    n = len(active_nodes(test))
    specs = tuple(s for s in DEFAULT_SPECS if s != "minority" or majority(n) > 1)
    return specs + (("primaries",) if isinstance(test.db, HasPrimaries) else ())


@dataclass(frozen=True)
class ProcessFaultPlugin:
    """A `harness.nemeses` plugin of this module: one family of faults on the system's processes, through one
    ability of its DB (kill / start through `Killable`, pause / resume through `Pausable`), on the nodes its
    `<family>-targets` option draws from."""

    name: str
    ability: type
    start_f: str
    stop_f: str
    make_nemesis: Callable[[Sequence[str]], KillNemesis | PauseNemesis]

    @property
    def option_specs(self) -> Sequence[OptionSpec]:
        return (_specs_option(self.name), SCHEDULE_SPEC)

    @property
    def fs(self) -> frozenset[str]:
        """The ops its nemesis handles."""
        return frozenset({self.start_f, self.stop_f})

    def package(self, test: Test) -> Package:
        require(test.db, self.ability, f"nemesis {self.name}", test.options.system)
        require_targets(test, f"nemesis {self.name}")
        specs = _default_specs(test, self.name)
        start_f = self.start_f

        def start(t: Test) -> dict[str, object]:
            return {"f": start_f, "value": t.rng.choice(specs)}

        stop = {"f": self.stop_f}
        gen = family_generator(test, self.name, self.fs, default_schedule(test, start, stop))
        return Package(name=self.name, nemesis=self.make_nemesis(specs), generator=gen, final_generator=stop,
                       label=self.name, start_fs=frozenset({self.start_f}), stop_fs=frozenset({self.stop_f}))


KILL = ProcessFaultPlugin(name="kill", ability=Killable, start_f="kill", stop_f="start", make_nemesis=KillNemesis)
PAUSE = ProcessFaultPlugin(name="pause", ability=Pausable, start_f="pause", stop_f="resume", make_nemesis=PauseNemesis)
