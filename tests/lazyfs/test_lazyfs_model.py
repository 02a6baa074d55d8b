"""The lazy filesystem against a model (hypothesis stateful): after any sequence of writes, truncates, creates,
unlinks, renames, fsyncs, directory fsyncs and power losses, every file holds exactly what the model says, and
after a power loss exactly what was made durable survives.

The model: a directory maps names to inodes; an inode has its current content and its durable content (as of
its last fsync; a new file's is empty). The durable directory is the mapping as of the last fsync of the
directory. A power loss brings back the durable directory and every inode's durable content.

Runs on a real FUSE mount of clusters/lazyfs/lazyfs.py (root and /dev/fuse needed: skips otherwise), one mount
for the module, each example in a fresh subdirectory made durable first."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

PROGRAM = Path(__file__).resolve().parents[2] / "clusters" / "lazyfs" / "lazyfs.py"
NAMES = st.sampled_from(["a", "b", "c"])
# offsets and lengths near the start and around page boundaries (4096), where the filesystem's pages meet
SPOTS = st.one_of(st.integers(0, 300), st.integers(3900, 4300), st.integers(8000, 8400))


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "a FUSE mount with allow_other needs root"
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse on this machine"
    probe = subprocess.run([sys.executable, "-c", "import mfusepy"], capture_output=True, check=False)
    if probe.returncode != 0:
        probe = subprocess.run([sys.executable, "-c", "import fuse"], capture_output=True, check=False)
    if probe.returncode != 0:
        return "no FUSE binding for this Python (pip install mfusepy, and libfuse3 from Debian's fuse3)"
    return None


class Mount:
    def __init__(self, root: Path) -> None:
        self.backing, self.mnt, self.sock = root / "backing", root / "mnt", str(root / "ctl")
        self.backing.mkdir()
        self.mnt.mkdir()
        self.proc = subprocess.Popen([sys.executable, str(PROGRAM), "mount", str(self.backing), str(self.mnt),
                                      "--control", self.sock], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(100):
            if os.path.ismount(self.mnt) and os.path.exists(self.sock):
                return
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"lazyfs did not mount: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def ctl(self, command: str, *, via_cli: bool = False) -> dict[str, object]:
        """A control command, through the program's own `ctl` (as nemeses send it) or straight to the socket."""
        if via_cli:
            out = subprocess.run([sys.executable, str(PROGRAM), "ctl", self.sock, command], capture_output=True,
                                 text=True, check=True, timeout=60).stdout
        else:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(self.sock)
                s.sendall(command.encode() + b"\n")
                out = s.makefile().readline()
        reply: dict[str, object] = json.loads(out)
        assert reply["ok"], reply
        return reply

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.mnt)], check=False, capture_output=True)
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def mount() -> Iterator[Mount]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="lazyfs-model-"))
    m = Mount(root)
    try:
        yield m
    finally:
        m.close()
        shutil.rmtree(root, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_examples = itertools.count()


class OnMount:
    """The filesystem through a real FUSE mount: the kernel, the FUSE binding and the program."""

    def __init__(self, m: Mount) -> None:
        self.m = m
        self.dir = m.mnt / f"ex{next(_examples)}"
        self.dir.mkdir()
        fsync_dir(m.mnt)  # the example's directory itself is durable

    def create(self, name: str) -> None:
        os.close(os.open(self.dir / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))

    def write(self, name: str, offset: int, data: bytes) -> None:
        fd = os.open(self.dir / name, os.O_RDWR)
        try:
            assert os.pwrite(fd, data, offset) == len(data)
        finally:
            os.close(fd)

    def truncate(self, name: str, length: int) -> None:
        os.truncate(self.dir / name, length)

    def fsync(self, name: str) -> None:
        fd = os.open(self.dir / name, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def unlink(self, name: str) -> None:
        os.unlink(self.dir / name)

    def rename(self, old: str, new: str) -> None:
        os.rename(self.dir / old, self.dir / new)

    def fsync_dir(self) -> None:
        fsync_dir(self.dir)

    def power_loss(self) -> None:
        self.m.ctl("power-loss")

    def listing(self) -> list[str]:
        return sorted(os.listdir(self.dir))

    def content(self, name: str) -> tuple[int, bytes]:
        return (self.dir / name).stat().st_size, (self.dir / name).read_bytes()

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        fsync_dir(self.m.mnt)
        self.m.ctl("sync")


class OnCore:
    """The same filesystem logic called directly (no kernel, no FUSE): fast, so it gets many more examples."""

    def __init__(self) -> None:
        sys.path.insert(0, str(PROGRAM.parent))
        from lazyfs import LazyCore  # noqa: PLC0415 - the standalone program, loaded as a module here

        self.root = tempfile.mkdtemp(prefix="lazyfs-core-")
        os.mkdir(os.path.join(self.root, "b"))
        self.core = LazyCore(os.path.join(self.root, "b"), os.path.join(self.root, "trash"))

    def _with(self, name: str, fn: object) -> object:
        fh = self.core.open("/" + name, os.O_RDWR)
        try:
            return fn(fh)  # type: ignore[operator]
        finally:
            self.core.release(fh)

    def create(self, name: str) -> None:
        self.core.release(self.core.open("/" + name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, (0, 0)))

    def write(self, name: str, offset: int, data: bytes) -> None:
        self._with(name, lambda fh: self.core.write(fh, data, offset))

    def truncate(self, name: str, length: int) -> None:
        self._with(name, lambda fh: self.core.truncate(self.core.fds[fh][0], length))

    def fsync(self, name: str) -> None:
        self._with(name, self.core.fsync)

    def unlink(self, name: str) -> None:
        self.core.unlink("/" + name)

    def rename(self, old: str, new: str) -> None:
        self.core.rename("/" + old, "/" + new)

    def fsync_dir(self) -> None:
        self.core.fsyncdir("/")

    def power_loss(self) -> None:
        self.core.power_loss()

    def listing(self) -> list[str]:
        return sorted(os.listdir(self.core.backing))

    def content(self, name: str) -> tuple[int, bytes]:
        st = os.stat(os.path.join(self.core.backing, name))
        size = self.core.size_of(st)
        return size, bytes(self._with(name, lambda fh: self.core.read(fh, size + 10, 0)))  # type: ignore[arg-type]

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class LazyModel(RuleBasedStateMachine):
    """One example: a directory of the filesystem against the model."""

    make: object = None  # a function returning an OnMount or OnCore

    @initialize()
    def fresh_dir(self) -> None:
        self.fs = self.make()  # type: ignore[misc]
        self.inodes = itertools.count()
        self.names: dict[str, int] = {}
        self.durable_names: dict[str, int] = {}
        self.cur: dict[int, bytes] = {}
        self.dur: dict[int, bytes] = {}

    @precondition(lambda self: len(self.names) < 3)
    @rule(name=NAMES)
    def create(self, name: str) -> None:
        if name in self.names:
            return
        self.fs.create(name)
        ino = next(self.inodes)
        self.names[name] = ino
        self.cur[ino] = self.dur[ino] = b""

    def _existing(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.names)))

    @precondition(lambda self: self.names)
    @rule(pick=st.data(), offset=SPOTS, data=st.binary(min_size=1, max_size=600))
    def write(self, pick: st.DataObject, offset: int, data: bytes) -> None:
        name = self._existing(pick)
        self.fs.write(name, offset, data)
        ino = self.names[name]
        old = self.cur[ino]
        if offset > len(old):
            old += bytes(offset - len(old))
        self.cur[ino] = old[:offset] + data + old[offset + len(data):]

    @precondition(lambda self: self.names)
    @rule(pick=st.data(), length=SPOTS)
    def truncate(self, pick: st.DataObject, length: int) -> None:
        name = self._existing(pick)
        self.fs.truncate(name, length)
        ino = self.names[name]
        old = self.cur[ino]
        self.cur[ino] = old[:length] + bytes(max(0, length - len(old)))

    @precondition(lambda self: self.names)
    @rule(pick=st.data())
    def fsync(self, pick: st.DataObject) -> None:
        name = self._existing(pick)
        self.fs.fsync(name)
        ino = self.names[name]
        self.dur[ino] = self.cur[ino]

    @precondition(lambda self: self.names)
    @rule(pick=st.data())
    def unlink(self, pick: st.DataObject) -> None:
        name = self._existing(pick)
        self.fs.unlink(name)
        del self.names[name]

    @precondition(lambda self: self.names)
    @rule(pick=st.data(), new=NAMES)
    def rename(self, pick: st.DataObject, new: str) -> None:
        old = self._existing(pick)
        if old == new:
            return
        self.fs.rename(old, new)
        self.names[new] = self.names.pop(old)

    @rule()
    def fsync_directory(self) -> None:
        self.fs.fsync_dir()
        self.durable_names = dict(self.names)

    @rule()
    def power_loss(self) -> None:
        self.fs.power_loss()
        self.names = dict(self.durable_names)
        self.cur = {ino: self.dur[ino] for ino in self.cur}

    @invariant()
    def files_hold_what_the_model_says(self) -> None:
        if not hasattr(self, "fs"):
            return
        assert self.fs.listing() == sorted(self.names)
        for name, ino in self.names.items():
            assert self.fs.content(name) == (len(self.cur[ino]), self.cur[ino]), name

    def teardown(self) -> None:
        if hasattr(self, "fs"):
            self.fs.close()


def _run(make: object, examples: int) -> None:
    LazyModel.make = staticmethod(make)  # type: ignore[assignment]
    case = LazyModel.TestCase
    case.settings = settings(max_examples=examples, stateful_step_count=25, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])
    case().runTest()


def test_the_filesystem_logic_matches_its_model() -> None:
    _run(OnCore, 500)


def test_the_mounted_filesystem_matches_its_model(mount: Mount) -> None:
    _run(lambda: OnMount(mount), 60)


def test_torn_write_persists_half_of_the_last_write(mount: Mount) -> None:
    d = mount.mnt / "torn"
    d.mkdir()
    fsync_dir(mount.mnt)
    with open(d / "f", "wb") as fh:
        fh.write(b"0" * 100)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(d)
    with open(d / "f", "r+b") as fh:
        fh.write(b"x" * 10)  # dropped: not the last write
        fh.seek(40)
        fh.write(b"y" * 20)  # the last write: half of it reaches the disk
    reply = mount.ctl("torn-write", via_cli=True)
    assert reply["torn_bytes"] == 10 and reply["files"] == 1
    assert (d / "f").read_bytes() == b"0" * 40 + b"y" * 10 + b"0" * 50
