"""Daemons on nodes: start a long-running process through a Remote so that it outlives the command that
started it, find it again by its pid file, signal it, stop it.

Owns `start_daemon`, `signal_daemon`, `stop_daemon`, `daemon_pids` and the ledger kind "daemon". Works through
any `Remote` with a POSIX shell on the node (local namespaces, docker containers, ssh hosts): the process is
started with `setsid` (its own session, so it survives `ip netns exec`, `docker exec` or the ssh channel that
started it), stdio detached, its pid written to a pid file. A pid file's first line is the pid (so a daemon that
writes its own, like postgres's postmaster.pid, can be named too). `signal_tree` signals a daemon and its
children at once (postgres forks a backend per connection). Does not know any system; systems build argv.

When the Remote has a `locator` (a small dict saying how to reach the node again without the Remote: a local
namespace or an ssh host), `start_daemon` records the daemon in the ledger before starting it, so that
`harness cleanup` can kill it after a crash of the harness; `record_daemon` does the same for a process that
another daemon starts in its own session (Patroni's postmaster), which outlives its starter. Daemons inside
docker containers need no entry: removing the container ends them.
"""

from __future__ import annotations

import os
import shlex
import signal as _signal
import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.control import Remote
from harness.errors import ClusterError
from harness.ledger import LedgerEntry, undoer

# Liveness, the same in every script: the pid exists and is not a zombie. A SIGKILLed daemon stays a zombie until
# its parent reaps it; containers run with an init that does (clusters.docker), but a zombie must never count as
# a running daemon anyway (it would block a restart or look like a survivor of SIGKILL). A zombie reaped between
# `kill -0` and the read of its stat leaves no state to read: that is dead too, not alive (the race made a kill
# fail with "survived SIGKILL" about once in 20 runs in containers). /proc/<pid>/stat is cut after the last ") "
# so that a command name with spaces cannot shift the state field.
ALIVE_SH = r"""
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  _state=$(sed -e 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
  [ -n "$_state" ] && [ "$_state" != Z ]
}
"""

# argv[0] is the shell's $0; "$@" is the daemon's argv. The backgrounded subshell is not a process-group leader
# (no job control in a non-interactive sh), so `setsid` does not fork and the pid in $! is the daemon's own.
_START = ALIVE_SH + r"""
set -e
pidfile=$1 logfile=$2 cwd=$3; shift 3
mkdir -p "$cwd" "$(dirname "$pidfile")" "$(dirname "$logfile")"
if [ -s "$pidfile" ] && alive "$(head -n 1 "$pidfile")"; then
  echo "already running: pid $(head -n 1 "$pidfile")" >&2; exit 3  # (a zombie nobody reaped yet does not count)
fi
cd "$cwd"
setsid "$@" >>"$logfile" 2>&1 </dev/null &
echo $! >"$pidfile"
echo $!
"""

_PIDS = ALIVE_SH + r"""
pidfile=$1
[ -s "$pidfile" ] || exit 0
pid=$(head -n 1 "$pidfile")
if alive "$pid"; then echo "$pid"; fi
"""

# Stop: send sig, wait up to $3 seconds, then SIGKILL (also when a SIGSTOPped process ignores SIGTERM until
# continued: we send SIGCONT after SIGTERM). Removes the pid file once the process is gone.
_STOP = ALIVE_SH + r"""
pidfile=$1 sig=$2 wait=$3
[ -s "$pidfile" ] || exit 0
pid=$(head -n 1 "$pidfile")
if alive "$pid"; then
  kill -s "$sig" "$pid" 2>/dev/null || true
  [ "$sig" = KILL ] || kill -s CONT "$pid" 2>/dev/null || true
  i=0
  while alive "$pid" && [ "$i" -lt "$((wait * 10))" ]; do sleep 0.1; i=$((i + 1)); done
  if alive "$pid"; then kill -s KILL "$pid" 2>/dev/null || true; sleep 0.1; fi
  i=0
  while alive "$pid" && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if alive "$pid"; then
    state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
    echo "pid $pid survived SIGKILL (state $state, waiting in $(cat "/proc/$pid/wchan" 2>/dev/null))" >&2; exit 4
  fi
fi
rm -f "$pidfile"
"""


# Signal the daemon of $1 (a pid file) and every child it has, with $2. The daemon is stopped first so that it
# cannot fork a child we would miss; for KILL it is killed before its children so it cannot restart them; a
# zombie is not running (ALIVE_SH). /proc/<pid>/stat is cut after the last ") " so that a command name with
# spaces cannot shift the ppid field.
_SIGNAL_TREE = ALIVE_SH + r"""
pidfile=$1 sig=$2
[ -s "$pidfile" ] || exit 0
pid=$(head -n 1 "$pidfile")
alive "$pid" || exit 0
[ "$sig" = CONT ] || kill -s STOP "$pid" 2>/dev/null || true
kids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v P="$pid" '{ p = $1; sub(/^.*\) /, ""); if ($2 == P) print p }')
if [ "$sig" = CONT ]; then
  kill -s CONT $kids "$pid" 2>/dev/null || true
elif [ "$sig" = STOP ]; then
  [ -z "$kids" ] || kill -s STOP $kids 2>/dev/null || true
else
  kill -s "$sig" "$pid" 2>/dev/null || true
  [ -z "$kids" ] || kill -s "$sig" $kids 2>/dev/null || true
fi
echo $kids
"""


