"""The Redis client of a worker: finds the primary, sends the op's commands there, maps the outcome.

Owns the discovery of the primary, the connections (one per Redis node the worker has talked to, redis-py,
never retried by redis-py itself) and the mapping of outcomes to ok / fail / info. What each op sends is
`clusters.redis.workloads`'.

Discovery (`discovery=` system option):
    sentinel  before every op the worker asks the Sentinels for the master, the Sentinel of its own node first
              (as a client living on that node would), the next one when a Sentinel does not answer or
              considers the master down. A client whose node is cut off from the others keeps hearing of the
              old primary from its own Sentinel: that is the failure mode under test, not a client bug.
    static    the worker asks once (its first op) and keeps talking to that node, whatever it becomes.
    standalone mode has no Sentinel: the one node is the primary.
Completions name the node the commands went to.

Outcomes (the completion's type; `Wire.effect_sent` says whether a command that may change data went out):
    ok     the server replied.
    fail   definitely did not happen: no Sentinel named a master (nothing sent); the connection could not be
           made or authenticated; the connection broke or timed out before a write went out (a MULTI whose
           EXEC was never sent is discarded by the server); an error reply by which Redis refuses a command
           before running it (READONLY from a demoted primary, NOREPLICAS under min-replicas-to-write,
           LOADING, MASTERDOWN, BUSY, MISCONF, OOM, EXECABORT, NOSCRIPT, NOAUTH, NOPERM); any failure of an
           op that only reads. A cas whose compare did not hold is `fail` marked `refused` (the system
           answered no).
    info   unknown: the connection broke or timed out after a write went out (the write may have been applied
           and its reply lost), or any other error reply to a write. Also, via the interpreter, a timeout.
Socket timeouts are a little below the op timeout, so the client classifies a stall itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from clusters.redis.conf import MASTER, PORT, SENTINEL_PORT
from clusters.redis.workloads import PERFORMERS, WORKLOADS, Mismatch, Performer, Wire
from harness.client import refused
from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

# Error codes by which Redis refuses a command before running it (a transaction or script: before any write).
REFUSED_BEFORE_RUNNING = ("READONLY", "NOREPLICAS", "LOADING", "MASTERDOWN", "BUSY", "MISCONF", "OOM",
                          "EXECABORT", "NOSCRIPT", "NOAUTH", "NOPERM")
_REFUSING_CLASSES: tuple[type[Exception], ...] = (
    redis.exceptions.ReadOnlyError, redis.exceptions.BusyLoadingError, redis.exceptions.ExecAbortError,
    redis.exceptions.NoScriptError, redis.exceptions.AuthenticationError, redis.exceptions.NoPermissionError,
    redis.exceptions.OutOfMemoryError,
)
SENTINEL_TIMEOUT = 0.5  # seconds a worker waits for one Sentinel before asking the next


class NoPrimary(Exception):
    """No Sentinel named a master it considers up (its message: what each Sentinel said)."""


def master_state(reply: object) -> dict[str, str]:
    """SENTINEL MASTER's reply (a flat [field, value, ...] list; a dict if redis-py parsed it) as strings."""
    if isinstance(reply, dict):
        return {_text(k): _text(v) for k, v in reply.items()}
    items = [_text(x) for x in reply] if isinstance(reply, (list, tuple)) else []
    return dict(zip(items[0::2], items[1::2]))


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _no_retry() -> Retry:
    return Retry(NoBackoff(), 0)


def refused_before_running(e: redis.ResponseError) -> bool:
    """Whether an error reply says Redis refused the command without running it."""
    return isinstance(e, _REFUSING_CLASSES) or str(e).split(" ", 1)[0].upper() in REFUSED_BEFORE_RUNNING


