"""A simulator of real concurrent objects, for property tests: random clients run ops against a true
sequential object, each op taking effect at one random instant between its invocation and its completion, so
every history it records is linearizable by construction. Crashed ops (`info`) take effect or not at random;
definitely failed ops (`fail`) never take effect. A test helper, named as such (not part of the checker)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.op import History, Op

# Each object: (initial state, random op maker, apply) where apply(state, f, value) -> (completion type,
# output value, new state) for an op that takes effect now.
Apply = Callable[[Any, str, Any], tuple[str, Any, Any]]


@dataclass(frozen=True)
class SimObject:
    name: str
    init: Any
    make_op: Callable[[random.Random], tuple[str, Any]]
    apply: Apply
    can_fail: Callable[[str], bool]  # ops that may be reported `fail` without taking effect


def _reg_op(rng: random.Random) -> tuple[str, Any]:
    r = rng.random()
    if r < 0.4:
        return "read", None
    if r < 0.7:
        return "write", rng.randrange(4)
    return "cas", [rng.randrange(4), rng.randrange(4)]


def _reg_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    if f == "read":
        return "ok", state, state
    if f == "write":
        return "ok", v, v
    old, new = v
    if state == old:
        return "ok", v, new
    return "fail", v, state  # compare failed: definite, nothing changed


def _keyed(obj: SimObject, keys: int) -> SimObject:
    """The same object, one per key; values become (key, value) tuples, as the register workload records."""

    def make(rng: random.Random) -> tuple[str, Any]:
        f, v = obj.make_op(rng)
        return f, (rng.randrange(keys), tuple(v) if isinstance(v, list) else v)

    def apply(state: Any, f: str, kv: Any) -> tuple[str, Any, Any]:
        k, v = kv
        cur = dict(state).get(k, obj.init)
        t, out, new = obj.apply(cur, f, list(v) if isinstance(v, tuple) else v)
        d = dict(state)
        d[k] = new
        return t, (k, tuple(out) if isinstance(out, list) else out), frozenset(d.items())

    return SimObject(f"{obj.name}-keyed", frozenset(), make, apply, obj.can_fail)


def _kv_op(rng: random.Random) -> tuple[str, Any]:
    k = str(rng.randrange(3))
    r = rng.random()
    if r < 0.4:
        return "get", (k, None)
    return ("put" if r < 0.6 else "append"), (k, f"x{rng.randrange(100)}y")


def _kv_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    k, x = v
    d = dict(state)
    cur = d.get(k, "")
    if f == "get":
        return "ok", (k, cur), state
    d[k] = x if f == "put" else cur + x
    return "ok", v, frozenset(d.items())


def _mutex_op(rng: random.Random) -> tuple[str, Any]:
    return rng.choice(["acquire", "release"]), None


def _mutex_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    if f == "acquire":
        return ("fail", None, state) if state else ("ok", None, True)
    return ("ok", None, False) if state else ("fail", None, state)


def _queue_op(rng: random.Random) -> tuple[str, Any]:
    return ("enqueue", rng.randrange(5)) if rng.random() < 0.55 else ("dequeue", None)


def _fifo_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    if f == "enqueue":
        return "ok", v, state + (v,)
    if not state:
        return "ok", None, state
    return "ok", state[0], state[1:]


def _bag_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    # A real unordered queue: dequeue takes the smallest element (any choice is a valid unordered queue).
    if f == "enqueue":
        return "ok", v, tuple(sorted(state + (v,)))
    if not state:
        return "ok", None, state
    return "ok", state[0], state[1:]


def _set_op(rng: random.Random) -> tuple[str, Any]:
    return ("add", rng.randrange(8)) if rng.random() < 0.6 else ("read", None)


def _set_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    if f == "add":
        return "ok", v, state | {v}
    return "ok", sorted(state), state


def _multi_op(rng: random.Random) -> tuple[str, Any]:
    mops = []
    for _ in range(rng.randrange(1, 3)):
        k = rng.choice(["x", "y"])
        mops.append(["read", k, None] if rng.random() < 0.5 else ["write", k, rng.randrange(3)])
    return "txn", mops


def _multi_apply(state: Any, f: str, v: Any) -> tuple[str, Any, Any]:
    d = dict(state)
    out = []
    for mf, k, x in v:
        if mf == "read":
            out.append([mf, k, d[k]])
        else:
            d[k] = x
            out.append([mf, k, x])
    return "ok", out, frozenset(d.items())


def _never(_f: str) -> bool:
    return False


def _any(_f: str) -> bool:
    return True


def _not_cas(f: str) -> bool:
    return f != "cas"


REGISTER = SimObject("register", None, _reg_op, _reg_apply, _any)
# Under the etcd model a failed cas means "the compare failed", so a cas may not fail for another reason.
REGISTER_ETCD = SimObject("register", None, _reg_op, _reg_apply, _not_cas)
OBJECTS: dict[str, tuple[SimObject, str, Any, bool]] = {
    # name: (object, checker model, init, independent)
    "cas-register": (REGISTER, "cas-register", None, False),
    "etcd": (REGISTER_ETCD, "etcd", None, False),
    "register-independent": (_keyed(REGISTER_ETCD, 3), "etcd", None, True),
    "cas-register-independent": (_keyed(REGISTER, 3), "cas-register", None, True),
    "kv": (SimObject("kv", frozenset(), _kv_op, _kv_apply, _any), "kv", None, False),
    "kv-nopartition": (SimObject("kv", frozenset(), _kv_op, _kv_apply, _any), "kv-nopartition", None, False),
    "mutex": (SimObject("mutex", False, _mutex_op, _mutex_apply, _never), "mutex", None, False),
    "fifo-queue": (SimObject("fifo", (), _queue_op, _fifo_apply, _any), "fifo-queue", None, False),
    "unordered-queue": (SimObject("bag", (), _queue_op, _bag_apply, _any), "unordered-queue", None, False),
    "set": (SimObject("set", frozenset(), _set_op, _set_apply, _any), "set", None, False),
    "multi-register": (SimObject("multi", frozenset({("x", 0), ("y", 0)}), _multi_op, _multi_apply, _any),
                       "multi-register", {"x": 0, "y": 0}, False),
}


def simulate(obj: SimObject, rng: random.Random, *, n_ops: int, processes: int, crash_rate: float,
             fail_rate: float) -> History:
    """A linearizable history of about `n_ops` invocations."""
    state = obj.init
    ops: list[Op] = []
    # Per live process: None (idle) or [f, value, phase, output, completion type]; phase 0 = invoked,
    # 1 = took effect.
    live: dict[int, list[Any] | None] = {p: None for p in range(processes)}
    next_pid = processes
    invoked = 0
    while invoked < n_ops or any(v is not None for v in live.values()):
        p = rng.choice(list(live))
        cur = live[p]
        if cur is None:
            if invoked >= n_ops:
                continue
            f, v = obj.make_op(rng)
            ops.append(Op(type="invoke", process=p, f=f, value=v))
            live[p] = [f, v, 0, None, None]
            invoked += 1
        elif cur[2] == 0 and rng.random() < 0.6:
            f, v = cur[0], cur[1]
            if obj.can_fail(f) and rng.random() < fail_rate:
                cur[2], cur[4] = 2, "fail"  # definitely did not happen
            else:
                t, out, state = obj.apply(state, f, v)
                cur[2], cur[3], cur[4] = 1, out, t
        else:
            f, v = cur[0], cur[1]
            if rng.random() < crash_rate:
                if cur[2] == 0 and rng.random() < 0.5:  # a crashed op may still take effect
                    _t, _out, state = obj.apply(state, f, v)
                ops.append(Op(type="info", process=p, f=f, value=v, error="crashed"))
                del live[p]
                live[next_pid] = None
                next_pid += 1
            elif cur[2] == 0:
                continue  # must take effect (or fail) before it completes
            elif cur[4] == "fail":
                ops.append(Op(type="fail", process=p, f=f, value=v))
                live[p] = None
            else:
                ops.append(Op(type="ok", process=p, f=f, value=cur[3]))
                live[p] = None
        if len(ops) > 20 * n_ops + 100:
            break
    return History.indexed(ops)