def _ledger_key(remote: Remote, pidfile: str) -> str:
    return f"{remote.node}:{pidfile}"


def record_daemon(remote: Remote, pidfile: str, program: str, ledger: Any) -> None:
    """Name the daemon of `pidfile` (whose command is `program`) in the ledger, so that `harness cleanup` kills it
    after a crash of the harness; nothing when there is no ledger or the Remote has no locator (docker)."""
    locator: Mapping[str, object] | None = getattr(remote, "locator", None)
    if ledger is not None and locator is not None:
        ledger.record("daemon", _ledger_key(remote, pidfile), pidfile=pidfile, program=program, **locator)


def start_daemon(
    remote: Remote,
    argv: Sequence[str],
    *,
    pidfile: str,
    logfile: str,
    env: Mapping[str, str] | None = None,
    cwd: str = "/",
    ledger: object = None,
    settle: float = 0.3,
) -> int:
    """Start `argv` on the node as a daemon and return its pid. Raises ClusterError (with the log's tail) if it
    is already running or exits within `settle` seconds. Records a "daemon" ledger entry first when `ledger` is
    given and the Remote has a locator."""
    record_daemon(remote, pidfile, os.path.basename(argv[0]), ledger)
    envs = [f"{k}={v}" for k, v in (env or {}).items()]
    cmd = ["sh", "-c", _START, "start-daemon", pidfile, logfile, cwd]
    cmd += (["env", *envs] if envs else []) + list(argv)
    r = remote.run(cmd, timeout=30, check=False)
    if r.exit_code != 0:
        raise ClusterError(f"on {remote.node}: could not start {argv[0]}: {r.stderr.strip() or r.exit_code}")
    pid = int(r.stdout.strip().splitlines()[-1])
    if settle > 0:
        time.sleep(settle)
        if not daemon_pids(remote, pidfile):
            tail = log_tail(remote, logfile)
            raise ClusterError(f"on {remote.node}: {argv[0]} exited right after start: {tail}")
    return pid


def daemon_pids(remote: Remote, pidfile: str) -> list[int]:
    """The pid of the daemon of `pidfile` if it is alive (a stopped process counts), else []."""
    r = remote.run(["sh", "-c", _PIDS, "daemon-pids", pidfile], timeout=30, check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def signal_daemon(remote: Remote, pidfile: str, sig: str) -> bool:
    """Send `sig` ("STOP", "CONT", "HUP", ...) to the daemon; False if it is not running."""
    pids = daemon_pids(remote, pidfile)
    for pid in pids:
        remote.run(["kill", "-s", sig, str(pid)], timeout=30, check=False)
    return bool(pids)


def stop_daemon(
    remote: Remote, pidfile: str, *, sig: str = "TERM", wait: int = 10, ledger: Any = None, release: bool = True
) -> None:
    """Stop the daemon: `sig`, up to `wait` seconds, then SIGKILL; idempotent. Raises ClusterError if the
    process survives. With `release` (default) its ledger entry is released: pass release=False for a kill
    that will be followed by a restart."""
    r = remote.run(["sh", "-c", _STOP, "stop-daemon", pidfile, sig, str(int(wait))], timeout=wait + 30, check=False)
    if r.exit_code != 0:
        raise ClusterError(f"on {remote.node}: could not stop the daemon of {pidfile}: {r.stderr.strip()}")
    if ledger is not None and release and getattr(remote, "locator", None) is not None:
        ledger.release("daemon", _ledger_key(remote, pidfile))


def signal_tree(remote: Remote, pidfile: str, sig: str) -> list[int]:
    """Send `sig` to the daemon of `pidfile` and to its children (the daemon first, stopped while its children
    are found); the children's pids, empty if it is not running."""
    r = remote.run(["sh", "-c", _SIGNAL_TREE, "signal-tree", pidfile, sig], timeout=30, check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


def log_tail(remote: Remote, logfile: str, lines: int = 3) -> str:
    r = remote.run(["tail", "-n", str(lines), logfile], timeout=30, check=False)
    return " | ".join(x.strip() for x in r.stdout.splitlines() if x.strip()) or "(empty log)"


# ---------------------------------------------------------------------------------------------------- undo
def _kill_local(pidfile: str, program: str) -> None:
    """Kill the daemon of a local-namespace node: it shares the host's pid namespace and filesystem. The pid
    is killed only if its command line still names the program (a recycled pid belongs to someone else)."""
    try:
        pid = int(open(pidfile).read().split("\n", 1)[0].strip())
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except (OSError, ValueError):
        cmdline = []
    if cmdline and program and not any(os.path.basename(a.decode(errors="replace")) == program for a in cmdline[:2]):
        return
    try:
        if cmdline:
            os.kill(pid, _signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        os.unlink(pidfile)
    except FileNotFoundError:
        pass


@undoer("daemon")
def _undo_daemon(entry: LedgerEntry) -> None:
    via = entry.data.get("via")
    pidfile = str(entry.data["pidfile"])
    if via == "netns":
        _kill_local(pidfile, str(entry.data.get("program", "")))
    elif via == "ssh":
        from clusters.ssh.remote import remote_from_locator

        remote = remote_from_locator(entry.data)
        try:
            stop_daemon(remote, pidfile, sig="KILL", wait=1)
        finally:
            remote.close()
    else:
        raise ClusterError(f"daemon entry {entry.key}: unknown locator {via!r}")


def shell_join(argv: Sequence[str]) -> str:
    return shlex.join(list(argv))
