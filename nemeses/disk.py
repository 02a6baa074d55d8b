"""The `disk` fault family: corruption of the system's data files on chosen nodes while the system is stopped
(SIGKILL, corrupt, start again), to test what "durable" means.

Modes: `bitflip` flips one random bit of a file; `truncate` cuts a random number of bytes (at most
`disk-max-bytes`) off its end, like a torn write. Files come from the optional DB ability `HasDataFiles`, or,
for systems without it, from `disk-files=GLOB[,GLOB]` relative to each node's workdir (for etcd, e.g.
`data/member/wal/*.wal`). The system must be Killable.

Ops: `corrupt-file` {"nodes": spec or list, "mode": "bitflip"|"truncate"} completes with every change made
(node, file, offset and bit with the byte before and after, or the sizes before and after). A node that does
not come back after the corruption is noted in the completion (`start_failed`), retried at teardown, and
reported as residue if it still does not start. Corruption is the point of this fault, so teardown does not
undo it; the data goes with the cluster. No ledger entry is needed: nothing outlives the cluster's teardown.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.control import Remote
from harness.db import Killable, require
from harness.errors import FaultError, MissingAbility
from harness.nemesis import Package
from harness.op import Op
from harness.options import OptionSpec
from nemeses.process import targets_of
from nemeses.remotes import require_remotes
from nemeses.schedule import FAMILY_FS, SCHEDULE_SPEC, family_generator, fault_plan, periodic
from nemeses.targets import parse_specs, require_targets

if TYPE_CHECKING:
    import random

    from harness.test import Test

log = logging.getLogger("harness")
OP = "corrupt-file"
FS = frozenset({OP})
FAMILY_FS["disk"] = FS
MODES = ("bitflip", "truncate")


@runtime_checkable
class HasDataFiles(Protocol):
    """Optional DB ability: the files on `node` that hold the system's durable data (absolute paths; may be
    empty). Called while the system runs; the files should exist then."""

    def data_files(self, test: Test, node: str) -> Sequence[str]: ...


_LIST = 'cd "$1" && shift && for g in "$@"; do for f in $g; do [ -f "$f" ] && echo "$PWD/$f"; done; done; true'
_READ = 'od -An -tu1 -j "$2" -N1 "$1"'
_WRITE = 'printf "$(printf "\\\\%03o" "$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none'


def _size(remote: Remote, path: str) -> int:
    return int(remote.run(["stat", "-c", "%s", path], timeout=30).stdout.strip())


def bitflip(remote: Remote, path: str, rng: random.Random) -> dict[str, Any]:
    """Flip one random bit of the file. Returns where and the byte before and after."""
    size = _size(remote, path)
    if size == 0:
        raise FaultError(f"on {remote.node}: {path} is empty; nothing to flip")
    offset, bit = rng.randrange(size), rng.randrange(8)
    before = int(remote.run(["sh", "-c", _READ, "read", path, str(offset)], timeout=30).stdout.split()[0])
    after = before ^ (1 << bit)
    remote.run(["sh", "-c", _WRITE, "write", path, str(offset), str(after)], timeout=30)
    got = int(remote.run(["sh", "-c", _READ, "read", path, str(offset)], timeout=30).stdout.split()[0])
    if got != after:
        raise FaultError(f"on {remote.node}: bitflip of {path} at {offset} did not take ({got} != {after})")
    return {"file": path, "mode": "bitflip", "offset": offset, "bit": bit, "before": before, "after": after}


def truncate(remote: Remote, path: str, rng: random.Random, max_bytes: int) -> dict[str, Any]:
    """Cut 1..max_bytes bytes off the end of the file."""
    size = _size(remote, path)
    if size == 0:
        raise FaultError(f"on {remote.node}: {path} is empty; nothing to truncate")
    cut = rng.randint(1, min(size, max_bytes))
    remote.run(["truncate", "-s", str(size - cut), path], timeout=30)
    return {"file": path, "mode": "truncate", "from_size": size, "to_size": size - cut}


class DiskNemesis:
    """Kills the system on chosen nodes, corrupts one data file on each, starts it again."""

    fs = FS

    def __init__(self, globs: Sequence[str], max_bytes: int) -> None:
        self.globs = list(globs)
        self.max_bytes = max_bytes
        self.down: set[str] = set()

    def setup(self, test: Test) -> None:
        pass

    def files(self, test: Test, node: str) -> list[str]:
        if isinstance(test.db, HasDataFiles):
            return list(test.db.data_files(test, node))
        workdir = str(test.node_info(node).workdir)
        r = test.cluster.remote(node).run(["sh", "-c", _LIST, "list", workdir, *self.globs], timeout=30)
        return sorted(set(r.stdout.split()))

    def invoke(self, test: Test, op: Op) -> Op:
        if op.f != OP:
            return op.replace(type="info", error=f"disk does not handle {op.f!r}")
        v: Mapping[str, Any] = op.value if isinstance(op.value, Mapping) else {"nodes": op.value}
        mode = str(v.get("mode", "bitflip"))
        try:
            if mode not in MODES:
                raise ValueError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
            nodes, note = targets_of(test, v.get("nodes", "one"))
        except ValueError as e:
            return op.replace(type="info", error=f"disk: {e}")
        changes: list[dict[str, Any]] = []
        errors: list[str] = []
        start_failed: dict[str, str] = {}
        for node in nodes:
            remote = test.cluster.remote(node)
            candidates = self.files(test, node)
            if not candidates:
                errors.append(f"{node}: no data files found")
                continue
            path = test.nemesis_rng.choice(candidates)
            test.db.kill(test, node)
            self.down.add(node)
            try:
                change = bitflip(remote, path, test.nemesis_rng) if mode == "bitflip" else truncate(
                    remote, path, test.nemesis_rng, self.max_bytes)
                changes.append({"node": node, **change})
            except Exception as e:  # noqa: BLE001 - the node must be started again whatever happened
                errors.append(f"{node}: {e}")
            try:
                test.db.start(test, node)
                self.down.discard(node)
            except Exception as e:  # noqa: BLE001 - a system that will not start on corrupt data is a finding
                start_failed[node] = str(e)
        value: dict[str, Any] = {"nodes": nodes, "changes": changes}
        if start_failed:
            value["start_failed"] = start_failed
        if note:
            value["skipped"] = note
        return op.replace(type="info", value=value, error="; ".join(errors) or None)

    def teardown(self, test: Test) -> None:
        for node in sorted(self.down):
            try:
                test.db.start(test, node)
                self.down.discard(node)
            except Exception as e:  # noqa: BLE001 - reported by residue
                log.warning("disk: %s still does not start after its data was corrupted: %s", node, e)

    def residue(self, test: Test) -> list[str]:
        return [f"{n}: does not start again after its data was corrupted" for n in sorted(self.down)]


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


class DiskPlugin:
    """The `harness.nemeses` plugin `disk`."""

    name = "disk"
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="disk-files", default=(), parse=_globs,
                   help="globs of data files relative to the node's workdir, for systems without HasDataFiles"),
        OptionSpec(name="disk-mode", default=MODES, parse=lambda s: tuple(
            m for m in (x.strip() for x in s.split(",")) if m and (m in MODES or _bad_mode(m))),
            help="modes the schedule draws from: bitflip, truncate"),
        OptionSpec(name="disk-max-bytes", default=4096, parse=_positive, help="most bytes a truncate cuts"),
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

        def corrupt(t: Test) -> dict[str, Any]:
            return {"f": OP, "value": {"nodes": t.rng.choice(specs), "mode": t.rng.choice(modes)}}

        plan = fault_plan(test)
        default = periodic([corrupt], 2 * plan.interval_s, plan.warm_up_s(test), plan.end_s)
        gen = family_generator(test, "disk", FS, default)
        return Package(name="disk", nemesis=DiskNemesis(globs, int(test.nemesis_opts.get("disk-max-bytes") or 4096)),
                       generator=gen, final_generator=None, label="disk")


def _bad_mode(m: str) -> bool:
    raise ValueError(f"unknown mode {m!r} (one of {', '.join(MODES)})")


PLUGIN = DiskPlugin()
