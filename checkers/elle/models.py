"""Consistency models and anomaly types, and how they relate, after Elle's `elle.consistency-model`.

Owns the model hierarchy (which model is stronger than which), the anomalies each model proscribes directly,
the implications between anomaly types (a G-single-item cycle is also a G-single, a G-nonadjacent-item, a
G2-item, a G-single-item-process ... cycle), and the derived questions a checker asks: which anomaly types a
set of expected models and anomalies makes reportable, which models a set of found anomalies rules out, and
the weakest of those (`not`) versus the rest (`also-not`). Does not own finding anomalies.

The tables follow Elle (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies from Experimental
Observations", and Adya's thesis), restricted to the transactional models Elle's list-append and rw-register
checkers speak about. Where Elle's exact table was not at hand, the entries were chosen so that every result
asserted by Elle's own tests (tests/elle, cases.json) comes out the same; those choices are marked below.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from harness.errors import BadInput

# model -> the models directly weaker than it (a -> b: every history a allows, b allows too).
_WEAKER: dict[str, tuple[str, ...]] = {
    "strict-serializable": ("serializable", "strong-session-serializable", "strong-snapshot-isolation"),
    "strong-session-serializable": ("serializable", "strong-session-snapshot-isolation"),
    "serializable": ("repeatable-read", "snapshot-isolation", "update-serializable"),
    "update-serializable": ("forward-consistent-view",),
    "strong-snapshot-isolation": ("strong-session-snapshot-isolation", "strong-read-committed"),
    "strong-session-snapshot-isolation": ("snapshot-isolation", "strong-session-read-committed"),
    "snapshot-isolation": (
        "forward-consistent-view",
        "monotonic-atomic-view",
        "monotonic-snapshot-read",
        "parallel-snapshot-isolation",
        "prefix",
        "update-atomic",
    ),
    "repeatable-read": ("cursor-stability", "monotonic-atomic-view"),
    "forward-consistent-view": ("consistent-view",),
    "consistent-view": ("cursor-stability", "monotonic-view"),
    "cursor-stability": ("read-committed",),
    "monotonic-view": ("read-committed",),
    "monotonic-snapshot-read": ("read-committed",),
    "monotonic-atomic-view": ("read-committed",),
    "parallel-snapshot-isolation": ("causal-cerone",),
    "prefix": ("causal-cerone",),
    "causal-cerone": ("read-atomic",),
    "read-atomic": ("read-committed",),
    "strong-read-committed": ("strong-session-read-committed", "strong-read-uncommitted"),
    "strong-session-read-committed": ("read-committed", "strong-session-read-uncommitted"),
    "read-committed": ("read-uncommitted",),
    "strong-read-uncommitted": ("strong-session-read-uncommitted",),
    "strong-session-read-uncommitted": ("read-uncommitted",),
    # Chosen: update-atomic (no lost updates) is incomparable with cursor-stability, as Elle's lost-update
    # test requires (`not` = {update-atomic, cursor-stability}); we place it just above read-uncommitted.
    "update-atomic": ("read-uncommitted",),
    "read-uncommitted": (),
}

ALIASES: dict[str, str] = {
    "strong-serializable": "strict-serializable",
    "PL-SS": "strict-serializable",
    "PL-3": "serializable",
    "PL-3U": "update-serializable",
    "PL-2.99": "repeatable-read",
    "PL-SI": "snapshot-isolation",
    "PL-FCV": "forward-consistent-view",
    "PL-2+": "consistent-view",
    "PL-CS": "cursor-stability",
    "PL-2L": "monotonic-view",
    "PL-MSR": "monotonic-snapshot-read",
    "PL-2": "read-committed",
    "PL-1": "read-uncommitted",
}

# model -> anomalies it proscribes directly (stronger models inherit these through _WEAKER).
_PROSCRIBES: dict[str, tuple[str, ...]] = {
    "read-uncommitted": ("G0", "duplicate-elements", "cyclic-versions", "garbage-read"),
    "read-committed": ("G1", "dirty-update", "future-read"),
    "read-atomic": ("internal",),
    "cursor-stability": ("lost-update",),
    "update-atomic": ("lost-update",),
    "consistent-view": ("G-single",),
    "repeatable-read": ("G2-item",),
    "snapshot-isolation": ("G-nonadjacent", "lost-update", "internal"),
    "serializable": ("G2",),
    "strong-session-read-uncommitted": ("G0-process",),
    "strong-read-uncommitted": ("G0-realtime",),
    "strong-session-read-committed": ("G1-process",),
    "strong-read-committed": ("G1-realtime",),
    "strong-session-snapshot-isolation": ("G-nonadjacent-process",),
    "strong-snapshot-isolation": ("G-nonadjacent-realtime",),
    "strong-session-serializable": ("G2-process",),
    "strict-serializable": ("G2-realtime",),
}


# Found when a cycle search runs out of budget but a cheaper test proves a model-violating cycle exists.
CYCLE_EXISTS_MODELS: tuple[str, ...] = (
    "read-committed",
    "strong-session-read-committed",
    "strong-read-committed",
    "snapshot-isolation",
    "strong-session-snapshot-isolation",
    "strong-snapshot-isolation",
    "serializable",
    "strong-session-serializable",
    "strict-serializable",
)
for _m in CYCLE_EXISTS_MODELS:
    _PROSCRIBES[_m] = (*_PROSCRIBES.get(_m, ()), f"{_m}-cycle-exists")


def _cycle_implications() -> dict[str, tuple[str, ...]]:
    """a -> the more general anomalies a also is. Built for the plain, -process and -realtime families: a
    cycle in the graph without process edges is also one with them, and process order is real-time order."""
    out: dict[str, list[str]] = {}
    families = ("", "-process", "-realtime")
    for i, s in enumerate(families):
        nxt = families[i + 1] if i + 1 < len(families) else None

        def add(a: str, *bs: str, s: str = s, nxt: str | None = nxt) -> None:
            out.setdefault(a + s, []).extend(b + s for b in bs)
            if nxt is not None:
                out[a + s].append(a + nxt)

        add("G0", "G1c")
        add("G1c", "G1")
        add("G1")
        add("G-single-item", "G-single", "G-nonadjacent-item")
        add("G-single", "G-nonadjacent")
        add("G-nonadjacent-item", "G-nonadjacent", "G2-item")
        add("G-nonadjacent", "G2")
        add("G2-item", "G2")
        add("G2")
    out["G1a"] = ["G1"]
    # Elle's tests report incompatible-order when G1 is asked for: contradictory read orders imply G1.
    out["incompatible-order"] = ["G1"]
    out["G1b"] = ["G1"]
    return {k: tuple(v) for k, v in out.items()}


IMPLIES: dict[str, tuple[str, ...]] = _cycle_implications()

CYCLE_TYPES: frozenset[str] = frozenset(
    a + s
    for a in ("G0", "G1c", "G-single-item", "G-nonadjacent-item", "G2-item")
    for s in ("", "-process", "-realtime")
)
NON_CYCLE_TYPES: frozenset[str] = frozenset(
    (
        "G1a",
        "G1b",
        "internal",
        "future-read",
        "dirty-update",
        "lost-update",
        "incompatible-order",
        "duplicate-elements",
        "cyclic-versions",
        "garbage-read",
    )
)
UNKNOWN_TYPES: frozenset[str] = frozenset(("empty-transaction-graph", "cycle-search-timeout"))
ALL_ANOMALIES: frozenset[str] = frozenset(IMPLIES) | CYCLE_TYPES | NON_CYCLE_TYPES | frozenset(
    a for vs in _PROSCRIBES.values() for a in vs
)
MODELS: tuple[str, ...] = tuple(sorted(_WEAKER))


def canonical_model(name: str) -> str:
    """The canonical name of a model; BadInput listing the known ones for an unknown name."""
    n = name.strip()
    n = ALIASES.get(n, n)
    if n not in _WEAKER:
        raise BadInput(f"unknown consistency model {name!r} (known: {', '.join(MODELS)})")
    return n


def check_anomaly_name(name: str) -> str:
    n = name.strip()
    if n not in ALL_ANOMALIES:
        raise BadInput(f"unknown anomaly {name!r} (known: {', '.join(sorted(ALL_ANOMALIES))})")
    return n


@cache
def weaker_closure(model: str) -> frozenset[str]:
    """The model and every model weaker than it."""
    out = {model}
    for w in _WEAKER[model]:
        out |= weaker_closure(w)
    return frozenset(out)


@cache
def implied(anomaly: str) -> frozenset[str]:
    """The anomaly and every more general anomaly it implies."""
    out = {anomaly}
    for b in IMPLIES.get(anomaly, ()):
        out |= implied(b)
    return frozenset(out)


@cache
def proscribed_by(model: str) -> frozenset[str]:
    """Every anomaly type (as named in the tables) the model proscribes, directly or through weaker models."""
    return frozenset(a for m in weaker_closure(model) for a in _PROSCRIBES.get(m, ()))


def anomalies_implying(targets: Iterable[str]) -> frozenset[str]:
    """Every known anomaly type that implies one of `targets` (including the targets)."""
    t = frozenset(targets)
    return frozenset(a for a in ALL_ANOMALIES | t if implied(a) & t)


def reportable(models: Iterable[str], anomalies: Iterable[str]) -> frozenset[str]:
    """The anomaly types that make a history invalid for these expected models and named anomalies."""
    wanted: set[str] = set(anomalies)
    for m in models:
        wanted |= proscribed_by(m)
    return anomalies_implying(wanted)


def impossible_models(found: Iterable[str]) -> frozenset[str]:
    """Models ruled out by the found anomaly types."""
    closure: set[str] = set()
    for a in found:
        closure |= implied(a)
    return frozenset(m for m in _WEAKER if proscribed_by(m) & closure)


def boundary(found: Iterable[str]) -> tuple[list[str], list[str]]:
    """(`not`, `also-not`): the weakest ruled-out models (none weaker is ruled out), and the other ruled-out
    ones, each sorted."""
    bad = impossible_models(found)
    weakest = sorted(m for m in bad if not ((weaker_closure(m) - {m}) & bad))
    also = sorted(bad - set(weakest))
    return weakest, also
