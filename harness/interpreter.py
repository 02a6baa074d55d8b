"""The interpreter: turns a generator into ops performed by worker threads, and records the history.

Owns the worker threads (one per client thread plus one nemesis thread), op deadlines, process retirement,
the watchdog, and appending every op to the history as it happens. It is the only part of the harness that
reads the clock (`time.monotonic_ns()` relative to the test start). Does not own generators (harness.generator),
clients or nemeses; it calls them.

Rules, as in Jepsen's interpreter:
- The main thread asks the generator for an op, gives it to the op's thread, and feeds every invocation and
  completion back to the generator with `update`.
- A completion of type `info` (or an exception from the client) retires the process: the thread closes its
  client and continues as a new process (old + concurrency) with a fresh client.
- Every op has a deadline (`op_timeout`; nemesis ops `nemesis_timeout`). When it passes, the op is recorded
  `info` with error "timeout", the stuck thread is abandoned (Python threads cannot be killed; its late
  answer is discarded) and a new thread with a new process takes its place.
- A client that cannot be opened completes the op as `fail` (nothing was sent).
- The watchdog ends the run when nothing was invoked or completed for `watchdog` seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import generator as g
from harness.op import INFO, INVOKE, NEMESIS, Op, OpType

log = logging.getLogger("harness.interpreter")

_STOP = object()
_COMPLETED_TYPES = frozenset(("ok", "fail", "info"))


@dataclass
class Counters:
    """Live counts for progress display; written by the interpreter thread only."""

    invoked: int = 0
    ok: int = 0
    fail: int = 0
    info: int = 0
    nemesis: int = 0
    active_faults: tuple[str, ...] = ()
    started_ns: int = 0


@dataclass(frozen=True, kw_only=True)
class InterpreterResult:
    ops: int
    watchdog_fired: bool
    timeouts: int
    duration_s: float


class _Worker:
    """One thread performing the ops of one generator thread (a client thread or the nemesis)."""

    def __init__(self, interp: Interpreter, thread: int | str, generation: int) -> None:
        self.interp = interp
        self.thread = thread
        self.generation = generation
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.client: Any = None
        self.node = interp.node_for(thread)
        self.t = threading.Thread(target=self._loop, name=f"worker-{thread}-{generation}", daemon=True)
        self.t.start()

    def _loop(self) -> None:
        interp = self.interp
        test = interp.test
        out = interp.completions
        is_nemesis = self.thread == NEMESIS
        t0 = interp.t0
        clock = time.monotonic_ns
        try:
            while True:
                item = self.inbox.get()
                if item is _STOP:
                    return
                if isinstance(item, g.Sleep):
                    time.sleep(max(0.0, item.seconds))
                    out.put((self.thread, self.generation, item, clock() - t0))
                    continue
                if isinstance(item, g.Log):
                    log.info("%s", item.message)
                    out.put((self.thread, self.generation, item, clock() - t0))
                    continue
                op: Op = item
                if is_nemesis:
                    comp = self._invoke(test.nemesis, op)
                else:
                    if self.client is None:
                        try:
                            self.client = test.client.open(test, self.node)
                        except Exception as e:  # noqa: BLE001 - an unopenable client is a definite fail
                            comp = op.replace(type="fail", error=f"no client: {type(e).__name__}: {e}")
                            out.put((self.thread, self.generation, comp, clock() - t0))
                            continue
                    comp = self._invoke(self.client, op)
                    if comp.type == INFO:
                        self._close_client()
                out.put((self.thread, self.generation, comp, clock() - t0))
        finally:
            self._close_client()

    def _invoke(self, target: Any, op: Op) -> Op:
        try:
            comp = target.invoke(self.interp.test, op)
        except Exception as e:  # noqa: BLE001 - unknown outcome: the op may have happened
            return op.replace(type=INFO, error=f"{type(e).__name__}: {e}")
        if not isinstance(comp, Op) or comp.type not in _COMPLETED_TYPES:
            return op.replace(type=INFO, error=f"invoke returned {comp!r}, not a completed op")
        if comp.process != op.process or comp.f != op.f:
            comp = comp.replace(process=op.process, f=op.f)
        return comp

    def _close_client(self) -> None:
        if self.client is not None:
            c, self.client = self.client, None
            try:
                c.close(self.interp.test)
            except Exception:  # noqa: BLE001 - close must not raise; if it does, note it and move on
                log.debug("client close failed", exc_info=True)

    def send(self, item: Any) -> None:
        self.inbox.put(item)


class Interpreter:
    """Runs one generator to exhaustion against the test's client and nemesis."""

    def __init__(
        self,
        test: Any,
        *,
        record: Callable[[Op, bool], None],
        counters: Counters | None = None,
        watchdog: float = 120.0,
        nemesis_timeout: float | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.test = test
        self.record = record  # record(op, is_completion): append to the history
        self.counters = counters or Counters()
        self.op_timeout_ns = int(test.op_timeout * 1e9)
        self.nemesis_timeout_ns = int((nemesis_timeout or max(60.0, test.op_timeout)) * 1e9)
        self.watchdog_ns = int(watchdog * 1e9)
        self.should_stop = should_stop
        self.completions: queue.SimpleQueue[tuple[Any, int, Any, int]] = queue.SimpleQueue()
        self.t0 = time.monotonic_ns()
        self.nodes = list(test.nodes)
        self._workers: dict[int | str, _Worker] = {}
        self._generation = 0
        self.index = 0  # the next op's index; phases run by one Interpreter continue the numbering
        self._ctx: Any = None

    def node_for(self, thread: int | str) -> str | None:
        if thread == NEMESIS or not self.nodes:
            return None
        return self.nodes[int(thread) % len(self.nodes)]

    def _worker(self, thread: int | str) -> _Worker:
        w = self._workers.get(thread)
        if w is None:
            self._generation += 1
            w = _Worker(self, thread, self._generation)
            self._workers[thread] = w
        return w

    def now(self) -> int:
        return time.monotonic_ns() - self.t0

    def run(self, gen: Any, *, t0: int | None = None) -> InterpreterResult:
        """Run `gen` until it is exhausted and every op completed (or timed out). `t0` (monotonic ns) lets
        several phases share one time origin."""
        if t0 is not None:
            self.t0 = t0
        test = self.test
        # Later phases keep the process of every thread: a process retired by an info is never reused.
        ctx = self._ctx.with_time(self.now()) if self._ctx is not None else g.Context.initial(test.concurrency, time_ns=self.now())
        index = self.index
        # outstanding: thread -> (invoke op, deadline ns)
        outstanding: dict[int | str, tuple[Any, int]] = {}
        last_progress = self.now()
        watchdog_fired = False
        timeouts = 0
        counters = self.counters
        record = self.record
        completions = self.completions
        started = time.monotonic()
        deferred: tuple[Any, Any] | None = None

        def complete(thread: int | str, item: Any, t: int) -> None:
            nonlocal ctx, gen, index, last_progress
            inv, _deadline = outstanding.pop(thread)
            last_progress = t
            ctx = ctx.with_time(max(ctx.time_ns, t))
            if isinstance(item, Op):
                comp = item.completed(item.type, index, t)
                index += 1
                record(comp, True)
                kind = comp.type
                if thread == NEMESIS:
                    counters.nemesis += 1
                elif kind == "ok":
                    counters.ok += 1
                elif kind == "fail":
                    counters.fail += 1
                else:
                    counters.info += 1
                ctx = ctx.free(thread)
                if kind == INFO and thread != NEMESIS:
                    ctx = ctx.with_next_process(thread)
                gen = g.update(gen, test, ctx, comp)
            else:  # Sleep / Log
                ctx = ctx.free(thread)
                gen = g.update(gen, test, ctx, item)

        def handle(msg: tuple[Any, int, Any, int]) -> None:
            thread, generation, item, t = msg
            w = self._workers.get(thread)
            if w is None or w.generation != generation or thread not in outstanding:
                return  # a late answer of an abandoned (timed-out) worker: discarded
            complete(thread, item, t)

        def expire(now: int) -> None:
            nonlocal timeouts
            for thread, (inv, deadline) in list(outstanding.items()):
                if now >= deadline and isinstance(inv, Op):
                    timeouts += 1
                    w = self._workers.pop(thread, None)
                    if w is not None:
                        w.send(_STOP)  # it exits once its stuck call returns
                    log.warning("op timed out after its deadline: %s", inv)
                    complete(thread, inv.replace(type=INFO, error="timeout"), now)

        def next_deadline() -> int | None:
            ds = [d for _, d in outstanding.values()]
            return min(ds) if ds else None

        def wait(until_ns: int | None) -> None:
            """Block for a completion until `until_ns` (or the nearest deadline), then handle what came."""
            now = self.now()
            d = next_deadline()
            limit = min(x for x in (until_ns, d, now + 1_000_000_000) if x is not None)
            timeout = max(0.0, (limit - now) / 1e9)
            try:
                msg = completions.get(timeout=timeout) if timeout > 0 else completions.get_nowait()
            except queue.Empty:
                expire(self.now())
                return
            handle(msg)

        try:
            while True:
                # drain completions first, as Jepsen does
                while True:
                    try:
                        msg = completions.get_nowait()
                    except queue.Empty:
                        break
                    handle(msg)
                now = self.now()
                if outstanding:
                    d = next_deadline()
                    if d is not None and now >= d:
                        expire(now)
                if self.should_stop():
                    log.warning("stop requested: no new ops")
                    break
                if now - last_progress > self.watchdog_ns:
                    log.error("watchdog: no op invoked or completed for %.0f s; ending the run", self.watchdog_ns / 1e9)
                    watchdog_fired = True
                    break
                ctx = ctx.with_time(now)
                if deferred is not None and deferred[0] is gen:
                    res = deferred[1]  # nothing happened since we asked: the same op, without drawing again
                else:
                    res = g.op(gen, test, ctx)
                deferred = None
                if res is None:
                    if not outstanding:
                        break
                    wait(None)
                    continue
                emitted, gen2 = res
                if emitted is g.PENDING:
                    wait(None)
                    continue
                t_op = emitted.time_ns
                if t_op > now:
                    # Keep the answer: asking again before any event would draw from the seeded RNG again,
                    # and replays of a seed would then depend on timing.
                    deferred = (gen, res)
                    wait(t_op)
                    continue
                thread = ctx.thread_of(emitted.process)
                if isinstance(emitted, Op):
                    op = emitted.completed(INVOKE, index, now)
                    index += 1
                    record(op, False)
                    counters.invoked += 1
                    timeout_ns = self.nemesis_timeout_ns if thread == NEMESIS else self.op_timeout_ns
                    outstanding[thread] = (op, now + timeout_ns)
                    item: Any = op
                else:  # Sleep / Log: not in the history
                    op = emitted
                    outstanding[thread] = (op, now + int(getattr(op, "seconds", 0) * 1e9) + self.op_timeout_ns)
                    item = op
                last_progress = now
                ctx = ctx.busy(thread)
                gen = g.update(gen2, test, ctx, op)
                self._worker(thread).send(item)
            # drain: wait for outstanding ops (each bounded by its deadline)
            while outstanding:
                wait(None)
        finally:
            for w in self._workers.values():
                w.send(_STOP)
            for w in list(self._workers.values()):
                w.t.join(timeout=max(1.0, test.op_timeout))
            self._workers.clear()
        ops_this_run = index - self.index
        self.index = index
        for thread in list(outstanding):  # a run ended by the watchdog or a stop: free what never came back
            ctx = ctx.free(thread)
        self._ctx = ctx
        return InterpreterResult(
            ops=ops_this_run, watchdog_fired=watchdog_fired, timeouts=timeouts, duration_s=time.monotonic() - started
        )
