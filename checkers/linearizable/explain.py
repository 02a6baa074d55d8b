"""Counterexamples in plain words: what the linearizability search found, for people who debug systems.

Owns `counterexample` (an illegal part -> JSON-ready details and one `Finding`) and the failure-class
reading of register-like violations (stale read, lost write, unexpected value). Does not own the search nor
the HTML page.

The reading, for models whose ops are reads/writes/cas of plain values, when the op that cannot be placed is
a read that returned `v`:
- `v` was never written (and is not the initial value): unexpected value;
- some write W of another value completed before the read began, and `v` is older than W; if no read ever
  returns W's value, W looks lost (lost acknowledged write); otherwise the read is stale (stale read);
- anything else: not linearizable (the ops admit no order; the longest partial order is shown).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from checkers.linearizable.model import UNKNOWN, Entry, Model
from checkers.linearizable.search import PartResult, replay
from harness.checker import FailureClass, Finding
from harness.op import History

__all__ = ["Counterexample", "classify", "counterexample", "show_key"]

_SHOWN_STEPS = 40  # how many steps of the longest partial linearization the details keep (the tail)
_SHOWN_OTHER = 8  # and of each other one of the same length


@dataclass(frozen=True)
class Counterexample:
    details: dict[str, object]
    finding: Finding


def show_key(key: Hashable) -> str:
    return "global" if key is None else f"key {key!r}"


def _op_words(model: Model, e: Entry) -> str:
    return f"op #{e.invoke_index} (process {e.process}: {model.describe_operation(e.input, e.output)})"


def _inner(model: Model, e: Entry) -> tuple[str, Any]:
    """(f, value) of a register-like entry, seen through an Independent wrapper if any."""
    inp = e.input
    if model.partitioned and isinstance(inp, tuple) and len(inp) == 2 and isinstance(inp[1], tuple):
        inp = inp[1]
    return inp


def classify(model: Model, entries: list[Entry] | tuple[Entry, ...], blocked: Entry) -> tuple[FailureClass, str,
                                                                                             tuple[int, ...]]:
    """A failure class, a one-line reason and the op indices that show it (see the module docstring)."""
    generic = (FailureClass.NOT_LINEARIZABLE, "", ())
    if not model.register_like:
        return generic
    f, _ = _inner(model, blocked)
    if f != "read" or blocked.output is UNKNOWN:
        return generic
    v = blocked.output
    init = model.init()
    writes = []  # (entry, value written) of writes and successful cas with known or unknown outcome
    for e in entries:
        ef, ev = _inner(model, e)
        if ef == "write":
            writes.append((e, ev))
        elif ef == "cas" and e.output is not False:
            writes.append((e, ev[1]))
    if v is None:
        return generic
    sources = [w for w, val in writes if val == v]
    if not sources and v != init:
        return (FailureClass.UNEXPECTED_VALUE, f"the read returned {v!r}, which no write wrote",
                (blocked.invoke_index,))
    # Writes of other values acknowledged before the read began and invoked after every write of v had
    # completed: v is certainly older than them.
    if any(w.ret is None for w in sources):
        return generic
    latest_source_ret = max((w.ret for w in sources if w.ret is not None), default=-1)
    newer = [(w, val) for w, val in writes
             if val != v and w.ret is not None and w.ret < blocked.call and w.call > latest_source_ret]
    if not newer:
        return generic
    w, val = max(newer, key=lambda p: p[0].ret or 0)
    seen_later = any(_inner(model, e)[0] == "read" and e.output == val for e in entries)
    ops = (w.invoke_index, blocked.invoke_index)
    if not seen_later:
        return (FailureClass.LOST_WRITE,
                (f"write {val!r} (op #{w.invoke_index}) was acknowledged before the read began, yet the read "
                 f"returned the older {v!r} and no read ever returns {val!r}"), ops)
    return (FailureClass.STALE_READ,
            (f"the read returned {v!r} although write {val!r} (op #{w.invoke_index}) had been acknowledged "
             "before the read began"), ops)


def counterexample(model: Model, history: History, entries: list[Entry], result: PartResult, *,
                   partitioned: bool) -> Counterexample:
    """Details and the finding for an illegal part."""
    path = list(result.longest)
    states = replay(model, entries, path)
    state_met = states[-1] if states else model.init()
    scope = show_key(result.key) if partitioned else "global"
    where = f" of {scope}" if partitioned else ""
    steps = []
    for i, s in zip(path, states):
        e = entries[i]
        steps.append({"op": e.invoke_index, "process": e.process,
                      "operation": model.describe_operation(e.input, e.output),
                      "state_after": model.describe_state(s)})
    details: dict[str, object] = {
        "key": show_key(result.key),
        "ops_in_part": result.n_ops,
        "configurations": result.configs,
        "longest_partial_linearization_length": len(path),
        "longest_partial_linearization": steps[-_SHOWN_STEPS:],
    }
    explanation = [
        f"No order of the {result.n_ops} ops{where} agrees with both real time and the {model.name} model.",
        (f"The longest order that does linearizes {len(path)} of them, ending in state "
         f"{model.describe_state(state_met)}."),
    ]
    ops: tuple[int, ...] = ()
    fclass = FailureClass.NOT_LINEARIZABLE
    reason = ""
    if result.blocked is not None:
        b = entries[result.blocked]
        details["first_unplaceable_op"] = {
            "op": b.invoke_index, "completion": b.complete_index, "process": b.process,
            "operation": model.describe_operation(b.input, b.output),
            "state_met": model.describe_state(state_met),
        }
        explanation.append(
            f"Then {_op_words(model, b)} must take effect before it completed (op #{b.complete_index}), "
            f"but in state {model.describe_state(state_met)} it cannot, and no other order gets further.")
        fclass, reason, ops = classify(model, entries, b)
        if reason:
            explanation.append(reason[0].upper() + reason[1:] + ".")
        if not ops:
            ops = (b.invoke_index,)
    others = []
    for other_path, other_blocked in result.more_longest:
        other_states = replay(model, entries, other_path)
        ob = entries[other_blocked]
        others.append({
            "last_steps": [{"op": entries[i].invoke_index, "process": entries[i].process,
                            "operation": model.describe_operation(entries[i].input, entries[i].output),
                            "state_after": model.describe_state(s)}
                           for i, s in list(zip(other_path, other_states))[-_SHOWN_OTHER:]],
            "first_unplaceable_op": {"op": ob.invoke_index, "process": ob.process,
                                     "operation": model.describe_operation(ob.input, ob.output),
                                     "state_met": model.describe_state(other_states[-1] if other_states
                                                                       else model.init())},
        })
    if others:
        details["other_longest_partial_linearizations"] = others
        explanation.append(f"{len(others)} other order(s) of the same length end as shown in the details.")
    if len(path) > _SHOWN_STEPS:
        explanation.append(f"(details keep the last {_SHOWN_STEPS} steps of that order)")
    if result.blocked is not None:
        b = entries[result.blocked]
        done = f", completed at #{b.complete_index}" if b.complete_index is not None else ""
        head = (f"{model.describe_operation(b.input, b.output)} by process {b.process} (op #{b.invoke_index}{done}) "
                f"cannot be placed{where}: the state was {model.describe_state(state_met)}")
    else:
        head = f"no op{where} can be linearized first"
    if reason:
        head += f" ({reason})"
    details["failure_class"] = fclass.value
    finding = Finding(kind="not-linearizable", failure_class=fclass, diagnosis=head, ops=ops,
                      explanation=tuple(explanation), scope=scope)
    return Counterexample(details=details, finding=finding)
