"""The built-in sequential models of the linearizability checker, and how third-party models are found.

Owns `MODELS` (name -> factory taking the initial value) and `find_model`. Does not own the Model record
(`model.py`) nor the search.

Built-in models (inputs are `(f, invoke value)`; outputs are completion values, UNKNOWN when not known):
    register        read/write; a read must return the current value, nil included (nil = never written).
    cas-register    Knossos's: read/write/cas [old new]; a read of nil (or unknown) is unconstrained; a cas
                    swaps iff the value is `old`; a failed cas did not happen and is dropped.
    etcd            Porcupine's etcd model: like `register` plus cas, and a *failed* cas is kept as "the
                    compare failed" (the value was not `old` at some instant of the op). Use it for Jepsen etcd
                    logs; only sound when `fail` on a cas means exactly "compare failed".
    multi-register  Knossos's: f txn, value [[read k v] [write k v] ...]; read of nil unconstrained.
    kv              Porcupine's kv: get/put/append on string values, value (key, v), partitioned by key;
                    a key never written reads "".
    kv-nopartition  the same with one map state for all keys (slower; for cross-checks).
    set             add v / read -> the whole set.
    mutex           acquire / release.
    fifo-queue      enqueue v / dequeue -> v (nil when empty).
    unordered-queue enqueue v / dequeue -> any element present (nil when empty).

Third-party models: register an entry point in the `harness.checkers` group named `linearizable.<model>`
whose object is a `checkers.linearizable.model.Model` (or a callable taking the initial value and returning
one), e.g. in pyproject.toml:

    [project.entry-points."harness.checkers"]
    "linearizable.counter" = "mypkg.models:counter_model"

then `harness check --checker linearizable --model counter ...`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from importlib import metadata
from typing import Any

from checkers.linearizable.model import UNKNOWN, Entry, Independent, Model, Prepared
from harness.errors import BadInput
from harness.op import FAIL, INFO, Op

__all__ = ["ENTRY_POINT_PREFIX", "MODELS", "find_model", "model_names"]

ENTRY_POINT_PREFIX = "linearizable."
_READS = ("read", "r", "get")


def _norm(v: object) -> object:
    """Lists as tuples, so that [1 2] from EDN and (1, 2) from our JSONL compare equal."""
    if isinstance(v, list):
        return tuple(_norm(x) for x in v)
    return v


def _pair(v: object) -> tuple[object, object] | None:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return _norm(v[0]), _norm(v[1])
    return None


# --- register, cas-register, etcd -----------------------------------------------------------------------

def _register_prepare(invoke: Op, completion: Op | None, *, keep_failed_cas: bool) -> Prepared | None:
    f = invoke.f
    unknown = completion is None or completion.type == INFO
    if completion is not None and completion.type == FAIL:
        if f == "cas" and keep_failed_cas:
            return ("cas", _pair(invoke.value)), False
        return None
    if f in _READS:
        if unknown:
            return None  # a read with unknown output constrains nothing and changes nothing
        return ("read", None), _norm(completion.value)  # type: ignore[union-attr]  # known: completed
    if f == "write":
        return ("write", _norm(invoke.value)), (UNKNOWN if unknown else None)
    if f == "cas":
        pair = _pair(invoke.value)
        if pair is None:
            raise BadInput(f"a cas op needs the value [old new], not {invoke.value!r} (op {invoke.index})")
        return ("cas", pair), (UNKNOWN if unknown else True)
    raise BadInput(f"the register models know read, write and cas, not {f!r} (op {invoke.index})")


def _prepare_drop_failed(invoke: Op, completion: Op | None) -> Prepared | None:
    return _register_prepare(invoke, completion, keep_failed_cas=False)


def _prepare_keep_failed(invoke: Op, completion: Op | None) -> Prepared | None:
    return _register_prepare(invoke, completion, keep_failed_cas=True)


class _RegisterStep:
    """Step of the register family. `nil_read_free`: a read of nil is unconstrained (Knossos)."""

    def __init__(self, nil_read_free: bool) -> None:
        self.nil_read_free = nil_read_free

    def __call__(self, state: object, input: tuple[str, Any], output: object) -> tuple[bool, object]:
        f, v = input
        if f == "read":
            if output is UNKNOWN or (output is None and self.nil_read_free):
                return True, state
            return output == state, state
        if f == "write":
            return True, v
        old, new = v
        if output is UNKNOWN:
            return True, (new if state == old else state)
        if output:
            return state == old, new
        return state != old, state  # a cas whose compare failed (kept by the etcd model only)

    def __reduce__(self) -> tuple[object, ...]:
        return (_RegisterStep, (self.nil_read_free,))


def _describe_register_op(input: Any, output: object) -> str:
    f, v = input
    unk = " (outcome unknown)" if output is UNKNOWN else ""
    if f == "read":
        return f"read -> {_show(output)}"
    if f == "write":
        return f"write {_show(v)}{unk}"
    old, new = v
    if output is False:
        return f"cas {_show(old)} -> {_show(new)} (compare failed)"
    return f"cas {_show(old)} -> {_show(new)}{unk}"


def _register_read_only(input: tuple[str, object], output: object) -> bool:
    return input[0] == "read" or (input[0] == "cas" and output is False)


def _strict_read_state(input: tuple[str, object], output: object) -> object:
    return output if input[0] == "read" and output is not UNKNOWN else UNKNOWN


def _knossos_read_state(input: tuple[str, object], output: object) -> object:
    # A read of nil is unconstrained under Knossos's cas-register.
    return output if input[0] == "read" and output is not UNKNOWN and output is not None else UNKNOWN


def _show(v: object) -> str:
    return "nil" if v is None else repr(v)


class _Const:
    def __init__(self, value: object) -> None:
        self.value = value

    def __call__(self) -> object:
        return self.value

    def __reduce__(self) -> tuple[object, ...]:
        return (_Const, (self.value,))


def register(init: object = None) -> Model:
    return Model(name="register", init=_Const(_norm(init)), step=_RegisterStep(False), prepare=_prepare_drop_failed,
                 describe_operation=_describe_register_op, describe_state=_show, register_like=True,
                 read_only=_register_read_only, observed_state=_strict_read_state,
                 doc="read/write register; a read must return the current value (nil = never written)")


def cas_register(init: object = None) -> Model:
    return Model(name="cas-register", init=_Const(_norm(init)), step=_RegisterStep(True),
                 prepare=_prepare_drop_failed, describe_operation=_describe_register_op, describe_state=_show,
                 register_like=True, read_only=_register_read_only, observed_state=_knossos_read_state,
                 doc="Knossos cas-register: read/write/cas; nil reads unconstrained; failed cas dropped")


def etcd(init: object = None) -> Model:
    return Model(name="etcd", init=_Const(_norm(init)), step=_RegisterStep(False), prepare=_prepare_keep_failed,
                 describe_operation=_describe_register_op, describe_state=_show, register_like=True,
                 read_only=_register_read_only, observed_state=_strict_read_state,
                 doc="Porcupine etcd model: read/write/cas; nil read = absent; a failed cas means compare failed")


# --- multi-register -------------------------------------------------------------------------------------

def _multi_prepare(invoke: Op, completion: Op | None) -> Prepared | None:
    if completion is not None and completion.type == FAIL:
        return None
    unknown = completion is None or completion.type == INFO
    txn = completion.value if not unknown else invoke.value  # type: ignore[union-attr]  # known: completed
    if not isinstance(txn, (list, tuple)):
        raise BadInput(f"a multi-register op holds a list of [f key value] micro-ops, not {txn!r}")
    mops = []
    for mop in txn:
        if not isinstance(mop, (list, tuple)) or len(mop) != 3:
            raise BadInput(f"a multi-register micro-op is [f key value], not {mop!r} (op {invoke.index})")
        f, k, v = mop
        f = "read" if f in _READS else "write" if f in ("write", "w") else f
        if f not in ("read", "write"):
            raise BadInput(f"multi-register micro-ops are read or write, not {f!r} (op {invoke.index})")
        if f == "read" and unknown:
            continue
        mops.append((f, _norm(k), _norm(v)))
    if not mops:
        return None
    return tuple(mops), (UNKNOWN if unknown else None)


def _multi_step(state: frozenset[tuple[object, object]], input: tuple[tuple[str, object, object], ...],
                output: object) -> tuple[bool, Hashable]:
    regs = dict(state)
    for f, k, v in input:
        if f == "read":
            if v is not None and regs.get(k) != v:
                return False, state
        else:
            regs[k] = v
    return True, frozenset(regs.items())


def _multi_read_only(input: Any, output: object) -> bool:
    return all(f == "read" for f, _k, _v in input)


def _describe_multi_op(input: Any, output: object) -> str:
    parts = [f"{f} {k} {_show(v)}" for f, k, v in input]
    return "txn [" + ", ".join(parts) + "]" + (" (outcome unknown)" if output is UNKNOWN else "")


def _describe_multi_state(state: Any) -> str:
    return "{" + ", ".join(f"{k} {_show(v)}" for k, v in sorted(state, key=repr)) + "}"


def multi_register(init: object = None) -> Model:
    regs = init if isinstance(init, dict) else {}
    return Model(name="multi-register", init=_Const(frozenset((_norm(k), _norm(v)) for k, v in regs.items())),
                 step=_multi_step, prepare=_multi_prepare, describe_operation=_describe_multi_op,
                 describe_state=_describe_multi_state, read_only=_multi_read_only,
                 doc="Knossos multi-register: txn of read/write micro-ops; nil reads unconstrained")


# --- kv (Porcupine) -------------------------------------------------------------------------------------

def _kv_prepare(invoke: Op, completion: Op | None) -> Prepared | None:
    if completion is not None and completion.type == FAIL:
        return None
    unknown = completion is None or completion.type == INFO
    kv = _pair(invoke.value)
    if kv is None:
        raise BadInput(f"a kv op's value is (key, value), not {invoke.value!r} (op {invoke.index})")
    key, v = kv
    f = invoke.f
    if f not in ("get", "put", "append"):
        raise BadInput(f"the kv model knows get, put and append, not {f!r} (op {invoke.index})")
    if f == "get":
        if unknown:
            return None
        out = _pair(completion.value)  # type: ignore[union-attr]  # known: completed
        return (key, ("get", None)), ("" if out is None or out[1] is None else out[1])
    return (key, (f, "" if v is None else v)), (UNKNOWN if unknown else None)


def _kv_step(state: str, input: tuple[object, tuple[str, Any]], output: object) -> tuple[bool, str]:
    f, v = input[1]
    if f == "get":
        return output is UNKNOWN or output == state, state
    if f == "put":
        return True, v
    return True, state + v


def _kv_map_step(state: frozenset[tuple[Any, str]], input: tuple[object, tuple[str, object]],
                 output: object) -> tuple[bool, object]:
    key, (f, v) = input
    regs = dict(state)
    cur = regs.get(key, "")
    if f == "get":
        return output is UNKNOWN or output == cur, state
    regs[key] = v if f == "put" else cur + v
    return True, frozenset(regs.items())


def _kv_read_only(input: Any, output: object) -> bool:
    return input[1][0] == "get"


def _kv_get_state(input: Any, output: object) -> object:
    return output if input[1][0] == "get" and output is not UNKNOWN else UNKNOWN


def _kv_key(input: Any) -> object:
    return input[0]


def _describe_kv_op(input: Any, output: object) -> str:
    key, (f, v) = input
    if f == "get":
        return f"get {key!r} -> {output!r}"
    return f"{f} {key!r} {v!r}" + (" (outcome unknown)" if output is UNKNOWN else "")


def _kv_extends(state: object, later: object) -> bool:
    if not (isinstance(state, str) and isinstance(later, str)):
        return True  # cannot tell: never prune
    return later.startswith(state)


def _kv_resets(input: Any) -> bool:
    return bool(input[1][0] == "put")


def kv(init: object = None) -> Model:
    return Model(name="kv", init=_Const(""), step=_kv_step, prepare=_kv_prepare, partition_key=_kv_key,
                 describe_operation=_describe_kv_op, describe_state=repr, read_only=_kv_read_only,
                 observed_state=_kv_get_state, extends=_kv_extends, resets=_kv_resets,
                 doc="Porcupine kv: get/put/append on strings, partitioned by key")


def _describe_kv_map(state: Any) -> str:
    return repr(dict(sorted(state)))


def kv_nopartition(init: object = None) -> Model:
    return Model(name="kv-nopartition", init=_Const(frozenset()), step=_kv_map_step, prepare=_kv_prepare,
                 describe_operation=_describe_kv_op, describe_state=_describe_kv_map, read_only=_kv_read_only,
                 doc="Porcupine kv with one map state for all keys")


# --- set, mutex, queues ---------------------------------------------------------------------------------

def _simple_prepare(invoke: Op, completion: Op | None) -> Prepared | None:
    if completion is not None and completion.type == FAIL:
        return None
    unknown = completion is None or completion.type == INFO
    if invoke.f in _READS and unknown:
        return None
    out = UNKNOWN if unknown else completion.value  # type: ignore[union-attr]  # known: completed
    return (invoke.f, _norm(invoke.value)), out


def _unobserved(entries: Sequence[Entry], writer: str, observed: set[object]) -> set[int]:
    """Ids of `writer` ops with unknown outcome whose value is not in `observed`."""
    out = set()
    for e in entries:
        if e.ret is None and e.input[0] == writer:
            try:
                if e.input[1] not in observed:
                    out.add(e.id)
            except TypeError:  # an unhashable value: keep the op
                continue
    return out


def _queue_droppable(entries: Sequence[Entry]) -> set[int]:
    """A crashed enqueue of a value no dequeue returned never helps: with it in the queue, every dequeue
    still returns what it returned without it (it is never at the head when a dequeue returns), and a dequeue
    that found the queue empty would not have. So it can always be left out."""
    try:
        observed = {_norm(e.output) for e in entries
                    if e.input[0] == "dequeue" and e.output is not UNKNOWN and e.output is not None}
    except TypeError:
        return set()
    return _unobserved(entries, "enqueue", observed)


def _set_droppable(entries: Sequence[Entry]) -> set[int]:
    """A crashed add of an element no read returned never helps (every read after it would have to show it)."""
    observed: set[object] = set()
    try:
        for e in entries:
            if e.input[0] in _READS and e.output is not UNKNOWN:
                observed.update(_norm(x) for x in e.output)
    except TypeError:
        return set()
    return _unobserved(entries, "add", observed)


def _set_step(state: frozenset[object], input: tuple[str, object], output: Any) -> tuple[bool, frozenset[object]]:
    f, v = input
    if f == "add":
        return True, state | {v}
    if f in _READS:
        return frozenset(_norm(x) for x in output) == state, state
    raise BadInput(f"the set model knows add and read, not {f!r}")


def _reads_only(input: Any, output: object) -> bool:
    return input[0] in _READS


def _describe_set(state: Any) -> str:
    return "#{" + " ".join(map(repr, sorted(state, key=repr))) + "}"


def set_model(init: Any = None) -> Model:
    return Model(name="set", init=_Const(frozenset(_norm(x) for x in (init or ()))), step=_set_step,
                 prepare=_simple_prepare, describe_state=_describe_set, read_only=_reads_only,
                 droppable=_set_droppable,
                 doc="set: add v, read -> every element")


def _mutex_step(state: bool, input: tuple[str, object], output: object) -> tuple[bool, bool]:
    f = input[0]
    if f == "acquire":
        return not state, True
    if f == "release":
        return state, False
    raise BadInput(f"the mutex model knows acquire and release, not {f!r}")


def _describe_mutex_op(input: Any, output: object) -> str:
    return str(input[0]) + (" (outcome unknown)" if output is UNKNOWN else "")


def _describe_mutex(state: object) -> str:
    return "held" if state else "free"


def mutex(init: object = None) -> Model:
    return Model(name="mutex", init=_Const(bool(init)), step=_mutex_step, prepare=_simple_prepare,
                 describe_operation=_describe_mutex_op, describe_state=_describe_mutex,
                 doc="mutex: acquire / release")


def _fifo_step(state: tuple[object, ...], input: tuple[str, object], output: object) -> tuple[bool, tuple[Hashable, ...]]:
    f, v = input
    if f == "enqueue":
        return True, state + (v,)
    if f == "dequeue":
        if not state:
            return output is UNKNOWN or output is None, state
        return output is UNKNOWN or _norm(output) == state[0], state[1:]
    raise BadInput(f"the queue models know enqueue and dequeue, not {f!r}")


def fifo_queue(init: Any = None) -> Model:
    return Model(name="fifo-queue", init=_Const(tuple(_norm(x) for x in (init or ()))), step=_fifo_step,
                 prepare=_simple_prepare, droppable=_queue_droppable, doc="FIFO queue: enqueue v / dequeue -> oldest (nil when empty)")


def _unordered_step(state: tuple[frozenset[tuple[object, int]], int], input: tuple[str, object],
                    output: object) -> tuple[bool, object]:
    """State: (multiset as a frozenset of (element, count), wildcards). A dequeue with unknown outcome that
    took effect on a non-empty queue took *some* element we cannot name: it becomes a wildcard that may
    later account for any one missing element (more permissive than the real queue, never less: sound)."""
    items, wild = state
    f, v = input
    bag = dict(items)
    if f == "enqueue":
        bag[v] = bag.get(v, 0) + 1
        return True, (frozenset(bag.items()), wild)
    if f == "dequeue":
        if output is UNKNOWN:
            return True, (state if not bag else (items, wild + 1))
        if output is None:
            total = sum(bag.values())
            return total <= wild, (frozenset(), wild - total) if total <= wild else state
        out = _norm(output)
        n = bag.get(out, 0)
        if n == 0:
            return False, state
        if n == 1:
            del bag[out]
        else:
            bag[out] = n - 1
        return True, (frozenset(bag.items()), wild)
    raise BadInput(f"the queue models know enqueue and dequeue, not {f!r}")


def _describe_bag(state: Any) -> str:
    items, wild = state
    shown = " ".join(f"{x!r}" + (f"x{n}" if n > 1 else "") for x, n in sorted(items, key=repr))
    return "{" + shown + "}" + (f" (+{wild} unknown dequeues)" if wild else "")


def unordered_queue(init: Any = None) -> Model:
    bag: dict[object, int] = {}
    for x in init or ():
        bag[_norm(x)] = bag.get(_norm(x), 0) + 1
    return Model(name="unordered-queue", init=_Const((frozenset(bag.items()), 0)), step=_unordered_step,
                 prepare=_simple_prepare, droppable=_queue_droppable, describe_state=_describe_bag,
                 doc="unordered queue: dequeue returns any element present (nil when empty)")


MODELS: dict[str, Callable[[object], Model]] = {
    "register": register,
    "cas-register": cas_register,
    "etcd": etcd,
    "multi-register": multi_register,
    "kv": kv,
    "kv-nopartition": kv_nopartition,
    "set": set_model,
    "mutex": mutex,
    "fifo-queue": fifo_queue,
    "unordered-queue": unordered_queue,
}


def _entry_points() -> dict[str, metadata.EntryPoint]:
    out: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group="harness.checkers"):
        if ep.name.startswith(ENTRY_POINT_PREFIX):
            out[ep.name[len(ENTRY_POINT_PREFIX):]] = ep
    return out


def model_names() -> tuple[str, ...]:
    """Built-in model names, then third-party ones (entry points `linearizable.<name>`), without loading."""
    extra = sorted(n for n in _entry_points() if n not in MODELS)
    return tuple(MODELS) + tuple(extra)


def find_model(name: str, init: object = None, *, independent: bool = False) -> Model:
    """The model `name` with initial value `init`, wrapped per key if `independent`; BadInput if unknown."""
    factory = MODELS.get(name)
    if factory is not None:
        model = factory(init)
    else:
        ep = _entry_points().get(name)
        if ep is None:
            raise BadInput(f"unknown linearizability model {name!r} (known: {', '.join(model_names())})")
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken third-party model is bad input, named
            raise BadInput(f"model {name!r} ({ep.value}) fails to load: {e}") from None
        model = obj if isinstance(obj, Model) else obj(init)
        if not isinstance(model, Model):
            raise BadInput(f"model {name!r} ({ep.value}) is not a checkers.linearizable.model.Model")
    return Independent(model) if independent else model
