"""The ledger: a durable record of everything a run creates, so that `harness cleanup` can undo it.

Owns the ledger files (one JSONL file per run under the state directory, created when the run first records
something, never shared: a second ledger of the same run id is refused), the `undoer` and `sweeper` registries
and `cleanup`. Modules that create resources (namespaces, bridges, containers, iptables chains, qdiscs, daemons,
skewed clocks, paused processes) call `ledger.record(kind, key, **data)` BEFORE creating a resource and
`ledger.release(kind, key)` after removing it, and register an undo function for each kind with
`@undoer("kind")` at import time. Does not know any resource kind itself.

Because every record is flushed and fsynced before the resource exists, a `kill -9` of the harness at any moment
leaves a ledger that names everything that may exist; undo functions are idempotent, so undoing something that
was never created is harmless. A module that keeps state outside the ledgers (the local provider's subnet
reservations) registers a `@sweeper` that `cleanup` calls to remove what ended processes left there.

Who owns a ledger: the run that writes it holds an exclusive `flock` on its file from before the file has its
name until it closes the ledger (the kernel drops the lock when the process dies, kill -9 included, so pid reuse
cannot make a dead run look alive). `cleanup` undoes a ledger only once it holds that lock itself, without
waiting: a live run's ledger (and one another cleanup is undoing at that moment) is skipped whole, its faults,
rules, daemons and namespaces untouched. Ledgers written before the lock existed (no `"lock"` in their open line)
are judged by their owner's pid, as then.

The state directory is `$HARNESS_STATE_DIR`, else `/var/lib/harness` for root, else `~/.local/state/harness`.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ClusterError

UndoFn = Callable[["LedgerEntry"], None]
SweepFn = Callable[[Callable[[str], None]], list[str]]
_UNDO: dict[str, UndoFn] = {}
_SWEEP: dict[str, SweepFn] = {}
# The ledgers open in this process, so that a forked child (the linearizability checker's workers) closes its copy
# of their descriptors: a flock belongs to the open file, and a child still holding it after a kill -9 of the
# harness would keep `harness cleanup` away until it ended.
_OPEN: weakref.WeakSet[Ledger] = weakref.WeakSet()


def _close_in_child() -> None:
    for led in list(_OPEN):
        if led._fd >= 0:
            os.close(led._fd)
            led._fd = -1


os.register_at_fork(after_in_child=_close_in_child)


def undoer(kind: str) -> Callable[[UndoFn], UndoFn]:
    """Register the function that removes resources of `kind` (idempotently) given their ledger entry."""

    def register(fn: UndoFn) -> UndoFn:
        _UNDO[kind] = fn
        return fn

    return register


def has_undoer(kind: str) -> bool:
    return kind in _UNDO


def sweeper(what: str) -> Callable[[SweepFn], SweepFn]:
    """Register a function that removes `what` the processes of ended runs left outside the ledgers; it takes
    the log function and returns problems."""

    def register(fn: SweepFn) -> SweepFn:
        _SWEEP[what] = fn
        return fn

    return register


def state_dir() -> str:
    env = os.environ.get("HARNESS_STATE_DIR")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/harness"
    return os.path.join(os.path.expanduser("~"), ".local", "state", "harness")


def ledger_dir() -> str:
    return os.path.join(state_dir(), "ledger")


@dataclass(frozen=True, kw_only=True)
class LedgerEntry:
    """One resource a run may have created: its kind (which undoer removes it), a key unique within the kind,
    and the data the undoer needs (node, namespace, container id, pid...)."""

    kind: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""


class Ledger:
    """The ledger of one run. Its file exists from the first `record` on (a run that fails validation leaves
    nothing); each record is one write call, under a lock. The file is flock-ed for as long as it is open (see
    the module docstring)."""

    def __init__(self, run_id: str, directory: str | None = None) -> None:
        self.run_id = run_id
        self.directory = directory or ledger_dir()
        self.path = os.path.join(self.directory, f"{run_id}.jsonl")
        self._fd = -1
        self._opened = False
        self._lock = threading.Lock()

    def _write(self, obj: dict[str, object]) -> None:
        with self._lock:
            if not self._opened:
                self._open()
            os.write(self._fd, (json.dumps(obj, separators=(",", ":")) + "\n").encode())
            os.fsync(self._fd)

    def _open(self) -> None:
        """Create the file under a private name, lock it and write its open line, then give it its name: a
        cleanup never sees a ledger that is not yet locked (it would take it for an ended run's)."""
        os.makedirs(self.directory, exist_ok=True)
        opening = os.path.join(self.directory, f".{self.run_id}.{os.getpid()}.opening")
        fd = os.open(opening, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            line = {"op": "open", "run_id": self.run_id, "pid": os.getpid(), "t": time.time(), "lock": True}
            os.write(fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
            try:
                os.link(opening, self.path)  # fails if the name exists: two runs never share a ledger
            except FileExistsError:
                os.close(fd)
                raise ClusterError(f"a ledger of run {self.run_id} already exists ({self.path}): two runs never "
                                   "share one") from None
        finally:
            os.unlink(opening)
        self._fd = fd
        self._opened = True
        _OPEN.add(self)

    def record(self, kind: str, key: str, **data: object) -> None:
        """Note a resource BEFORE creating it."""
        self._write({"op": "record", "kind": kind, "key": key, "data": data})

    def release(self, kind: str, key: str) -> None:
        """Note that a resource is gone."""
        self._write({"op": "release", "kind": kind, "key": key})

    def outstanding(self) -> list[LedgerEntry]:
        return outstanding_entries(self.path) if self._opened else []

    def close(self, *, remove_if_empty: bool = True) -> None:
        if self._fd < 0:
            return
        if remove_if_empty and not outstanding_entries(self.path):
            try:
                os.unlink(self.path)  # still under our lock: no cleanup is reading it
            except FileNotFoundError:
                pass
        os.close(self._fd)  # releases the lock: what is left is for `harness cleanup`
        self._fd = -1


def _read(path: str) -> Iterator[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line of a killed harness
    except FileNotFoundError:
        return


def _header(path: str) -> dict[str, Any]:
    for obj in _read(path):
        return obj if obj.get("op") == "open" else {}
    return {}


def outstanding_entries(path: str) -> list[LedgerEntry]:
    """Entries recorded and not released, oldest first."""
    live: dict[tuple[str, str], LedgerEntry] = {}
    run_id = os.path.basename(path).removesuffix(".jsonl")
    for obj in _read(path):
        op = obj.get("op")
        if op == "record":
            key = (obj["kind"], obj["key"])
            live.pop(key, None)
            live[key] = LedgerEntry(kind=obj["kind"], key=obj["key"], data=obj.get("data", {}), run_id=run_id)
        elif op == "release":
            live.pop((obj["kind"], obj["key"]), None)
    return list(live.values())


def pid_alive(pid: int) -> bool:
    """Whether process `pid` runs on this host (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:  # reaped since os.kill looked
        return False
    except OSError:
        return True


def undo_entries(entries: list[LedgerEntry], log: Callable[[str], None]) -> list[str]:
    """Undo entries newest first. Returns problems (kind/key and why) for entries that could not be undone."""
    problems: list[str] = []
    for e in reversed(entries):
        fn = _UNDO.get(e.kind)
        if fn is None:
            problems.append(f"{e.kind} {e.key}: no undo function registered for this kind")
            continue
        try:
            fn(e)
            log(f"removed {e.kind} {e.key}")
        except Exception as ex:  # noqa: BLE001 - report every residue, keep undoing the rest
            problems.append(f"{e.kind} {e.key}: {type(ex).__name__}: {ex}")
    return problems


@dataclass(frozen=True, kw_only=True)
class CleanupReport:
    """What `cleanup` scanned and did: the ledger directory, the ledgers of ended runs it undid, those of runs
    still running it skipped (their pids), how many resources it removed, and what it could not remove."""

    directory: str
    undone: tuple[str, ...] = ()  # run ids
    skipped: tuple[tuple[str, int], ...] = ()  # (run id, pid)
    removed: int = 0
    problems: tuple[str, ...] = ()

    def describe(self) -> str:
        found = f"{len(self.undone)} ledger(s) of ended runs" if self.undone else "no ledger of an ended run"
        text = f"scanned {self.directory}: {found}, {self.removed} resource(s) removed"
        if self.skipped:
            text += "; skipped the ledgers of running harnesses: " + ", ".join(f"{r} (pid {p})" for r, p in self.skipped)
        return text


class _Claim:
    """Cleanup's hold on one ledger file: its own descriptor, flock-ed without waiting. `held` is False when the
    lock is someone else's (a live run, or another cleanup at work on it); `gone` when the file vanished (another
    cleanup finished it) before or while it was locked."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.held = self.gone = False
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            self._fd, self.gone = -1, True
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        self.held = True
        try:  # the name may have been unlinked (and even reused) between our open and our lock
            self.gone = os.stat(path).st_ino != os.fstat(self._fd).st_ino
        except FileNotFoundError:
            self.gone = True

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _owner_running(path: str, claim: _Claim) -> int | None:
    """The pid of the live run that owns the ledger, or None when it has ended. A locking ledger's owner runs
    while it holds the lock (a pid alone may be reused); an older ledger's while its pid does."""
    header = _header(path)
    pid = int(header.get("pid", 0)) or None
    if header.get("lock"):
        return None if claim.held else (pid or 0)
    if not claim.held:  # an older ledger another cleanup is undoing right now
        return pid or 0
    return pid if pid is not None and pid != os.getpid() and pid_alive(pid) else None


def cleanup(log: Callable[[str], None], *, force: bool = False, directory: str | None = None) -> CleanupReport:
    """Undo every outstanding entry of every ledger whose harness is no longer running (or all, with force),
    then run the sweepers. Ledger files fully undone are removed."""
    d = directory or ledger_dir()
    problems: list[str] = []
    undone: list[str] = []
    skipped: list[tuple[str, int]] = []
    removed = 0
    names = sorted(n for n in os.listdir(d) if n.endswith(".jsonl") and not n.startswith(".")) \
        if os.path.isdir(d) else []
    for name in names:
        path = os.path.join(d, name)
        claim = _Claim(path)
        try:
            if claim.gone:
                continue
            owner = _owner_running(path, claim)
            if owner is not None and not force:
                why = f"its harness (pid {owner}) is still running" if owner and pid_alive(owner) else \
                    "another process holds its lock (a cleanup at work on it)"
                log(f"skipping {name}: {why}; use --force to clean it anyway")
                skipped.append((name.removesuffix(".jsonl"), owner))
                continue
            entries = outstanding_entries(path)
            failed = undo_entries(entries, log)
            problems.extend(failed)
            removed += len(entries) - len(failed)
            undone.append(name.removesuffix(".jsonl"))
            if not failed:
                try:
                    os.unlink(path)  # under the lock (unless forced): no other cleanup undoes it again
                except FileNotFoundError:
                    pass
        finally:
            claim.release()
    _remove_stale_openings(d)
    problems += _sweep(log)
    return CleanupReport(directory=d, undone=tuple(undone), skipped=tuple(skipped), removed=removed,
                         problems=tuple(problems))


def _remove_stale_openings(d: str) -> None:
    """A ledger file a killed run had created and locked but not yet named holds nothing it created."""
    for name in os.listdir(d) if os.path.isdir(d) else []:
        if name.startswith(".") and name.endswith(".opening"):
            claim = _Claim(os.path.join(d, name))
            try:
                if claim.held and not claim.gone:
                    os.unlink(claim.path)
            finally:
                claim.release()


def _sweep(log: Callable[[str], None]) -> list[str]:
    problems: list[str] = []
    for what, sweep in sorted(_SWEEP.items()):
        try:
            problems.extend(sweep(log))
        except Exception as e:  # noqa: BLE001 - report it, keep going
            problems.append(f"{what}: {type(e).__name__}: {e}")
    return problems
