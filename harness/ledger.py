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

The state directory is `$HARNESS_STATE_DIR`, else `/var/lib/harness` for root, else `~/.local/state/harness`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ClusterError

UndoFn = Callable[["LedgerEntry"], None]
SweepFn = Callable[[Callable[[str], None]], list[str]]
_UNDO: dict[str, UndoFn] = {}
_SWEEP: dict[str, SweepFn] = {}


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
    nothing); each record is one write call, under a lock."""

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
        os.makedirs(self.directory, exist_ok=True)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except FileExistsError:
            raise ClusterError(f"a ledger of run {self.run_id} already exists ({self.path}): two runs never "
                               "share one") from None
        self._opened = True
        line = {"op": "open", "run_id": self.run_id, "pid": os.getpid(), "t": time.time()}
        os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())

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
        os.close(self._fd)
        self._fd = -1
        if remove_if_empty and not outstanding_entries(self.path):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


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


def ledger_owner_pid(path: str) -> int | None:
    for obj in _read(path):
        if obj.get("op") == "open":
            return int(obj.get("pid", 0)) or None
    return None


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


def cleanup(log: Callable[[str], None], *, force: bool = False, directory: str | None = None) -> CleanupReport:
    """Undo every outstanding entry of every ledger whose harness is no longer running (or all, with force),
    then run the sweepers. Ledger files fully undone are removed."""
    d = directory or ledger_dir()
    problems: list[str] = []
    undone: list[str] = []
    skipped: list[tuple[str, int]] = []
    removed = 0
    names = sorted(n for n in os.listdir(d) if n.endswith(".jsonl")) if os.path.isdir(d) else []
    for name in names:
        path = os.path.join(d, name)
        owner = ledger_owner_pid(path)
        if not force and owner is not None and owner != os.getpid() and pid_alive(owner):
            log(f"skipping {name}: its harness (pid {owner}) is still running; use --force to clean it anyway")
            skipped.append((name.removesuffix(".jsonl"), owner))
            continue
        entries = outstanding_entries(path)
        failed = undo_entries(entries, log)
        problems.extend(failed)
        removed += len(entries) - len(failed)
        undone.append(name.removesuffix(".jsonl"))
        if not failed:
            os.unlink(path)
    for what, sweep in sorted(_SWEEP.items()):
        try:
            problems.extend(sweep(log))
        except Exception as e:  # noqa: BLE001 - report it, keep going
            problems.append(f"{what}: {type(e).__name__}: {e}")
    return CleanupReport(directory=d, undone=tuple(undone), skipped=tuple(skipped), removed=removed,
                         problems=tuple(problems))
