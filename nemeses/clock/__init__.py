"""The `clock` fault family: per-process clock skew through libfaketime, and the optional DB ability
`ClockSkewable` a system implements to opt in.

Nodes in local namespaces and docker containers share the host's clock, and the harness never sets the host
clock. Instead, at setup the system restarts its processes on every node under libfaketime
(`LD_PRELOAD=libfaketimeMT.so.1`) reading their offset from a timestamp file in the node's workdir
(`FAKETIME_TIMESTAMP_FILE`, re-read on every clock call with `FAKETIME_NO_CACHE=1`), which the nemesis then
rewrites live. This only skews programs that read the clock through libc (Postgres, most C/C++ servers); Go
programs such as etcd call the kernel directly, so for them the family refuses at build time rather than
pretend. Real clocks on ssh hosts (clock_settime with time sync disabled) are not implemented; the family
refuses those too unless the system is ClockSkewable.

Ops: `bump-clock` {"nodes": spec or list, "delta_ms": n} shifts the nodes' clocks by delta; `strobe-clock`
{"nodes", "delta_ms", "period_ms", "duration_s"} flips them between +delta and their offset every period for
the duration; `reset-clock` sets every offset back to 0. Completions say the offsets now in force, with the
evidence (`harness.evidence`) measured on each node: the clock as a process under the same libfaketime settings
reads it, against the real clock read just before and after (the offset must be the one meant), and the
environment of the system's running process (`nemeses.probe.HasPidfile`), which must name the timestamp file. Each node's
timestamp file is in the ledger (kind "nemesis-clock") while an offset may be non-zero; the undo writes +0.

Options: `clock-targets` (node specs), `clock-max-skew-ms` (largest bump, default 60000), `clock-libfaketime`
(path of libfaketimeMT on the nodes).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.control import Remote, failures_text, on_all, on_nodes
from harness.db import ability
from harness.errors import FaultError, MissingAbility
from harness.evidence import Evidence, Probe, with_evidence
from harness.ledger import LedgerEntry, undoer
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.probe import system_pids
from nemeses.remotes import (
    locator_for,
    node_is_gone,
    remote_from_locator,
    require_remotes,
)
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)
from nemeses.targets import parse_specs, require_targets, targets_of

if TYPE_CHECKING:
    from harness.test import Test

KIND = "nemesis-clock"
LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
FS = frozenset({"bump-clock", "strobe-clock", "reset-clock"})


@runtime_checkable
class ClockSkewable(Protocol):
    """Optional DB ability: the system's processes on a node can run under libfaketime.

    `restart_under_faketime(test, node, env)` restarts the system's processes on `node` with `env` added to
    their environment (the variables of `faketime_env`), or without it when `env` is None; it returns once the
    node serves again and is a no-op on nodes where the system does not run. It must not lose acknowledged
    data (a clean restart, not a crash). Apply `env` after the process dropped its privileges (e.g.
    `setpriv --reuid=postgres -- env K=V... postgres`, not `env K=V... setpriv ...`): libfaketime keeps a
    semaphore per process, and one created while still root cannot be opened once the process runs as its user.
    """

    def restart_under_faketime(self, test: Test, node: str, env: Mapping[str, str] | None) -> None: ...


def faketime_env(timestamp_file: str, library: str = LIBFAKETIME) -> dict[str, str]:
    """The environment that puts a process under libfaketime with a live-editable offset file."""
    return {
        "LD_PRELOAD": library,
        "FAKETIME_TIMESTAMP_FILE": timestamp_file,
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # skew wall time only; timeouts keep measuring real durations
    }


def offset_text(seconds: float) -> str:
    """libfaketime's relative offset syntax: "+3600.000", "-0.250"."""
    return f"{seconds:+.3f}"


_WRITE = 'printf "%s\\n" "$2" > "$1.tmp" && mv -f "$1.tmp" "$1"'


def write_offset(remote: Remote, path: str, seconds: float) -> None:
    """Replace the timestamp file atomically (a reader never sees it empty)."""
    remote.run(["sh", "-c", _WRITE, "write-offset", path, offset_text(seconds)], timeout=30)


