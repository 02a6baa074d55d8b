"""What a sequential model is, for the linearizability checker.

Owns `Model` (a pure sequential specification in Porcupine's shape: init, step, optional partition, describe),
the `UNKNOWN` output, `Entry` (one op as a model sees it) and `Independent` (a wrapper that checks each key of
`(key, value)` ops on its own). Does not own the built-in models (`models.py`) nor the search (`search.py`).

A model is a frozen record of plain functions:

    init() -> state                      the state before any op; states must be hashable and compare by value
    step(state, input, output) -> (ok, state')
                                         could the op with this input and output take effect in `state`, and
                                         what state follows? `output` is UNKNOWN when the op's outcome is unknown
                                         (`info`, or no completion): then say whether it *could* have happened
                                         in `state` with some output, and what follows (if several states could,
                                         return one that rejects nothing any of them would accept: soundness
                                         first). The checker itself covers "it never happened": an op with
                                         unknown output may stay unlinearized.
    prepare(invoke, completion) -> (input, output) | None
                                         turn an op pair of the history into the model's input and output;
                                         None drops the op (`default_prepare` drops `fail` ops, which did not
                                         happen; the built-in models also drop reads with unknown output,
                                         which constrain nothing). `completion` is None or an `info` op when
                                         the outcome is unknown: return UNKNOWN as output then.
    partition_key(input) -> hashable | None
                                         optional P-compositionality: ops with different keys are checked
                                         separately (a history is linearizable iff every part is).
    read_only(input, output) -> bool     optional: True only if this op changes no state, in *every* state
                                         where it is legal (a read; a cas that failed). Lets the search skip
                                         orders that differ only in where such an op sits. Default: None.
    observed_state(input, output) -> state | UNKNOWN
                                         optional, for read-only ops: the one state in which the op is legal
                                         (a read that returned v: v), or UNKNOWN if there is more than one.
                                         Lets the search test such ops by comparing state ids. Default: None.
    droppable(entries) -> set of entry ids
                                         optional: ops with unknown outcome that can be left out of every
                                         linearization without losing one (a crashed enqueue of a value no
                                         dequeue ever returned). Default: None.
    extends(state, later) -> bool, resets(input) -> bool
                                         optional, together: states only grow (a string appended to) except
                                         by the ops `resets` names (a put): `extends` says whether `later` can
                                         follow `state` by growing. Lets the search drop a state that a read
                                         still to place, with no resetting op possible before it, can never
                                         see. Default: None.
    describe_operation(input, output) -> str, describe_state(state) -> str
                                         plain words for counterexamples and the HTML page.

Determinism: step must be a pure function; the checker memoizes it per (op, state).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence, Set
from dataclasses import dataclass
from typing import Any, TypeAlias

from harness.op import FAIL, INFO, Op

__all__ = ["UNKNOWN", "Entry", "Independent", "Model", "Prepared", "default_prepare", "is_unknown"]

State: TypeAlias = Any  # hashable, compared by value


class _Unknown:
    """The output of an op whose outcome is unknown (a singleton, falsy-agnostic, pickles to itself)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"


UNKNOWN: object = _Unknown()


def is_unknown(output: object) -> bool:
    return output is UNKNOWN


Prepared: TypeAlias = tuple[object, object]


def default_prepare(invoke: Op, completion: Op | None) -> Prepared | None:
    """(f, invoke value) as input; the completion's value as output, UNKNOWN for info or none; fail dropped."""
    if completion is not None and completion.type == FAIL:
        return None
    if completion is None or completion.type == INFO:
        return (invoke.f, invoke.value), UNKNOWN
    return (invoke.f, invoke.value), completion.value


def _no_partition(_input: object) -> Hashable | None:
    return None


def _describe_operation(input: object, output: object) -> str:
    if isinstance(input, tuple) and len(input) == 2 and isinstance(input[0], str):
        f, v = input
        shown = "" if v is None else f" {v!r}"
        out = "" if output is UNKNOWN or output is None or output == v else f" -> {output!r}"
        unk = " (outcome unknown)" if output is UNKNOWN else ""
        return f"{f}{shown}{out}{unk}"
    return f"{input!r} -> {output!r}"


def _describe_state(state: object) -> str:
    return "nil" if state is None else repr(state)


