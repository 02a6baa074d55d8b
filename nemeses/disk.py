"""The `disk` fault family: corruption of the system's data files on chosen nodes while the system is stopped
(SIGKILL, corrupt, start again), to test what "durable" means.

Faults aim at written data, never at the zero-filled, preallocated tail of a file (etcd preallocates 64 MB WAL
segments): `written_bytes` finds where a file's data ends (the last non-zero byte, assuming the data comes first
and zeros after, as in a preallocated log). Modes, in Jepsen's vocabulary: `bitflip` flips one random bit of the
written part (or, with `disk-bitflip-probability=P`, each bit of one block with probability P); `truncate` cuts
a random number of its last bytes (at most `disk-max-bytes`), like a torn write: the file then ends there;
`copy` copies one block of the written data over another (a misdirected write); `rollback` writes back a block
as it was at the last snapshot (a lost write: the nemesis snapshots the last written block of a data file on
every node at setup and at each `stop-disk`, while the system runs, where an append-only log changes next; a
block unchanged since then is nothing to roll back). Files come from `disk-files=GLOB[,GLOB]` relative to each node's workdir when given (for etcd, e.g.
`data/member/wal/*.wal`), else from the optional DB ability `HasDataFiles`; one of the two is needed. The system
must be Killable.

Ops: `corrupt-file` {"nodes": spec or list, "mode": "bitflip"|"truncate"} completes with every change made
(node, file, how much of it was written, offset and bit with the byte before and after, or the sizes before and
after) and the evidence (`harness.evidence`): a checksum of the written part before and after, which must
differ. A node whose data files hold no written data at all acted on nothing (the evidence says so). A node
that does not come back after the corruption is noted in the completion (`start_failed`). `stop-disk` ends
the window in which the system runs on the corrupted data (its schedule comes `interval` after each
corruption, so reports show the interval and coverage counts the client ops in it): it starts again a node
that did not come back, and records whether each corrupted node runs. Corruption is the point of this fault,
so nothing undoes it; the data goes with the cluster. A system that refuses to start on data it finds corrupt
(etcd: "walpb: crc mismatch") gives its answer to the fault, which the completions record (`start_failed`,
`refused`); it is not a fault left behind, so this family reports no residue: the node's process and data go
with the cluster's teardown. Teardown tries once more to start what is down. No ledger entry is needed:
nothing outlives the cluster's teardown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.db import Killable, ability, active_nodes, require
from harness.errors import MissingAbility
from harness.evidence import Evidence, Probe, with_evidence
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses import datafile
from nemeses.probe import system_pids
from nemeses.process import running_probe
from nemeses.remotes import require_remotes
from nemeses.schedule import (
    SCHEDULE_SPEC,
    default_schedule,
    family_generator,
)
from nemeses.targets import parse_specs, require_targets, targets_of

if TYPE_CHECKING:
    from harness.test import Test

log = logging.getLogger("harness")
OP, STOP = "corrupt-file", "stop-disk"
FS = frozenset({OP, STOP})
MODES = ("bitflip", "truncate", "copy", "rollback")


@runtime_checkable
class HasDataFiles(Protocol):
    """Optional DB ability: the files on `node` that hold the system's durable data (absolute paths; may be
    empty). Called while the system runs; the files should exist then."""

    def data_files(self, test: Test, node: str) -> Sequence[str]: ...


_LIST = 'cd "$1" && shift && for g in "$@"; do for f in $g; do [ -f "$f" ] && echo "$PWD/$f"; done; done; true'


def _evidence(nodes: Sequence[str], changes: Mapping[str, datafile.Change], untouched: Sequence[str]) -> Evidence:
    """The checksum of each changed file's written data, before and after; a node whose files hold no written
    data at all is a fault that did not take effect there (and, on every node, one that acted on nothing)."""
    probes = [Probe(node=n, what="sha256 of the written data", target=f"{c.file} (first {c.written} bytes)",
                    expected="changed", observed=f"{c.sha256_before[:12]} -> {c.sha256_after[:12]}",
                    effect=c.changed) for n, c in changes.items()]
    probes += [Probe(node=n, what="written data", target="data files", expected="some bytes written",
                     observed="no data file holds written data", effect=False) for n in untouched]
    if not nodes:
        return Evidence(nothing="no node was chosen")
    if untouched and not changes:
        return Evidence(probes=tuple(probes), nothing=f"no data file on {', '.join(untouched)} holds written data")
    return Evidence(probes=tuple(probes))


class DiskNemesis:
    """Kills the system on chosen nodes, corrupts the written data of one data file on each, starts it again."""

    fs = FS

    def __init__(self, globs: Sequence[str], max_bytes: int, flip_p: float = 0.0) -> None:
        self.globs = list(globs)
        self.max_bytes = max_bytes
        self.flip_p = flip_p
        self.down: set[str] = set()
        self.corrupted: list[str] = []  # nodes corrupted since the last stop-disk
        self.snapshots: dict[str, tuple[str, int, bytes]] = {}  # node -> (file, offset, the block's content)

    def setup(self, test: Test) -> None:
        self.snapshot(test, list(active_nodes(test)))

    def snapshot(self, test: Test, nodes: Sequence[str]) -> None:
        """Remember one block of written data of a data file on each node (for `rollback`); nodes whose files
        hold no written data yet keep their older snapshot, if any."""
        rng = test.nemesis_rng
        for node in nodes:  # one node after the other: the draws from the nemesis rng stay in a fixed order
            remote = test.cluster.remote(node)
            files = self.files(test, node)
            for path in rng.sample(files, len(files)):
                _, written = datafile.written_bytes(remote, path)
                if written:  # the last block of the written data: where an append-only log changes next
                    offset = (written - 1) // datafile.BLOCK * datafile.BLOCK
                    block = datafile.read_chunk(remote, path, offset, datafile.BLOCK)
                    self.snapshots[node] = (path, offset, block)
                    break

    def files(self, test: Test, node: str) -> list[str]:
        """The files the `disk-files` globs name when given, else the ones the system names (HasDataFiles)."""
        if not self.globs and isinstance(test.db, HasDataFiles):
            return list(test.db.data_files(test, node))
        workdir = str(test.node_info(node).workdir)
        r = test.cluster.remote(node).run(["sh", "-c", _LIST, "list", workdir, *self.globs], timeout=30)
        return sorted(set(r.stdout.split()))

    def corrupt(self, test: Test, node: str, candidates: list[str], mode: str) -> datafile.Change | None:
        """With the system stopped: the first candidate (in a random order) that holds written data, changed;
        None when none does (for `rollback`: the snapshot's file, None when its block is as it was)."""
        remote = test.cluster.remote(node)
        if mode == "rollback":
            snap = self.snapshots.get(node)
            candidates = [snap[0]] if snap is not None and snap[0] in candidates else []
        for path in test.nemesis_rng.sample(candidates, len(candidates)):
            size, written = datafile.written_bytes(remote, path)
            if written == 0:
                continue
            before = datafile.checksum(remote, path, written)
            detail = self._change(remote, test.nemesis_rng, node, path, mode, size, written)
            if detail is None:
                return None
            return datafile.Change(file=path, mode=mode, written=written, sha256_before=before,
                                   sha256_after=datafile.checksum(remote, path, written), detail=detail)
        return None

    def _change(self, remote: Any, rng: Any, node: str, path: str, mode: str, size: int,
                written: int) -> dict[str, int] | None:
        if mode == "bitflip":
            return datafile.bitflips(remote, path, rng, written, self.flip_p) if self.flip_p else \
                datafile.bitflip(remote, path, rng, written)
        if mode == "truncate":
            return datafile.truncate(remote, path, rng, written, size, self.max_bytes)
        if mode == "copy":
            return datafile.copy_chunk(remote, path, rng, written)
        _, offset, old = self.snapshots[node]
        if datafile.read_chunk(remote, path, offset, len(old)) == old:
            return None  # unchanged since the snapshot: nothing to roll back
        datafile.write_chunk(remote, path, offset, old)
        return {"offset": offset, "length": len(old)}

    def _one(self, test: Test, node: str, mode: str) -> tuple[datafile.Change | None, str | None, str | None]:
        """Kill, corrupt, start one node: (the change, an error, why it did not start again)."""
        candidates = self.files(test, node)
        if not candidates:
            return None, "no data files found", None
        ability(test, Killable).kill(test, node)
        self.down.add(node)
        change, error, start_failed = None, None, None
        try:
            change = self.corrupt(test, node, candidates, mode)
        except Exception as e:  # noqa: BLE001 - the node must be started again whatever happened
            error = str(e)
        try:
            ability(test, Killable).start(test, node)
            self.down.discard(node)
        except Exception as e:  # noqa: BLE001 - a system that will not start on corrupt data is a finding
            start_failed = str(e)
        return change, error, start_failed

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f == STOP:
            return self._stop(test, op)
        if op.f != OP:
            return op.replace(type="info", error=f"disk does not handle {op.f!r}")
        v: Mapping[str, object] = op.value if isinstance(op.value, Mapping) else {"nodes": op.value}
        mode = str(v.get("mode", "bitflip"))
        try:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
            nodes, note = targets_of(test, v.get("nodes", "one"))
        except ValueError as e:
            return op.replace(type="info", error=f"disk: {e}")
        changes: dict[str, datafile.Change] = {}
        errors: list[str] = []
        start_failed: dict[str, str] = {}
        for node in nodes:
            change, error, failed = self._one(test, node, mode)
            if error:
                errors.append(f"{node}: {error}")
            if failed:
                start_failed[node] = failed
            if change is not None:
                changes[node] = change
        self.corrupted += list(changes)
        value: dict[str, object] = {"nodes": nodes, "changes": [{"node": n, **c.to_json()} for n, c in changes.items()]}
        if start_failed:
            value["start_failed"] = start_failed
        if note:
            value["skipped"] = note
        failed_nodes = {e.split(":", 1)[0] for e in errors}
        untouched = [n for n in nodes if n not in changes and n not in failed_nodes]
        return op.replace(type="info", value=with_evidence(value, _evidence(nodes, changes, untouched)),
                          error="; ".join(errors) or None)

    def _stop(self, test: Test, op: Op) -> Op:
        """End of the window after corruptions: restart what is down, see what runs, and take new snapshots
        for later rollbacks."""
        self.teardown(test)
        self.snapshot(test, [n for n in active_nodes(test) if n not in self.down])
        nodes, self.corrupted = sorted(set(self.corrupted), key=test.nodes.index), []
        probes = [running_probe(n, system_pids(test, n)) for n in nodes]
        value: dict[str, object] = {"nodes": nodes}
        if self.down:
            value["refused"] = sorted(self.down)  # would not start again on its corrupted data
        return op.replace(type="info", value=with_evidence(value, Evidence(probes=tuple(probes))))

    def teardown(self, test: Test) -> None:
        for node in sorted(self.down):
            try:
                ability(test, Killable).start(test, node)
                self.down.discard(node)
            except Exception as e:  # noqa: BLE001 - the system's answer to the fault, recorded, not raised
                log.warning("disk: %s still does not start after its data was corrupted: %s", node, e)



def _globs(text: str) -> tuple[str, ...]:
    gs = tuple(g.strip() for g in text.split(",") if g.strip())
    for g in gs:
        if g.startswith("/") or ".." in g.split("/"):
            raise ValueError(f"{g!r}: globs are relative to the node's workdir and stay inside it")
    return gs


def _positive(s: str) -> int:
    v = int(s)
    if v <= 0:
        raise ValueError("must be positive")
    return v


def _probability(s: str) -> float:
    p = float(s)
    if not 0.0 <= p <= 1.0:
        raise ValueError("a probability between 0 and 1")
    return p


class DiskPlugin:
    """The `harness.nemeses` plugin `disk`."""

    name = "disk"
    fs = FS  # the ops its nemesis handles
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="disk-files", default=(), parse=_globs,
                   help="globs of data files relative to the node's workdir (default: the files the system names)"),
        OptionSpec(name="disk-mode", default=MODES, parse=lambda s: tuple(
            m for m in (x.strip() for x in s.split(",")) if m and (m in MODES or _bad_mode(m))),
            help="modes the schedule draws from: bitflip, truncate, copy, rollback"),
        OptionSpec(name="disk-max-bytes", default=4096, parse=_positive, help="most bytes a truncate cuts"),
        OptionSpec(name="disk-bitflip-probability", default=0.0, parse=_probability,
                   help="bitflip: flip each bit of one block with this probability (default: one bit)"),
        OptionSpec(name="disk-targets", default=("one",), parse=parse_specs, help="node specs to corrupt"),
        SCHEDULE_SPEC,
    )

    def package(self, test: Test) -> Package:
        require(test.db, Killable, "nemesis disk", test.options.system)
        require_remotes(test, "nemesis disk")
        require_targets(test, "nemesis disk")
        globs = tuple(test.nemesis_opts.get("disk-files") or ())
        if not isinstance(test.db, HasDataFiles) and not globs:
            raise MissingAbility(
                f"nemesis disk needs to know the data files: {test.options.system} is not HasDataFiles; "
                "name them with --nemesis-opt disk-files=GLOB (relative to the node's workdir, "
                "e.g. data/member/wal/*.wal for etcd)"
            )
        modes = tuple(test.nemesis_opts.get("disk-mode") or MODES)
        specs = tuple(test.nemesis_opts.get("disk-targets") or ("one",))

        def corrupt(t: Test) -> dict[str, object]:
            return {"f": OP, "value": {"nodes": t.rng.choice(specs), "mode": t.rng.choice(modes)}}

        gen = family_generator(test, "disk", FS, default_schedule(test, corrupt, {"f": STOP}))
        nemesis = DiskNemesis(globs, int(test.nemesis_opts.get("disk-max-bytes") or 4096),
                              float(test.nemesis_opts.get("disk-bitflip-probability") or 0.0))
        return Package(name="disk", nemesis=nemesis,
                       generator=gen, final_generator={"f": STOP}, label="disk", start_fs=frozenset({OP}),
                       stop_fs=frozenset({STOP}))


def _bad_mode(m: str) -> bool:
    raise ValueError(f"unknown mode {m!r} (one of {', '.join(MODES)})")


PLUGIN = DiskPlugin()
