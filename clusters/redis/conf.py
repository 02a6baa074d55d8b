"""The configuration files of Redis and Sentinel on a node, and the check of the user's `conf.KEY=VALUE`.

Owns `redis_conf` and `sentinel_conf` (the text of each file), and `check_directives` (BadInput for a directive this
redis-server refuses); its files reach the node through `harness.control.write_private`. Does not start anything (see `clusters.redis.db`).

What every node gets:
- redis-server listens on the node's cluster address only (`bind`, protected mode on), takes clients with the
  run's password (`requirepass`) and uses it towards its primary (`masterauth`); data in `<workdir>/data`:
  append-only file fsynced every second (Redis's usual durable setting), RDB snapshots off (a fork per
  snapshot only costs time in a 60 s run). Replicas start with `replicaof <first node>`.
- Sentinel listens on the node's cluster address only, requires the run's password from clients and other
  Sentinels (`requirepass`, `sentinel sentinel-pass`), monitors the primary as the master named `harness` with
  quorum a majority of the nodes, authenticates to Redis with `sentinel auth-pass`, and takes the run's
  down-after-milliseconds and failover-timeout. Sentinel rewrites its file as it learns (replicas, other
  Sentinels, new epochs), so it lives in the node's `conf/` directory (mode 0700, as does redis.conf, which
  Sentinel has rewritten after a failover), writable, and is written afresh at every setup.
The user's conf.KEY=VALUE lines come last in redis.conf: for a directive that takes one value, Redis keeps the
last one, so the user's setting wins over the harness's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from harness.control import Remote
from harness.errors import BadInput, ClusterError

PORT = 6379
SENTINEL_PORT = 26379
MASTER = "harness"  # the name the Sentinels monitor the primary under

# A directive no Redis has: appended to the command line of a configuration check, it makes redis-server stop
# with "Bad directive" at the end of the configuration, so the check never starts a server. If the user's
# directives are wrong, redis-server stops at theirs first (it reads the file, then the command line, in order).
_END_MARK = "harness-end-of-configuration"
_ERROR_LINE = re.compile(r"^>>> '(.*)'\s*$")


def _value(v: str) -> str:
    """A configuration value as Redis reads it: quoted when it holds spaces or quotes."""
    if v and re.fullmatch(r"[A-Za-z0-9._:/,+@=-]+", v):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def redis_conf(*, host: str, data_dir: str, password: str, primary_host: str | None,
               user_conf: Mapping[str, str]) -> str:
    """redis.conf of a node; `primary_host` None for the primary, else the address it replicates from."""
    lines = [
        "# written by the harness for one run: the cluster address only, the run's password",
        f"bind {host}",
        "protected-mode yes",
        f"port {PORT}",
        f"requirepass {password}",
        f"masterauth {password}",
        f"dir {data_dir}",
        "appendonly yes",
        "appendfsync everysec",
        'save ""',
        "daemonize no",
        'logfile ""',
        "set-proc-title no",  # keep argv as started: harness cleanup recognises the daemon by its command line
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ]
    if primary_host is not None:
        lines.append(f"replicaof {primary_host} {PORT}")
    lines += [f"{k} {_value(v)}" for k, v in sorted(user_conf.items())]
    return "\n".join(lines) + "\n"


def sentinel_conf(*, host: str, conf_dir: str, password: str, primary_host: str, quorum: int,
                  down_after_ms: int, failover_timeout_ms: int) -> str:
    """sentinel.conf of a node, watching the primary at `primary_host` as the master `harness`."""
    return "\n".join([
        "# written by the harness for one run; Sentinel rewrites this file as it learns the cluster",
        f"bind {host}",
        "protected-mode yes",
        f"port {SENTINEL_PORT}",
        f"dir {conf_dir}",
        'logfile ""',
        "daemonize no",
        "set-proc-title no",
        f"requirepass {password}",
        f"sentinel sentinel-pass {password}",
        f"sentinel monitor {MASTER} {primary_host} {PORT} {quorum}",
        f"sentinel auth-pass {MASTER} {password}",
        f"sentinel down-after-milliseconds {MASTER} {down_after_ms}",
        f"sentinel failover-timeout {MASTER} {failover_timeout_ms}",
        f"sentinel parallel-syncs {MASTER} 1",
    ]) + "\n"


def check_directives(remote: Remote, binary: str, conf_path: str, user_conf: Mapping[str, str]) -> None:
    """Let redis-server read `conf_path` and stop at the end mark; BadInput naming the first of the user's
    directives it refuses (unknown directive or bad value), ClusterError if it refuses one of ours."""
    r = remote.run([binary, conf_path, f"--{_END_MARK}", "yes"], timeout=20, check=False)
    out = r.stdout + r.stderr
    if r.exit_code is None:
        raise ClusterError(f"redis-server on {remote.node} did not stop at the end of its configuration check")
    lines = out.splitlines()
    bad = next((m.group(1) for line in lines if (m := _ERROR_LINE.match(line))), None)
    if bad is not None and bad.startswith(_END_MARK):
        return
    why = lines[lines.index(f">>> '{bad}'") + 1].strip() if bad is not None and f">>> '{bad}'" in lines else ""
    key = (bad or "").split(" ", 1)[0]
    if key in user_conf:
        raise BadInput(f"redis-server on {remote.node} refuses conf.{key}={user_conf[key]}: {why or out.strip()}")
    raise ClusterError(f"redis-server on {remote.node} refuses its configuration: "
                       f"{bad or ''} {why or ' | '.join(lines[-3:])}".strip())


def quorum(nodes: Sequence[str]) -> int:
    """A majority of the nodes: the Sentinels that must agree a primary is down."""
    return len(nodes) // 2 + 1
