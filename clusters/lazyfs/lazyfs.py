#!/usr/bin/env python3
"""lazyfs: a FUSE filesystem that loses what was not fsynced, on command ("power loss").

A standalone program that runs on a node (stdlib and a FUSE binding only: mfusepy, or Debian's python3-fusepy).
It mounts a backing directory at a mount point and passes everything through, except that durability is
delayed the way a disk's is:

- file data (writes, truncates, extensions) stays in this process's memory until the file is fsynced
  (fsync or fdatasync, or the file was opened with O_SYNC/O_DSYNC), then goes to the backing file, which is
  fsynced; reads always see the newest data;
- creates, unlinks, renames, mkdir, rmdir, links and symlinks are applied to the backing directory at once
  but kept in an undo log, and become durable only when every directory they touch is fsynced (fsyncdir):
  stricter than LazyFS, which makes them durable at once;
- `power-loss` drops every un-fsynced byte and undoes every namespace change not yet made durable;
  `torn-write` does the same but first persists half of the last un-fsynced write of each file.

Not modelled (documented in docs/power-loss.md): sync_file_range (a FUSE filesystem never sees it, so data
flushed only that way counts as lost), the kernel's own caches (mounted without writeback cache or keep_cache and
with zero attribute timeouts, so the kernel does not serve dropped data after the writer restarts), and
metadata such as mode, owner and times (applied at once and kept).

Usage:
    lazyfs.py mount BACKING MOUNTPOINT --control SOCKET     (stays in the foreground; run it as a daemon)
    lazyfs.py ctl SOCKET COMMAND                            (power-loss | torn-write | sync | stats | ping)
Each ctl command prints one JSON object. Never imported by the harness: nemeses talk to it through `ctl`.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

PAGE = 4096
_SYNC_FLAGS = os.O_SYNC | getattr(os, "O_DSYNC", 0)


@dataclass
class Dirty:
    """The un-fsynced state of one file (by inode): whole pages written since the last sync, the logical size,
    and `floor`, the smallest size since the last sync (backing bytes at or past it are no longer visible)."""

    size: int
    floor: int
    pages: dict[int, bytearray] = field(default_factory=dict)
    last_write: tuple[int, bytes] | None = None
    written: int = 0  # bytes written since the last sync (a truncate makes the file dirty, writes no bytes)


@dataclass
class Undo:
    """A namespace change not yet durable: how to undo it, and the directories still to be fsynced."""

    kind: str  # created | trashed | renamed | made-dir | removed-dir
    path: str
    other: str = ""  # renamed: the old path; trashed: the trash file
    trashed: str = ""  # renamed over an existing file: where that file went
    mode: int = 0
    owner: tuple[int, int] = (0, 0)
    dirs: set[str] = field(default_factory=set)


class LazyCore:
    """The filesystem's logic on a backing directory, without FUSE (paths are relative to the mount root, with
    a leading "/"). Thread-safe: one lock around every operation."""

    def __init__(self, backing: str, trash: str) -> None:
        self.backing = os.path.realpath(backing)
        self.trash = trash
        os.makedirs(trash, exist_ok=True)
        self.lock = threading.RLock()
        self.dirty: dict[int, Dirty] = {}
        self.undo: list[Undo] = []
        self.fds: dict[int, tuple[int, int]] = {}  # fh -> (backing fd, open flags)
        self.ino_path: dict[int, str] = {}  # last known path of an inode with un-fsynced data

    # paths ----------------------------------------------------------------------------------------------
    def real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    @staticmethod
    def parent(path: str) -> str:
        return os.path.dirname(path.rstrip("/")) or "/"

    def _trash_name(self) -> str:
        return os.path.join(self.trash, uuid.uuid4().hex)

    # data -----------------------------------------------------------------------------------------------
    def _state(self, fd: int) -> Dirty:
        st = os.fstat(fd)
        d = self.dirty.get(st.st_ino)
        if d is None:
            d = self.dirty[st.st_ino] = Dirty(size=st.st_size, floor=st.st_size)
        return d

    def _visible(self, fd: int, d: Dirty, offset: int, size: int) -> bytearray:
        """What the file holds at [offset, offset+size) (clipped to its size), pages not yet merged."""
        size = max(0, min(size, d.size - offset))
        if size == 0:
            return bytearray()
        out = bytearray(size)
        if offset < d.floor:
            data = os.pread(fd, min(size, d.floor - offset), offset)
            out[:len(data)] = data
        return out

    def read(self, fh: int, size: int, offset: int) -> bytes:
        with self.lock:
            fd, _ = self.fds[fh]
            d = self.dirty.get(os.fstat(fd).st_ino)
            if d is None:
                return os.pread(fd, size, offset)
            out = self._visible(fd, d, offset, size)
            end = offset + len(out)
            for p in range(offset // PAGE, (end + PAGE - 1) // PAGE):
                page = d.pages.get(p)
                if page is None:
                    continue
                lo, hi = max(offset, p * PAGE), min(end, (p + 1) * PAGE)
                out[lo - offset:hi - offset] = page[lo - p * PAGE:hi - p * PAGE]
            return bytes(out)

    def write(self, fh: int, data: bytes, offset: int) -> int:
        with self.lock:
            fd, flags = self.fds[fh]
            if flags & os.O_APPEND:
                offset = self._state(fd).size
            d = self._state(fd)
            end = offset + len(data)
            for p in range(offset // PAGE, (end + PAGE - 1) // PAGE):
                page = d.pages.get(p)
                if page is None:
                    page = self._visible(fd, d, p * PAGE, PAGE)
                    page.extend(bytes(PAGE - len(page)))
                    d.pages[p] = page
                lo, hi = max(offset, p * PAGE), min(end, (p + 1) * PAGE)
                page[lo - p * PAGE:hi - p * PAGE] = data[lo - offset:hi - offset]
            d.size = max(d.size, end)
            d.last_write = (offset, bytes(data))
            d.written += len(data)
            if flags & _SYNC_FLAGS:
                self._sync(fd)
            return len(data)

    def truncate(self, fd: int, length: int) -> None:
        with self.lock:
            d = self._state(fd)
            if length < d.size:
                d.floor = min(d.floor, length)
                for p in [p for p in d.pages if p * PAGE >= length]:
                    del d.pages[p]
                tail = d.pages.get(length // PAGE)
                if tail is not None:
                    cut = length - (length // PAGE) * PAGE
                    tail[cut:] = bytes(PAGE - cut)
            d.size = length

    def _sync(self, fd: int) -> None:
        """Make the file's data durable: the backing file gets the visible content, then fsync."""
        ino = os.fstat(fd).st_ino
        d = self.dirty.pop(ino, None)
        if d is not None:
            os.ftruncate(fd, d.floor)
            for p, page in sorted(d.pages.items()):
                chunk = page[:max(0, min(PAGE, d.size - p * PAGE))]
                if chunk:
                    os.pwrite(fd, chunk, p * PAGE)
            os.ftruncate(fd, d.size)
        os.fsync(fd)

    def fsync(self, fh: int) -> None:
        with self.lock:
            self._sync(self.fds[fh][0])

    def size_of(self, st: os.stat_result) -> int:
        d = self.dirty.get(st.st_ino)
        return d.size if d is not None else st.st_size

    # open files -----------------------------------------------------------------------------------------
    def open(self, path: str, flags: int, mode: int = 0o644, owner: tuple[int, int] | None = None) -> int:
        with self.lock:
            real = self.real(path)
            created = bool(flags & os.O_CREAT) and not os.path.lexists(real)
            # the backing file is opened read-write whatever the caller asked (we write it on fsync; the kernel
            # already checked the caller's permissions), without O_TRUNC/O_APPEND/O_DIRECT/O_SYNC: we do those
            keep = os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(real, (flags & keep) | os.O_RDWR | os.O_CLOEXEC, mode)
            if created:
                if owner is not None:
                    os.fchown(fd, *owner)
                self.undo.append(Undo(kind="created", path=path, dirs={self.parent(path)}))
            fh = fd
            self.fds[fh] = (fd, flags)
            self.ino_path[os.fstat(fd).st_ino] = path
            if flags & os.O_TRUNC:
                self.truncate(fd, 0)
            return fh

    def release(self, fh: int) -> None:
        with self.lock:
            entry = self.fds.pop(fh, None)
            if entry is not None:
                os.close(entry[0])

    # namespace ------------------------------------------------------------------------------------------
    def unlink(self, path: str) -> None:
        with self.lock:
            t = self._trash_name()
            os.rename(self.real(path), t)
            self.undo.append(Undo(kind="trashed", path=path, other=t, dirs={self.parent(path)}))

    def rename(self, old: str, new: str) -> None:
        with self.lock:
            real_new = self.real(new)
            trashed = ""
            if os.path.lexists(real_new) and not os.path.isdir(real_new):
                trashed = self._trash_name()
                os.rename(real_new, trashed)
            try:
                os.rename(self.real(old), real_new)
            except OSError:
                if trashed:
                    os.rename(trashed, real_new)
                raise
            self.undo.append(Undo(kind="renamed", path=new, other=old, trashed=trashed,
                                  dirs={self.parent(old), self.parent(new)}))

    def mkdir(self, path: str, mode: int, owner: tuple[int, int]) -> None:
        with self.lock:
            os.mkdir(self.real(path), mode)
            os.chown(self.real(path), *owner)
            self.undo.append(Undo(kind="made-dir", path=path, dirs={self.parent(path)}))

    def rmdir(self, path: str) -> None:
        with self.lock:
            st = os.lstat(self.real(path))
            os.rmdir(self.real(path))
            self.undo.append(Undo(kind="removed-dir", path=path, mode=stat.S_IMODE(st.st_mode),
                                  owner=(st.st_uid, st.st_gid), dirs={self.parent(path)}))

    def link_like(self, path: str, make: Callable[[], object]) -> None:
        """A new name made by `make()` (symlink, hard link, mknod): undone by removing the name."""
        with self.lock:
            make()
            self.undo.append(Undo(kind="created", path=path, dirs={self.parent(path)}))

    def fsyncdir(self, path: str) -> None:
        with self.lock:
            fd = os.open(self.real(path), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            keep = []
            for u in self.undo:
                u.dirs.discard(path)
                if u.dirs:
                    keep.append(u)
                else:
                    self._forget(u)
            self.undo = keep

    def _forget(self, u: Undo) -> None:
        """A change became durable: what it moved to the trash is gone for good (and so is any un-fsynced
        data of it, whose inode number the filesystem may now give to a new file)."""
        for t in (u.other if u.kind == "trashed" else "", u.trashed):
            if t:
                try:
                    self.dirty.pop(os.lstat(t).st_ino, None)
                except OSError:
                    pass
                _remove(t)

    # power ----------------------------------------------------------------------------------------------
    def power_loss(self, torn: bool = False) -> dict[str, int]:
        """Drop un-fsynced data and undo non-durable namespace changes; with `torn`, first persist half of the
        last un-fsynced write of each file. Returns what was dropped."""
        with self.lock:
            torn_bytes = self._tear() if torn else 0
            report = {"files": len(self.dirty), "bytes": sum(d.written for d in self.dirty.values()),
                      "namespace_ops": len(self.undo), "torn_bytes": torn_bytes}
            self.dirty.clear()
            for u in reversed(self.undo):
                self._undo(u)
            self.undo = []
            return report

    def _tear(self) -> int:
        n = 0
        for ino, d in self.dirty.items():
            path = self.ino_path.get(ino)
            if d.last_write is None or path is None or not os.path.exists(self.real(path)):
                continue
            off, data = d.last_write
            half = data[:max(1, len(data) // 2)]
            fd = os.open(self.real(path), os.O_WRONLY)
            try:
                if os.fstat(fd).st_ino == ino:
                    os.pwrite(fd, half, off)
                    os.fsync(fd)
                    n += len(half)
            finally:
                os.close(fd)
        return n

    def _undo(self, u: Undo) -> None:
        real = self.real(u.path)
        try:
            if u.kind == "created":
                _remove(real)
            elif u.kind == "trashed":
                os.rename(u.other, real)
            elif u.kind == "renamed":
                os.rename(real, self.real(u.other))
                if u.trashed:
                    os.rename(u.trashed, real)
            elif u.kind == "made-dir":
                _remove(real)
            elif u.kind == "removed-dir":
                os.mkdir(real, u.mode)
                os.chown(real, *u.owner)
        except OSError as e:  # undo as much as possible; report the rest on stderr (the daemon's log)
            print(f"lazyfs: could not undo {u.kind} {u.path}: {e}", file=sys.stderr, flush=True)

    def sync_all(self) -> dict[str, int]:
        """Make everything durable (before a clean unmount)."""
        with self.lock:
            n = len(self.dirty)
            for ino in list(self.dirty):
                path = self.ino_path.get(ino)
                if path is None:
                    continue
                try:
                    fd = os.open(self.real(path), os.O_RDWR)
                except OSError:
                    continue
                try:
                    if os.fstat(fd).st_ino == ino:
                        self._sync(fd)
                finally:
                    os.close(fd)
            for u in self.undo:
                self._forget(u)
            self.undo = []
            return {"files": n}

    def stats(self) -> dict[str, int]:
        with self.lock:
            return {"dirty_files": len(self.dirty), "dirty_bytes": sum(d.written for d in self.dirty.values()),
                    "pending_namespace_ops": len(self.undo), "open_files": len(self.fds)}


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        for name in os.listdir(path):
            _remove(os.path.join(path, name))
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)


# ------------------------------------------------------------------------------------------------- FUSE
def _fuse() -> ModuleType:
    """The FUSE binding: mfusepy (PyPI), or fusepy (PyPI `fuse`, Debian's python3-fusepy names it `fusepy`)."""
    import importlib  # noqa: PLC0415 - imported only when a filesystem is mounted

    for name in ("mfusepy", "fusepy", "fuse"):
        try:
            return importlib.import_module(name)
        except (ImportError, OSError):
            continue
    raise SystemExit("lazyfs: no FUSE binding (pip install mfusepy, or apt-get install python3-fusepy)")


def operations(core: LazyCore, fuse):  # type: ignore[no-untyped-def]  # fuse: the untyped binding, our base class
    """The FUSE operations over `core`."""

    def oserror(fn):
        def wrapped(*a):
            try:
                return fn(*a)
            except OSError as e:
                raise fuse.FuseOSError(e.errno or errno.EIO) from None
        return wrapped

    def owner() -> tuple[int, int]:
        uid, gid, _pid = fuse.fuse_get_context()
        return uid, gid

    class Lazy(fuse.Operations):
        use_ns = True

        @oserror
        def getattr(self, path, fh=None):
            st = os.fstat(core.fds[fh][0]) if fh is not None and fh in core.fds else os.lstat(core.real(path))
            with core.lock:
                size = core.size_of(st)
            keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_ino", "st_dev", "st_blocks", "st_blksize")
            out = {k: getattr(st, k) for k in keys}
            out.update(st_size=size, st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
            return out

        @oserror
        def readdir(self, path, fh):
            return [".", "..", *os.listdir(core.real(path))]

        @oserror
        def readlink(self, path):
            return os.readlink(core.real(path))

        @oserror
        def access(self, path, amode):
            if not os.path.lexists(core.real(path)):
                raise OSError(errno.ENOENT, path)
            return 0

        @oserror
        def statfs(self, path):
            sv = os.statvfs(core.real(path))
            keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag",
                    "f_frsize", "f_namemax")
            return {k: getattr(sv, k) for k in keys}

        @oserror
        def chmod(self, path, mode):
            os.chmod(core.real(path), mode)
            return 0

        @oserror
        def chown(self, path, uid, gid):
            os.lchown(core.real(path), uid, gid)
            return 0

        @oserror
        def utimens(self, path, times=None):
            os.utime(core.real(path), ns=times) if times else os.utime(core.real(path))
            return 0

        @oserror
        def open(self, path, flags):
            return core.open(path, flags)

        @oserror
        def create(self, path, mode, fi=None):
            flags = fi if isinstance(fi, int) else os.O_CREAT | os.O_WRONLY | os.O_TRUNC
            return core.open(path, flags | os.O_CREAT, mode, owner())

        @oserror
        def read(self, path, size, offset, fh):
            return core.read(fh, size, offset)

        @oserror
        def write(self, path, data, offset, fh):
            return core.write(fh, data, offset)

        @oserror
        def truncate(self, path, length, fh=None):
            if fh is not None and fh in core.fds:
                core.truncate(core.fds[fh][0], length)
                return 0
            fd = os.open(core.real(path), os.O_RDWR)
            try:
                core.truncate(fd, length)
            finally:
                os.close(fd)
            return 0

        @oserror
        def fsync(self, path, datasync, fh):
            core.fsync(fh)
            return 0

        @oserror
        def fsyncdir(self, path, datasync, fh):
            core.fsyncdir(path)
            return 0

        def flush(self, path, fh):
            return 0

        @oserror
        def release(self, path, fh):
            core.release(fh)
            return 0

        @oserror
        def unlink(self, path):
            core.unlink(path)
            return 0

        @oserror
        def rename(self, old, new):
            core.rename(old, new)
            return 0

        @oserror
        def mkdir(self, path, mode):
            core.mkdir(path, mode, owner())
            return 0

        @oserror
        def rmdir(self, path):
            core.rmdir(path)
            return 0

        @oserror
        def symlink(self, target, source):
            real = core.real(target)

            def make() -> None:
                os.symlink(source, real)
                os.lchown(real, *owner())

            core.link_like(target, make)
            return 0

        @oserror
        def link(self, target, source):
            core.link_like(target, lambda: os.link(core.real(source), core.real(target)))
            return 0

    return Lazy()


def _serve_control(core: LazyCore, sock_path: str) -> None:
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    os.chmod(sock_path, 0o600)
    srv.listen(4)
    commands = {
        "power-loss": lambda: core.power_loss(),
        "torn-write": lambda: core.power_loss(torn=True),
        "sync": core.sync_all,
        "stats": core.stats,
        "ping": lambda: {"pid": os.getpid()},
    }

    def loop() -> None:
        while True:
            conn, _ = srv.accept()
            with conn:
                cmd = conn.recv(256).decode(errors="replace").strip()
                fn = commands.get(cmd)
                try:
                    reply = {"ok": True, **fn()} if fn else {"ok": False, "error": f"unknown command {cmd!r}"}
                except Exception as e:  # noqa: BLE001 - the reply carries the failure to the nemesis
                    reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                conn.sendall((json.dumps(reply) + "\n").encode())

    threading.Thread(target=loop, name="lazyfs-control", daemon=True).start()


def ctl(sock_path: str, command: str) -> int:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(60)
    try:
        s.connect(sock_path)
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        print(json.dumps({"ok": False, "error": f"no lazyfs at {sock_path}: {e}"}))
        return 2
    finally:
        s.close()
    print(data.decode().strip())
    return 0 if json.loads(data or b"{}").get("ok") else 1


def mount(backing: str, mountpoint: str, control: str) -> None:
    fuse = _fuse()
    core = LazyCore(backing, backing.rstrip("/") + ".lazyfs-trash")
    _serve_control(core, control)
    fuse.FUSE(operations(core, fuse), mountpoint, foreground=True, allow_other=True, default_permissions=True,
              attr_timeout=0, entry_timeout=0, negative_timeout=0, fsname="lazyfs")


def main(argv: list[str]) -> int:
    if len(argv) >= 5 and argv[1] == "mount" and argv[4] == "--control" and len(argv) == 6:
        mount(argv[2], argv[3], argv[5])
        return 0
    if len(argv) == 4 and argv[1] == "ctl":
        return ctl(argv[2], argv[3])
    print(__doc__.split("Usage:")[1].split("Each ctl")[0].rstrip(), file=sys.stderr)
    return 254


if __name__ == "__main__":
    sys.exit(main(sys.argv))
