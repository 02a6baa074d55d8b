"""The search at the heart of the linearizability checker: Wing & Gong's algorithm with Lowe's memoization,
as Porcupine does it, on flat lists of ints.

Owns `entries_of` (a history -> per-part lists of `Entry`) and `search` (one part -> `PartResult`). Does not
own models, partitioning policy, parallelism nor verdicts (`checker.py`).

The search walks a doubly linked list of call and return entries in history order (arrays `nxt`/`prv` of
slot numbers, "dancing links"): it tries to linearize the first call it can (the model's step accepts it in
the current state and the (linearized set, state) pair was not seen before), lifts it out of the list and
starts over from the head; when it meets a return entry whose op is not linearized yet, it backtracks. The
linearized set is a bitset in a Python int; states are interned to small ints, so a configuration is one int
`(state_id << n) | bitset` in a set. Model steps are memoized per (op, state id); a read-only op whose model
names the one state it is legal in (`observed_state`) is tested by comparing state ids.

Ops whose outcome is unknown (info, or no completion) have a call entry and no return entry: they may be
linearized anywhere after their call or never (Knossos's reading of a crashed op). The part is linearizable
once the walk passes the end of the list, i.e. every op with a known outcome is linearized. Unknown ops last:
their call entries are kept out of the list, and a configuration tries them (those invoked before the
completion the walk is stuck at, in call order) only after every op with a known outcome it can place, so
that the configurations without them are explored, and have failed, first. Two consequences prune:
- an unknown op that would leave the state as it is is not tried there: leaving it out of a linearization
  changes no state, so whatever works with it works without it;
- where the model says states only grow (`Model.extends`, `Model.resets`: the kv model's appends, with puts
  as the resets), a configuration whose state the next pinned read to complete would not extend fails, unless
  a reset invoked before that read's completion is still to place;
- a configuration (L + u, s) with u unknown is dominated by (L, s): every linearization that extends the
  first extends the second with u left out. When (L, s) is already remembered and is no ancestor on the
  stack (the new op is in L + u and in no ancestor), it failed, so (L + u, s) fails too; the check is made
  for every unknown op linearized so far.

Two exchange arguments prune the search as well without changing any verdict (all prunings are checked
against a brute-force search in tests/linearizable): undoing a read-only op (the model's `read_only`) undoes its parent too, since
a read that fits now could have been placed now in any order that works; and of several ops with unknown
outcome, equal input and output, all invoked, only the first not yet linearized is tried (they are
interchangeable).

Budgets: `deadline` (a time.monotonic() value; the only clock read, checked every few thousand backtracks:
a time budget cannot be deterministic, which is why its outcome is "timeout", never a verdict) and
`memory_bytes` (an estimate of what the search remembers: configurations, memoized steps and interned states,
each counted by a rough size; past it the outcome is "memory", well before the process could run out) and
`max_configs` (a plain cap on configurations and memoized steps, for tests). `stop` (an object with
`is_set()`) lets another process end the search when a different part already failed.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from checkers.linearizable.model import UNKNOWN, Entry, Model
from harness.op import INFO, INVOKE, History, Op

__all__ = ["PartResult", "entries_of", "replay", "search"]

OK = "ok"
ILLEGAL = "illegal"
TIMEOUT = "timeout"
MEMORY = "memory"
STOPPED = "stopped"

# Rough sizes for the memory budget: a set slot + an int object; a dict slot + small int; see _approx_size.
_CONFIG_BYTES = 100
_STEP_BYTES = 80
_MORE_LONGEST = 2  # how many other partial linearizations of the longest length to keep
_NO_RET = -2  # match[] of a call whose op has no return entry (outcome unknown)
_RETURN = -1  # match[] of a return entry


@dataclass(frozen=True)
class PartResult:
    """What the search found for one part. Ops are named by their `Entry.id` within the part.

    `linearization` is a full linearization (ok); `longest` the longest partial linearization met (illegal,
    or where the budget ran out); `blocked` the op whose completion was reached while it could not be
    linearized at the end of `longest`; `more_longest` a few other partial linearizations of the same length
    with their blocked op; `configs` how many configurations were remembered."""

    key: object
    outcome: str
    n_ops: int
    linearization: tuple[int, ...] = ()
    longest: tuple[int, ...] = ()
    blocked: int | None = None
    more_longest: tuple[tuple[tuple[int, ...], int], ...] = ()
    configs: int = 0
    cause: str = ""


def entries_of(history: History, model: Model) -> dict[Hashable, list[Entry]]:
    """The ops of `history` the model checks, as entries grouped by the model's partition key (insertion
    order = order of first appearance). Nemesis ops (non-integer processes) are skipped; a completion with
    no invocation counts as an op invoked just before it; `model.prepare` may drop ops (failed ones)."""
    parts: dict[Hashable, list[Entry]] = {}
    ops = history.ops
    open_by_process: dict[object, tuple[int, Op]] = {}
    pairs: list[tuple[int, Op, int | None, Op | None]] = []
    for pos, op in enumerate(ops):
        if not isinstance(op.process, int) or isinstance(op.process, bool):
            continue
        if op.type == INVOKE:
            prev = open_by_process.get(op.process)
            if prev is not None:  # an invoke that never completed before its process invoked again
                pairs.append((prev[0], prev[1], None, None))
            open_by_process[op.process] = (pos, op)
            continue
        opened = open_by_process.pop(op.process, None)
        if opened is None:
            pairs.append((pos, op.replace(type=INVOKE), pos, op))
        else:
            pairs.append((opened[0], opened[1], pos, op))
    for pos, op in open_by_process.values():
        pairs.append((pos, op, None, None))
    pairs.sort(key=lambda p: p[0])
    prepare = model.prepare
    part_key = model.partition_key
    for call, inv, ret, comp in pairs:
        prepared = prepare(inv, comp)
        if prepared is None:
            continue
        input, output = prepared
        known = comp is not None and comp.type != INFO
        key = part_key(input)
        lst = parts.setdefault(key, [])
        lst.append(Entry(id=len(lst), process=inv.process, input=input, output=output, call=call,
                         ret=ret if known else None, invoke_index=inv.index,
                         complete_index=comp.index if comp is not None else None))
    droppable = model.droppable
    if droppable is not None:
        for key, lst in parts.items():
            drop = droppable(lst)
            if drop:
                kept = [e for e in lst if e.id not in drop]
                parts[key] = [Entry(id=i, process=e.process, input=e.input, output=e.output, call=e.call,
                                    ret=e.ret, invoke_index=e.invoke_index, complete_index=e.complete_index)
                              for i, e in enumerate(kept)]
    return parts


def _approx_size(x: object, depth: int = 0) -> int:
    """Bytes a state takes, roughly (containers two levels deep; what is deeper counts as 64 bytes)."""
    if isinstance(x, (str, bytes)):
        return 50 + len(x)
    if isinstance(x, (tuple, list, frozenset, set)):
        base = 56 + 16 * len(x)
        return base + (sum(_approx_size(i, depth + 1) for i in x) if depth < 2 else 64 * len(x))
    if isinstance(x, dict):
        return 64 + 100 * len(x)
    return 32


def _ended(key: object, outcome: str, n: int, best_path: list[int], best_block: int | None,
           others: list[tuple[tuple[int, ...], int]], configs: int, cause: str = "") -> PartResult:
    return PartResult(key=key, outcome=outcome, n_ops=n, longest=tuple(best_path), blocked=best_block,
                      more_longest=tuple(others), configs=configs, cause=cause)


def replay(model: Model, entries: list[Entry] | tuple[Entry, ...], order: Iterable[int]) -> list[object]:
    """The state after each op of `order` (entry ids), stepping the model from its initial state."""
    state = model.init()
    out = []
    for i in order:
        e = entries[i]
        _ok, state = model.step(state, e.input, e.output)
        out.append(state)
    return out


def search(model: Model, key: object, entries: list[Entry] | tuple[Entry, ...], *, deadline: float | None = None,
           max_configs: int | None = None, memory_bytes: int | None = None, stop: Any = None) -> PartResult:
    """Is this part linearizable? See the module docstring."""
    n = len(entries)
    if n == 0:
        return PartResult(key=key, outcome=OK, n_ops=0)
    # Slots: 0..2n-1 events, H = head sentinel, T = tail sentinel.
    events: list[tuple[int, int, int]] = []  # (position, order, slot-kind) -> sorted
    for x in entries:
        events.append((x.call, 0, x.id))
        if x.ret is not None:
            events.append((x.ret, 1, x.id))
    events.sort()
    nslots = len(events)
    H = nslots
    T = nslots + 1
    op_of = [0] * nslots
    match = [_RETURN] * nslots
    call_slot = [0] * n
    for slot, (_pos, kind, oid) in enumerate(events):
        op_of[slot] = oid
        if kind == 0:
            call_slot[oid] = slot
            match[slot] = _NO_RET
        else:
            match[call_slot[oid]] = slot
    prv = [s - 1 for s in range(nslots)] + [-1, nslots - 1]
    prv[0] = H
    nxt = [s + 1 for s in range(nslots)] + [0, T]
    nxt[nslots - 1] = T
    bit = [1 << i for i in range(n)]

    # Interned states and memoized steps.
    step = model.step
    states: list[object] = [model.init()]
    state_id: dict[object, int] = {states[0]: 0}
    trans: list[dict[int, int]] = [{} for _ in range(n)]
    inputs = [x.input for x in entries]
    outputs = [x.output for x in entries]
    # Ops with unknown outcome and equal input and output are interchangeable once invoked (no completion
    # bounds them): only the first not yet linearized of each such class is tried. prev_twin[o] is the
    # previous op of o's class in call order (-1 if none).
    prev_twin = [-1] * n
    last_of_class: dict[object, int] = {}
    for ent in sorted(entries, key=lambda x: x.call):
        if ent.ret is not None:
            continue
        try:
            cls = (ent.input, ent.output)
            hash(cls)
        except TypeError:
            continue
        prev_twin[ent.id] = last_of_class.get(cls, -1)
        last_of_class[cls] = ent.id
    read_only = model.read_only
    ro = [bool(read_only(x.input, x.output)) for x in entries] if read_only is not None else [False] * n
    # need[o]: the id of the one state a read-only op is legal in (-1: ask the model's step).
    need = [-1] * n
    observed_state = model.observed_state
    if observed_state is not None:
        for x in entries:
            if ro[x.id]:
                st = observed_state(x.input, x.output)
                if st is not UNKNOWN:
                    found = state_id.get(st)
                    if found is None:
                        found = len(states)
                        states.append(st)
                        state_id[st] = found
                    need[x.id] = found

    # Growing states (Model.extends): a read still to place pins the state it saw; when no op that resets
    # the state (Model.resets) may come before that read, every state until then only extends the current
    # one, so a state the pinned one does not extend fails. The read tested is the pinned one that completes
    # first (the nearest constraint); pinned: (completion, bit, state id, bits of resetting ops invoked before).
    extends = model.extends
    pinned: list[tuple[int, int, int, int]] = []
    if extends is not None and model.resets is not None:
        resets = model.resets
        resetting = [(x.call, bit[x.id]) for x in entries if resets(x.input)]
        pinned = sorted((x.ret, bit[x.id], need[x.id], sum(b for c, b in resetting if c < x.ret))
                        for x in entries if need[x.id] >= 0 and x.ret is not None)

    def fails_ahead(s: int, lin_now: int) -> bool:
        for _ret, b, t, reset_before in pinned:
            if not lin_now & b:
                return not reset_before & ~lin_now and extends is not None and not extends(states[s], states[t])
        return False

    computed = [0, 0]  # memoized steps, bytes of interned states: both count against the memory budget

    def compute(o: int, s: int) -> int:
        computed[0] += 1
        ok, nstate = step(states[s], inputs[o], outputs[o])
        r = -1
        if ok:
            found = state_id.get(nstate)
            if found is None:
                r = len(states)
                states.append(nstate)
                state_id[nstate] = r
                computed[1] += _approx_size(nstate)
            else:
                r = found
        trans[o][s] = r
        return r

    twin_bit = [0] * nslots
    need_at = [-1] * nslots
    trans_at: list[dict[int, int]] = [{}] * nslots
    bit_at = [0] * nslots
    for slot in range(nslots):
        o = op_of[slot]
        trans_at[slot] = trans[o]
        bit_at[slot] = bit[o]
        if match[slot] != _RETURN:
            need_at[slot] = need[o]
            if match[slot] == _NO_RET and prev_twin[o] >= 0:
                twin_bit[slot] = bit[prev_twin[o]]

    seen: set[int] = set()
    cap = max_configs if max_configs is not None else -1
    mem = memory_bytes if memory_bytes is not None else -1
    per_config = _CONFIG_BYTES + n // 8
    calls: list[int] = []  # flat stack: slot, state id, slot, state id, ...
    lin = 0
    sid = 0
    best = -1
    best_path: list[int] = []
    best_block: int | None = None
    others: list[tuple[tuple[int, ...], int]] = []  # more longest partial linearizations, with their blocked op
    backtracks = 0

    # Ops with unknown outcome are out of the linked list: they never block the walk, and they are tried
    # last, only once the walk is stuck at a completion (see the module docstring: "unknown ops last").
    unknown_slots = [slot for slot in range(nslots) if match[slot] == _NO_RET]
    unknown_index = {slot: i for i, slot in enumerate(unknown_slots)}
    for slot in unknown_slots:
        p = prv[slot]
        q = nxt[slot]
        nxt[p] = q
        prv[q] = p
    n_unknown = len(unknown_slots)
    unknown_lin: list[int] = []  # bits of the linearized ops with unknown outcome, in stack order

    e = nxt[H]
    ui = -1  # >= 0: the walk is stuck at completion r; unknown_slots[ui:] are still to try
    r = T
    while True:
        if ui < 0:
            if e == T:
                order = tuple(op_of[calls[i]] for i in range(0, len(calls), 2))
                return PartResult(key=key, outcome=OK, n_ops=n, linearization=order, configs=len(seen))
            m = match[e]
            if m != _RETURN:
                # Per-slot copies of the op's facts (need_at, trans_at, bit_at): one index fewer per visit on
                # the hottest path; the walk visits a call entry many times per configuration.
                nd = need_at[e]
                if nd >= 0:
                    if sid != nd:
                        e = nxt[e]
                        continue
                    ns = sid
                else:
                    ns = trans_at[e].get(sid, -2)
                    if ns == -2:
                        ns = compute(op_of[e], sid)
                if ns >= 0:
                    nl = lin | bit_at[e]
                    k = (ns << n) | nl
                    if k not in seen:
                        seen.add(k)
                        if pinned and ns != sid and fails_ahead(ns, nl):
                            e = nxt[e]
                            continue
                        calls.append(e)
                        calls.append(sid)
                        sid = ns
                        lin = nl
                        p = prv[e]
                        q = nxt[e]
                        nxt[p] = q
                        prv[q] = p
                        p = prv[m]
                        q = nxt[m]
                        nxt[p] = q
                        prv[q] = p
                        e = nxt[H]
                        continue
                e = nxt[e]
                continue
            r = e  # the first completion whose op is not linearized: now the unknown ops invoked before it
            ui = 0
        pushed = False
        while ui < n_unknown:
            u = unknown_slots[ui]
            if u > r:
                break
            ui += 1
            if lin & bit_at[u]:
                continue
            tb = twin_bit[u]
            if tb and not lin & tb:
                continue
            ns = trans_at[u].get(sid, -2)
            if ns == -2:
                ns = compute(op_of[u], sid)
            if ns < 0 or ns == sid:
                continue  # illegal here, or changes nothing: leaving it out does the same (module docstring)
            nl = lin | bit_at[u]
            k = (ns << n) | nl
            if k in seen:
                continue
            seen.add(k)
            if pinned and fails_ahead(ns, nl):
                continue
            for b in unknown_lin:
                if k ^ b in seen:
                    break  # dominated by a configuration that failed (module docstring)
            else:
                unknown_lin.append(bit_at[u])
                calls.append(u)
                calls.append(sid)
                sid = ns
                lin = nl
                pushed = True
                break
        if pushed:
            ui = -1
            e = nxt[H]
            continue
        # Stuck at completion r and nothing more to try here: backtrack.
        depth = len(calls)
        if depth >= best:
            if depth > best:
                best = depth
                best_path = [op_of[calls[i]] for i in range(0, depth, 2)]
                best_block = op_of[r]
                others = []
            elif len(others) < _MORE_LONGEST:
                others.append((tuple(op_of[calls[i]] for i in range(0, depth, 2)), op_of[r]))
        if not calls:
            return _ended(key, ILLEGAL, n, best_path, best_block, others, len(seen))
        backtracks += 1
        if not backtracks & 0x3FF:
            if cap >= 0 and len(seen) + computed[0] > cap:
                return _ended(key, MEMORY, n, best_path, best_block, others, len(seen),
                              f"memory budget: more than {cap} configurations and steps to remember")
            if mem >= 0:
                used = len(seen) * per_config + computed[0] * _STEP_BYTES + computed[1]
                if used > mem:
                    return _ended(key, MEMORY, n, best_path, best_block, others, len(seen),
                                  f"memory budget of {mem / (1 << 20):.0f} MiB spent "
                                  f"({len(seen)} configurations, {len(states)} states)")
            if deadline is not None and time.monotonic() > deadline:
                return _ended(key, TIMEOUT, n, best_path, best_block, others, len(seen), "time budget ran out")
            if stop is not None and stop.is_set():
                return PartResult(key=key, outcome=STOPPED, n_ops=n, configs=len(seen),
                                  cause="stopped: another part is not linearizable")
        while True:
            sid = calls.pop()
            e = calls.pop()
            o = op_of[e]
            lin ^= bit[o]
            m = match[e]
            if m >= 0:
                p = prv[m]
                q = nxt[m]
                nxt[p] = m
                prv[q] = m
                p = prv[e]
                q = nxt[e]
                nxt[p] = e
                prv[q] = e
            else:
                unknown_lin.pop()
            if not ro[o] or not calls:
                break
            # The op just undone is read-only (the model says it never changes any state): whenever a
            # linearization extends the prefix before it, one extends the prefix with it (move it to the
            # front: it changes no state, and every op that completed before its invocation is in the prefix
            # already, since no pending completion precedes its invocation). Its subtree failed, so the prefix
            # before it fails too: keep undoing.
        if ro[o] and not calls:
            return _ended(key, ILLEGAL, n, best_path, best_block, others, len(seen))
        if m >= 0:
            ui = -1
            e = nxt[e]
        else:
            # Back in the configuration that tried unknown op e while stuck at its first open completion:
            # find that completion again and go on with the unknown ops after e.
            ui = unknown_index[e] + 1
            r = nxt[H]
            while match[r] != _RETURN:
                r = nxt[r]