@dataclass(frozen=True, kw_only=True)
class Model:
    """A sequential specification (see the module docstring for each function's contract)."""

    name: str
    init: Callable[[], State]
    step: Callable[[State, Any, object], tuple[bool, State]]
    prepare: Callable[[Op, Op | None], Prepared | None] = default_prepare
    partition_key: Callable[[object], Hashable | None] = _no_partition
    describe_operation: Callable[[object, Hashable], str] = _describe_operation
    describe_state: Callable[[State], str] = _describe_state
    read_only: Callable[[Any, Hashable], bool] | None = None
    observed_state: Callable[[Any, object], object] | None = None
    droppable: Callable[[Sequence[Entry]], Set[int]] | None = None
    extends: Callable[[State, State], bool] | None = None
    resets: Callable[[Any], bool] | None = None
    doc: str = ""
    # True when reads/writes carry register-like values: f "read"/"write"/"cas" with input (f, value); lets
    # the explanation name stale reads and lost writes.
    register_like: bool = False

    @property
    def partitioned(self) -> bool:
        return self.partition_key is not _no_partition


@dataclass(frozen=True, slots=True)
class Entry:
    """One op of a part, as the search sees it: `call` and `ret` are positions in the history (`ret` is None
    when the outcome is unknown: the op may take effect at any time after its call, or never)."""

    id: int
    process: object
    input: Any
    output: Any
    call: int
    ret: int | None
    invoke_index: int
    complete_index: int | None


def _split_key(value: object) -> tuple[object, object] | None:
    if isinstance(value, (tuple, list)) and len(value) == 2:
        k = value[0]
        return (tuple(k) if isinstance(k, list) else k), value[1]
    return None


@dataclass(frozen=True)
class _IndependentPrepare:
    inner: Model

    def __call__(self, invoke: Op, completion: Op | None) -> Prepared | None:
        kv = _split_key(invoke.value)
        if kv is None:
            # Not a (key, value) op: checked as one part of its own with key None.
            p = self.inner.prepare(invoke, completion)
            return None if p is None else ((None, p[0]), p[1])
        key, v = kv
        comp = completion
        if completion is not None and completion.type not in (INFO, FAIL):
            ckv = _split_key(completion.value)
            comp = completion.replace(value=ckv[1] if ckv is not None and ckv[0] == key else completion.value)
        p = self.inner.prepare(invoke.replace(value=v), comp)
        return None if p is None else ((key, p[0]), p[1])


@dataclass(frozen=True)
class _IndependentStep:
    inner: Model

    def __call__(self, state: State, input: Any, output: object) -> tuple[bool, State]:
        return self.inner.step(state, input[1], output)


@dataclass(frozen=True)
class _IndependentReadOnly:
    inner: Model

    def __call__(self, input: Any, output: object) -> bool:
        return bool(self.inner.read_only(input[1], output))  # type: ignore[misc]  # made only for a model with the hook


@dataclass(frozen=True)
class _IndependentObserved:
    inner: Model

    def __call__(self, input: Any, output: object) -> object:
        return self.inner.observed_state(input[1], output)  # type: ignore[misc]  # made only for a model with the hook


@dataclass(frozen=True)
class _IndependentDroppable:
    inner: Model

    def __call__(self, entries: Sequence[Entry]) -> Set[int]:
        inner_entries = [dataclasses.replace(e, input=e.input[1]) for e in entries]
        return self.inner.droppable(inner_entries)  # type: ignore[misc]  # made only for a model with the hook


@dataclass(frozen=True)
class _IndependentDescribe:
    inner: Model

    def __call__(self, input: Any, output: object) -> str:
        return self.inner.describe_operation(input[1], output)


def _first(input: Any) -> Hashable:
    return input[0]


def Independent(inner: Model) -> Model:
    """`inner`, checked per key: op values are `(key, value)` (tuples or 2-lists); each key is its own part
    with its own state starting at `inner.init()`."""
    return Model(
        name=f"{inner.name} (independent keys)",
        init=inner.init,
        step=_IndependentStep(inner),
        prepare=_IndependentPrepare(inner),
        partition_key=_first,
        describe_operation=_IndependentDescribe(inner),
        describe_state=inner.describe_state,
        read_only=None if inner.read_only is None else _IndependentReadOnly(inner),
        observed_state=None if inner.observed_state is None else _IndependentObserved(inner),
        droppable=None if inner.droppable is None else _IndependentDroppable(inner),
        doc=inner.doc,
        register_like=inner.register_like,
    )