class RedisClient:
    """Unopened it is a factory; `open(test, node)` returns the client of a worker living on `node`."""

    def __init__(self, *, workload: str, mode: str, discovery: str, password: str, node: str | None = None) -> None:
        if workload not in WORKLOADS:
            raise BadInput(f"the redis client has no workload {workload!r} (it has: {', '.join(sorted(WORKLOADS))})")
        self.workload = workload
        self.perform: Performer = PERFORMERS[workload]
        self.mode = mode
        self.discovery = discovery
        self._password = password
        self.node = node
        self._sentinels: list[tuple[str, redis.Redis]] = []  # discovery order: the worker's own node's Sentinel first
        self._static: str | None = None  # discovery=static: the host asked once
        self._conns: dict[str, redis.Redis] = {}
        self._node_of: dict[str, str] = {}
        self._timeout = 4.0

    def open(self, test: Test, node: str) -> RedisClient:
        """No connection yet (a node may be down under a nemesis): the first op finds the primary."""
        c = RedisClient(workload=self.workload, mode=self.mode, discovery=self.discovery, password=self._password,
                        node=node)
        c._node_of = {test.node_host(n): n for n in test.nodes}
        c._timeout = max(0.5, 0.8 * test.op_timeout)
        if self.mode == "sentinel":
            order = [node, *(n for n in test.nodes if n != node)]
            c._sentinels = [(n, redis.Redis(host=test.node_host(n), port=SENTINEL_PORT, password=self._password,
                                            socket_timeout=SENTINEL_TIMEOUT,
                                            socket_connect_timeout=SENTINEL_TIMEOUT, retry=_no_retry()))
                            for n in order]
        else:
            c._static = test.node_host(node)
        return c

    def setup(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        for conn in self._conns.values():
            try:
                conn.close()
            except redis.RedisError:
                pass
        self._conns.clear()
        for _, s in self._sentinels:
            try:
                s.close()
            except redis.RedisError:
                pass

    # ------------------------------------------------------------------------------------------ primary
    def primary(self) -> str:
        """The address of the primary this op goes to: the first Sentinel, in this worker's fixed order, that
        answers and names a master it does not consider down (NoPrimary when none does). Unlike redis-py's
        Sentinel class, the order never changes: a worker keeps asking its own node's Sentinel first."""
        if self._static is not None:
            return self._static
        why: list[str] = []
        for name, s in self._sentinels:
            try:
                state = master_state(s.execute_command("SENTINEL", "MASTER", MASTER))
            except redis.RedisError as e:
                why.append(f"{name}: {type(e).__name__}")
                continue
            flags = set(state.get("flags", "").split(","))
            if "master" in flags and not flags & {"s_down", "o_down", "disconnected"} and state.get("ip"):
                if self.discovery == "static":
                    self._static = state["ip"]
                return state["ip"]
            why.append(f"{name}: {state.get('ip')} {state.get('flags')}")
        raise NoPrimary("; ".join(why) or "no Sentinel")

    def _conn(self, host: str) -> redis.Redis:
        """The connection to `host`, connected now (redis.ConnectionError if it cannot be: nothing was sent)."""
        conn = self._conns.get(host)
        if conn is None or conn.connection is None:
            conn = redis.Redis(host=host, port=PORT, password=self._password, socket_timeout=self._timeout,
                               socket_connect_timeout=min(1.0, self._timeout), retry=_no_retry(),
                               single_connection_client=True)  # connects here
            self._conns[host] = conn
        else:
            # A connection the server closed meanwhile (it was killed, or restarted) reads as EOF: found now, it is
            # replaced before anything is sent, so the op can still be a definite fail, not an unknown write. (The
            # same check redis-py's pool makes; a server dying after it is the unknown outcome it really is.)
            c = conn.connection
            try:
                stale = c.can_read(timeout=0)  # connects first if an error had dropped the connection
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                stale = True
            if stale:
                c.disconnect()
                c.connect()
        return conn

    # ------------------------------------------------------------------------------------------ invoke
    def invoke(self, test: Test, op: Op) -> Op:
        try:
            host = self.primary()
        except NoPrimary as e:
            return op.replace(type="fail", error=f"no primary: {e}", node=self.node)
        node = self._node_of.get(host, host)
        try:
            wire = Wire(self._conn(host))
        except redis.RedisError as e:
            return op.replace(type="fail", error=f"connect {node}: {type(e).__name__}: {e}", node=node)
        try:
            value = self.perform(wire, op)
        except Mismatch as e:
            return op.replace(type="fail", error=refused(str(e)), node=node)
        except redis.ResponseError as e:
            definite = not wire.effect_sent or refused_before_running(e)
            return op.replace(type="fail" if definite else "info", error=f"{type(e).__name__}: {e}", node=node)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            self._drop(host)
            return op.replace(type="info" if wire.effect_sent else "fail", error=f"{type(e).__name__}: {e}",
                              node=node)
        return op.replace(type="ok", value=value, node=node)

    def _drop(self, host: str) -> None:
        conn = self._conns.pop(host, None)
        if conn is not None:
            try:
                conn.close()
            except redis.RedisError:
                pass