def read_offset(remote: Remote, path: str) -> float | None:
    r = remote.run(["cat", path], timeout=30, check=False)
    try:
        return float(r.stdout.strip()) if r.exit_code == 0 else None
    except ValueError:
        return None


_READ_CLOCK = r'''lib=$1 file=$2
a=$(date +%s%N)
b=$(env LD_PRELOAD="$lib" FAKETIME_TIMESTAMP_FILE="$file" FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1 date +%s%N)
c=$(date +%s%N)
echo "$a $b $c"'''
# The environment of a process, read as root, or else as the process's own user (a docker container's root lacks
# CAP_SYS_PTRACE to read another user's); exit 3 when neither can.
_ENVIRON = r'''p=$1
env=$(tr "\0" "\n" < "/proc/$p/environ" 2>/dev/null) ||
env=$(setpriv --reuid="$(stat -c %u "/proc/$p")" --regid="$(stat -c %g "/proc/$p")" --clear-groups \
      sh -c 'tr "\0" "\n" < "/proc/$1/environ"' environ "$p" 2>/dev/null) || exit 3
printf '%s\n' "$env" | grep -E "^(LD_PRELOAD|FAKETIME_TIMESTAMP_FILE)="; true'''
TOLERANCE_S = 0.005  # the timestamp file holds milliseconds


def measured_offset(remote: Remote, library: str, path: str) -> tuple[float, float] | None:
    """Bounds (low, high) of the offset a process under libfaketime reading `path` sees: its clock minus the
    real clock read just after and just before it. None when the node cannot tell."""
    r = remote.run(["sh", "-c", _READ_CLOCK, "read-clock", library, path], timeout=10, check=False)
    parts = r.stdout.split()
    if r.exit_code != 0 or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    a, b, c = (int(p) for p in parts)
    return (b - c) / 1e9, (b - a) / 1e9


def clock_probe(remote: Remote, node: str, library: str, path: str, want: float, was: float) -> Probe:
    """The offset read back on the node, judged against `want` (and told apart from `was`: a reading slow enough
    to fit both is repeated, at most three times)."""
    shown = offset_text(want) + " s"
    width = 0.0
    for _ in range(3):
        got = measured_offset(remote, library, path)
        if got is None:
            return Probe(node=node, what="clock read back", target=path, expected=shown, effect=False,
                         observed="not measured (date under libfaketime failed)")
        lo, hi = got[0] - TOLERANCE_S, got[1] + TOLERANCE_S
        if want == was or not lo <= was <= hi:
            mid = (got[0] + got[1]) / 2
            return Probe(node=node, what="clock read back", target=path, expected=shown,
                         observed=f"{offset_text(mid)} s", effect=lo <= want <= hi)
        width = got[1] - got[0]
    return Probe(node=node, what="clock read back", target=path, expected=shown, effect=False,
                 observed=f"inconclusive: reads of {width:.3f} s cannot tell {offset_text(was)} from it")


def environ_probe(test: Test, node: str, path: str) -> Probe:
    """Whether the system's running process reads its clock through this timestamp file."""
    pids = system_pids(test, node)
    if not pids:
        return Probe(node=node, what="process environment", expected=f"FAKETIME_TIMESTAMP_FILE={path}",
                     observed="not measured" + (" (no pid file)" if pids is None else " (not running)"))
    r = test.cluster.remote(node).run(["sh", "-c", _ENVIRON, "environ", str(pids[0])], timeout=10, check=False)
    if r.exit_code != 0:
        return Probe(node=node, what="process environment", target=f"pid {pids[0]}",
                     expected=f"FAKETIME_TIMESTAMP_FILE={path}", observed="not measured (cannot read it)")
    found = f"FAKETIME_TIMESTAMP_FILE={path}" in r.stdout.split() and "LD_PRELOAD=" in r.stdout
    return Probe(node=node, what="process environment", target=f"pid {pids[0]}", effect=found,
                 expected=f"LD_PRELOAD and FAKETIME_TIMESTAMP_FILE={path}",
                 observed="under libfaketime with this file" if found else "not under libfaketime with this file")


