"""The linearizability checker: a history, a model -> a verdict with a counterexample.

Owns `LinearizableChecker` (the class workloads use directly) and the policy around the search: splitting the
history into the model's parts (P-compositionality), checking them smallest first, in parallel processes
when that pays, stopping at the first illegal part, budgets (time, memory) and turning results into a
`Verdict`. Does not own the search (`search.py`), models (`models.py`), the words of a counterexample
(`explain.py`) nor the HTML page (`html.py`).

Verdicts: False as soon as one part is not linearizable (the smallest illegal part found is reported);
"unknown" if a budget ran out on some part and none is illegal; True only when every part has a full
linearization. Never a pass by default: an empty history is valid only because there is nothing to order.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from checkers.linearizable import explain
from checkers.linearizable.model import Entry, Independent, Model
from checkers.linearizable.models import find_model
from checkers.linearizable.search import (
    ILLEGAL,
    MEMORY,
    OK,
    STOPPED,
    TIMEOUT,
    PartResult,
    entries_of,
    search,
)
from harness.checker import UNKNOWN, FailureClass, Finding, Verdict
from harness.op import History

if TYPE_CHECKING:
    from concurrent.futures import Future

    from harness.test import Test

__all__ = ["PARALLEL_MIN_OPS", "LinearizableChecker"]

# Parts are checked in this process first; only when that has taken PARALLEL_AFTER_S seconds and at least two
# parts (and PARALLEL_MIN_OPS ops) remain do the rest go to worker processes. Most histories are decided
# long before (a synthetic register run of 9,000 ops on 60 keys checks in 0.4 s in-process and 0.55 s with
# two workers, fork and pickling included), so forking only pays on histories that are hard to check.
PARALLEL_AFTER_S = 0.5
PARALLEL_MIN_OPS = 1000
_MIB = 1 << 20

_stop_event: object = None


def _init_worker(stop: object) -> None:
    global _stop_event
    _stop_event = stop


def _search_in_worker(model: Model, key: object, entries: list[Entry], deadline: float | None,
                      memory_bytes: int) -> PartResult:
    return search(model, key, entries, deadline=deadline, memory_bytes=memory_bytes, stop=_stop_event)


def _memory_bytes(memory_limit_mb: float, share: int) -> int:
    """The search's share of the memory budget. The rest of the process (history, entries, interpreter)
    is outside it: the budget caps what grows with the search."""
    return max(1 << 16, int(memory_limit_mb * _MIB / share))


@dataclass(frozen=True, kw_only=True)
class LinearizableChecker:
    """Porcupine-style linearizability checker.

    `model`: a model name (see `checkers.linearizable.models`) or a `Model`; `init`: its initial value
    (a name only); `independent`: check each key of `(key, value)` ops on its own; `timeout`: seconds for
    the whole check (None = no limit); `memory_limit_mb`: cap on what the search may remember; `workers`:
    processes for independent parts (None = as many as CPUs, 1 = no processes); `html`: write
    `linearizable.html` into out_dir.
    """

    model: Model | str = "cas-register"
    init: object = None
    independent: bool = False
    timeout: float | None = 60.0
    memory_limit_mb: float = 1024.0
    workers: int | None = None
    html: bool = True
    name: str = "linearizable"

    def resolved_model(self) -> Model:
        if isinstance(self.model, str):
            return find_model(self.model, self.init, independent=self.independent)
        return Independent(self.model) if self.independent else self.model

    def check(self, test: Test | None, history: History, out_dir: str | os.PathLike[str] | None) -> Verdict:
        model = self.resolved_model()
        start = time.monotonic()
        deadline = None if self.timeout is None else start + self.timeout
        parts = entries_of(history, model)
        ordered = sorted(parts.items(), key=lambda kv: len(kv[1]))
        total = sum(len(v) for v in parts.values())
        results = self._run(model, ordered, deadline)
        return self._verdict(model, history, parts, results, total, out_dir)

    # --- running the parts ---------------------------------------------------------------------------

    def _workers(self, n_parts: int, total: int, model: Model) -> int:
        if n_parts < 2 or total < PARALLEL_MIN_OPS:
            return 1
        w = self.workers if self.workers is not None else (os.cpu_count() or 1)
        w = min(w, n_parts)
        if w < 2:
            return 1
        try:
            pickle.dumps(model)
        except Exception:  # noqa: BLE001 - a model that cannot travel to a worker is checked in-process
            return 1
        return w

    def _run(self, model: Model, ordered: list[tuple[Hashable, list[Entry]]],
             deadline: float | None) -> list[PartResult]:
        results: list[PartResult] = []
        start = time.monotonic()
        considered = False
        for i, (key, entries) in enumerate(ordered):
            if not considered and time.monotonic() - start >= PARALLEL_AFTER_S:
                considered = True
                rest = ordered[i:]
                workers = self._workers(len(rest), sum(len(e) for _k, e in rest), model)
                if workers > 1:
                    return results + self._run_parallel(model, rest, deadline, workers)
            r = search(model, key, entries, deadline=deadline, memory_bytes=_memory_bytes(self.memory_limit_mb, 1))
            results.append(r)
            if r.outcome == ILLEGAL:
                break
        return results

    def _run_parallel(self, model: Model, ordered: list[tuple[Hashable, list[Entry]]], deadline: float | None,
                      workers: int) -> list[PartResult]:
        # fork, not spawn/forkserver: those re-import the main module, which breaks under scripts and stdin.
        # Known limit: forking a process with other threads running could deadlock a child on a lock some
        # thread held; the worker only runs `search` (pure Python, no imports, no logging), which keeps that
        # risk small. Set workers=1 to never fork.
        import multiprocessing  # here: most checks never fork, and these imports cost start-up time
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        ctx = multiprocessing.get_context("fork")
        stop = ctx.Event()
        results: list[PartResult] = []
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(stop,)) as pool:
            pending: set[Future[PartResult]] = set()
            # Largest parts first, so that the tail of the run is short parts spread over the workers.
            for key, entries in reversed(ordered):
                pending.add(pool.submit(_search_in_worker, model, key, entries, deadline,
                                        _memory_bytes(self.memory_limit_mb, workers)))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    if fut.cancelled():
                        continue
                    r = fut.result()
                    results.append(r)
                    if r.outcome == ILLEGAL and not stop.is_set():
                        stop.set()
                        for p in pending:
                            p.cancel()
        return [r for r in results if r.outcome != STOPPED]

    # --- the verdict ---------------------------------------------------------------------------------

    def _verdict(self, model: Model, history: History, parts: dict[Hashable, list[Entry]],
                 results: list[PartResult], total: int, out_dir: str | os.PathLike[str] | None) -> Verdict:
        counts = {OK: 0, ILLEGAL: 0, TIMEOUT: 0, MEMORY: 0}
        for r in results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        illegal = sorted((r for r in results if r.outcome == ILLEGAL), key=lambda r: (r.n_ops, repr(r.key)))
        unknown = [r for r in results if r.outcome in (TIMEOUT, MEMORY)]
        details: dict[str, object] = {
            "model": model.name,
            "parts": len(parts),
            "ops": total,
            "parts_checked": len(results),
            "outcomes": {k: v for k, v in counts.items() if v},
            "max_configurations": max((r.configs for r in results), default=0),
        }
        findings: list[Finding] = []
        files: list[str] = []
        if illegal:
            worst = illegal[0]
            cex = explain.counterexample(model, history, parts[worst.key], worst, partitioned=model.partitioned)
            details["counterexample"] = cex.details
            findings.append(cex.finding)
            valid: Any = False
            summary = cex.finding.diagnosis
        elif unknown:
            valid = UNKNOWN
            causes = sorted({r.cause for r in unknown})
            details["unknown_parts"] = [{"key": explain.show_key(r.key), "ops": r.n_ops, "cause": r.cause,
                                         "configurations": r.configs} for r in unknown[:20]]
            summary = (f"unknown: {len(unknown)} of {len(parts)} part(s) not decided ({'; '.join(causes)}); "
                       f"no part found illegal")
            findings.append(Finding(kind="linearizability-undecided", failure_class=FailureClass.INCOMPLETE,
                                    diagnosis=summary,
                                    explanation=tuple(f"{explain.show_key(r.key)}: {r.n_ops} ops, {r.cause} after "
                                                      f"{r.configs} configurations" for r in unknown[:20])))
        else:
            valid = True
            summary = (f"linearizable: {total} ops in {len(parts)} part(s) under model {model.name}"
                       if total else "linearizable: no ops to order")
        if out_dir is not None and self.html and total:
            from checkers.linearizable import html

            path = os.path.join(os.fspath(out_dir), "linearizable.html")
            html.write_page(path, model, history, parts, results, illegal[0] if illegal else None, summary)
            files.append("linearizable.html")
        return Verdict(valid=valid, checker=self.name, summary=summary, findings=tuple(findings),
                       details=details, files=tuple(files))