class ClockNemesis:
    """Skews the clocks of the system's processes through their libfaketime timestamp files."""

    fs = FS

    def __init__(self, library: str = LIBFAKETIME) -> None:
        self.library = library
        self.offsets: dict[str, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def timestamp_file(test: Test, node: str) -> str:
        return os.path.join(str(test.node_info(node).workdir), "harness-faketime")

    def setup(self, test: Test) -> None:
        for node in test.nodes:
            remote = test.cluster.remote(node)
            if remote.run(["test", "-e", self.library], timeout=30, check=False).exit_code != 0:
                raise MissingAbility(f"nemesis clock needs libfaketime on the nodes; {node} has no {self.library} "
                                     "(apt-get install libfaketime, or set clock-libfaketime=)")
        for node in test.nodes:
            path = self.timestamp_file(test, node)
            write_offset(test.cluster.remote(node), path, 0.0)
            ability(test, ClockSkewable).restart_under_faketime(test, node, faketime_env(path, self.library))
            self.offsets[node] = 0.0

    def _set(self, test: Test, node: str, seconds: float) -> None:
        path = self.timestamp_file(test, node)
        if seconds != 0.0 and test.ledger is not None:
            test.ledger.record(KIND, node, path=path, **locator_for(test, node))
        write_offset(test.cluster.remote(node), path, seconds)
        with self._lock:
            self.offsets[node] = seconds
        if seconds == 0.0 and test.ledger is not None:
            test.ledger.release(KIND, node)

    def _set_all(self, test: Test, offsets: Mapping[str, float]) -> None:
        """Every node's offset at once; the first node's failure once all are done."""
        on_all(offsets, lambda n: self._set(test, n, offsets[n]))

    def invoke(self, test: Test, op: Op) -> Op:
        v: Mapping[str, Any] = op.value if isinstance(op.value, Mapping) else {}
        if op.f == "reset-clock":
            nodes = [n for n, s in self.offsets.items() if s != 0.0]
            was = dict(self.offsets)
            self._set_all(test, dict.fromkeys(test.nodes, 0.0))
            evidence = self._evidence(test, sorted(nodes), {n: 0.0 for n in nodes}, was)
            return op.replace(type="info", value=with_evidence({"reset": sorted(nodes)}, evidence))
        try:
            nodes, note = targets_of(test, v.get("nodes", "one"))
            delta = float(v.get("delta_ms", 0)) / 1000.0
        except (ValueError, TypeError) as e:
            return op.replace(type="info", error=f"{op.f}: {e}")
        if op.f == "bump-clock":
            was = {n: self.offsets.get(n, 0.0) for n in nodes}
            self._set_all(test, {n: was[n] + delta for n in nodes})
            value: dict[str, object] = {"offsets_s": {n: self.offsets[n] for n in nodes}}
            if note:
                value["skipped"] = note
            evidence = self._evidence(test, nodes, {n: self.offsets[n] for n in nodes}, was)
            return op.replace(type="info", value=with_evidence(value, evidence))
        if op.f == "strobe-clock":
            period = max(0.01, float(v.get("period_ms", 100)) / 1000.0)
            duration = float(v.get("duration_s", 5))
            base = {n: self.offsets.get(n, 0.0) for n in nodes}
            flips = 0
            evidence = Evidence(nothing="no node was chosen")
            deadline = time.monotonic() + duration
            while time.monotonic() < deadline:
                flips += 1
                self._set_all(test, {n: base[n] + (delta if flips % 2 else 0.0) for n in nodes})
                if flips == 1:  # measured while the first flip is in force
                    evidence = self._evidence(test, nodes, {n: base[n] + delta for n in nodes}, base)
                time.sleep(period)
            self._set_all(test, base)
            value = {"nodes": nodes, "delta_s": delta, "flips": flips}
            return op.replace(type="info", value=with_evidence(value, evidence))
        return op.replace(type="info", error=f"clock does not handle {op.f!r}")

    def _evidence(self, test: Test, nodes: Sequence[str], want: Mapping[str, float],
                  was: Mapping[str, float]) -> Evidence:
        """Per node: the offset read back (meant: `want`, before: `was`) and the system process's environment."""
        if not nodes:
            return Evidence(nothing="no node was chosen")

        def measure(n: str) -> list[Probe]:
            path = self.timestamp_file(test, n)
            return [clock_probe(test.cluster.remote(n), n, self.library, path, want[n], was.get(n, 0.0)),
                    environ_probe(test, n, path)]

        return Evidence(probes=tuple(p for ps in on_all(nodes, measure).values() for p in ps))

    def teardown(self, test: Test) -> None:
        _, failed = on_nodes(test.nodes, lambda n: self._set(test, n, 0.0))  # every node, whatever one says
        if failed:
            raise FaultError("could not reset clocks: " + failures_text(failed))

    def residue(self, test: Test) -> list[str]:
        offsets = on_all(test.nodes, lambda n: read_offset(test.cluster.remote(n), self.timestamp_file(test, n)))
        return [f"{n}: clock offset {offset_text(off)} s still in force" for n, off in offsets.items()
                if off is not None and off != 0.0]


@undoer(KIND)
def _undo_clock(entry: LedgerEntry) -> None:
    if node_is_gone(entry.data):
        return
    remote = remote_from_locator(entry.data)
    try:
        write_offset(remote, str(entry.data["path"]), 0.0)
    finally:
        remote.close()


def _positive_ms(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise ValueError("must be a positive number of milliseconds")
    return v


class ClockPlugin:
    """The `harness.nemeses` plugin `clock`."""

    name = "clock"
    fs = FS  # the ops its nemesis handles
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="clock-targets", default=("one", "minority", "majority", "all"), parse=parse_specs,
                   help="node specs the clock schedule draws from"),
        OptionSpec(name="clock-max-skew-ms", default=60_000, parse=_positive_ms, help="largest clock bump (ms)"),
        OptionSpec(name="clock-libfaketime", default=LIBFAKETIME, help="libfaketimeMT on the nodes"),
        SCHEDULE_SPEC,
    )

    def package(self, test: Test) -> Package:
        if not isinstance(test.db, ClockSkewable):
            why = {
                "etcd": " (etcd is a Go program: it reads the clock through the kernel, not libc, so libfaketime "
                "cannot skew it)",
            }.get(test.options.system, "")
            where = (" Setting real clocks on ssh hosts is not implemented." if test.options.cluster == "ssh" else
                     " Nodes share this host's clock, which the harness never sets.")
            raise MissingAbility(
                f"nemesis clock needs a system that is ClockSkewable (it runs the system under libfaketime); "
                f"{test.options.system} is not{why}.{where}"
            )
        require_remotes(test, "nemesis clock")
        require_targets(test, "nemesis clock")
        specs = tuple(test.nemesis_opts.get("clock-targets") or ("one",))
        max_ms = int(test.nemesis_opts.get("clock-max-skew-ms") or 60_000)

        def skew(t: Test) -> dict[str, object]:
            delta = int(min(max_ms, 2 ** t.rng.uniform(6, 18))) * t.rng.choice((-1, 1))
            nodes = t.rng.choice(specs)
            if t.rng.random() < 0.25:
                return {"f": "strobe-clock", "value": {"nodes": nodes, "delta_ms": delta, "period_ms": 50,
                                                       "duration_s": 3}}
            return {"f": "bump-clock", "value": {"nodes": nodes, "delta_ms": delta}}

        gen = family_generator(test, "clock", FS, default_schedule(test, skew, {"f": "reset-clock"}))
        return Package(
            name="clock", nemesis=ClockNemesis(str(test.nemesis_opts.get("clock-libfaketime") or LIBFAKETIME)),
            generator=gen, final_generator={"f": "reset-clock"}, label="clock",
            start_fs=frozenset({"bump-clock", "strobe-clock"}), stop_fs=frozenset({"reset-clock"}),
        )


PLUGIN = ClockPlugin()
