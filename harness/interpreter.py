"""The interpreter: turns a generator into ops performed by worker threads, and records the history.

Owns the worker threads (one per client thread plus one nemesis thread), op deadlines, process retirement,
the watchdog, and appending every op to the history as it happens. It is the only part of the harness that
reads the clock (`time.monotonic_ns()` relative to the test start). Does not own generators (harness.generator),
clients or nemeses; it calls them.

Rules, as in Jepsen's interpreter:
- The generator is asked for ops and told of every invocation and completion (`update`), always under one lock,
  so it sees one sequence of events.
- A completion of type `info` (or an exception from the client) retires the process: the thread closes its
  client and continues as a new process (old + concurrency) with a fresh client.
- Every op has a deadline (`op_timeout`; nemesis ops `nemesis_timeout`). When it passes, the op is recorded
  `info` with error "timeout", the stuck thread is abandoned (Python threads cannot be killed; its late
  answer is discarded) and a new thread with a new process takes its place.
- A client that cannot be opened completes the op as `fail` (nothing was sent).
- The watchdog ends the run when nothing was invoked or completed for `watchdog` seconds.
- `record(op, is_completion)` is called under the lock, in index order; a completion is recorded before its
  worker is given its next op. The runner's record (HistoryWriter) writes every line kept so far to the OS when
  it records a completion, so a kill -9 of the harness loses at most the ops in flight (harness.op).

How the work is shared (leader/follower): a worker that completes an op records it, updates the generator and
asks it for the next ops itself; an op for its own thread it performs at once, others it hands to their
threads. The main thread only sleeps until the next deadline or scheduled op, and handles those. So in a busy
run an op costs no thread hand-off at all, which matters in CPython where every hand-off is a GIL round trip.

What the recorded times span: an invocation is recorded by the thread that performs the op, right before it
calls the client (an op handed to another thread is recorded when that thread takes it up, and its deadline runs
from then); a completion's time is read right after the call returns, before the worker waits for the lock, and
whoever holds the lock next records it before anything else. So an op's interval is its call, not the time its
thread spent waiting for the GIL or the lock while other workers ran: with one thread per worker in CPython
only one runs at a time, and intervals stretched by those waits would hide real-time orders a checker needs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness import generator as g
from harness.client import HarnessBug
from harness.op import FAIL, INFO, INVOKE, NEMESIS, Op

if TYPE_CHECKING:
    from harness.generator.core import GenLike
    from harness.test import Test

log = logging.getLogger("harness.interpreter")

_STOP = object()
_COMPLETED_TYPES = frozenset(("ok", "fail", "info"))
_IDLE_POLL_NS = 1_000_000_000  # the main thread looks at the clock at least this often
_UNRECORDED = -1  # the index of an op handed to another thread until that thread records its invocation


@dataclass
class Counters:
    """Live counts for progress display; written under the interpreter's lock."""

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
    bug: HarnessBug | None = None  # a programming error of our own code that stopped the run


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
        item: Any = None
        try:
            while True:
                if item is None:
                    item = self.inbox.get()
                    if item.__class__ is Op:  # handed over by another thread: recorded when it starts, here
                        item = interp.started(self, item)
                if item is _STOP:
                    return
                item = interp.completed(self, self._perform(item))
                if item is _STOP:
                    return
        finally:
            self._close_client()

    def _perform(self, item: Any) -> Any:
        """Do one item: an op (returns its completion), a Sleep or a Log (returns the item)."""
        if item.__class__ is not Op:  # the common case first: an op
            if isinstance(item, g.Sleep):
                time.sleep(max(0.0, item.seconds))
                return item
            if isinstance(item, g.Log):
                log.info("%s", item.message)
                return item
        op: Op = item
        test = self.interp.test
        if self.thread == NEMESIS:
            return self._invoke(test.nemesis, op)
        if self.client is None:
            assert self.node is not None  # every worker but the nemesis's is bound to a node
            try:
                self.client = test.client.open(test, self.node)
            except Exception as e:  # noqa: BLE001 - an unopenable client is a definite fail
                self.interp.note_bug(e)
                return op.replace(type="fail", error=f"no client: {type(e).__name__}: {e}")
        comp = self._invoke(self.client, op)
        if comp.type == INFO:
            self._close_client()
        return comp

    def _invoke(self, target: Any, op: Op) -> Op:
        try:
            comp = target.invoke(self.interp.test, op)
        except Exception as e:  # noqa: BLE001 - unknown outcome: the op may have happened
            if self.thread != NEMESIS:
                self.interp.note_bug(e)  # our own TypeError & co. stop the run: never the system's fault
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


class Interpreter:
    """Runs generators to exhaustion against the test's client and nemesis. Several `run`s (phases) of one
    Interpreter continue its op numbering, its processes and its time origin."""

    def __init__(
        self,
        test: Test,
        *,
        record: Callable[[Op, bool], None],
        counters: Counters | None = None,
        watchdog: float = 120.0,
        nemesis_timeout: float | None = None,
    ) -> None:
        self.test = test
        self.record = record  # record(op, is_completion): append to the history (called under the lock)
        self.counters = counters or Counters()
        self.op_timeout_ns = int(test.op_timeout * 1e9)
        self.nemesis_timeout_ns = int((nemesis_timeout or max(60.0, test.op_timeout)) * 1e9)
        self.watchdog_ns = int(watchdog * 1e9)
        self.t0 = time.monotonic_ns()
        self.nodes = list(test.nodes)
        self.index = 0  # the next op's index
        self._workers: dict[int | str, _Worker] = {}
        self._generation = 0
        self._ctx: Any = None
        self._cond = threading.Condition(threading.Lock())
        # state of the current run, guarded by _cond
        self._gen: GenLike = None
        self._outstanding: dict[int | str, tuple[Any, int]] = {}  # thread -> (item, deadline ns)
        self._last_ns = 0  # the time of the last op recorded: the history's times never step back
        # Completions in the order workers finished them, each with the time its worker read right after the call
        # returned; recorded (`_drain`) by whoever holds the lock next, before it records anything else.
        self._done: deque[tuple[_Worker, Any, int]] = deque()
        self._wake_ns: int | None = None  # when the main thread must ask again (a scheduled op)
        self._exhausted = False
        self._stopping = False
        self._last_progress = 0
        self._timeouts = 0
        self.bug: HarnessBug | None = None

    def note_bug(self, e: BaseException) -> None:
        """A worker met exception `e`: if it is a programming error of ours, stop dispatching (the ops in flight
        still complete) and keep the first such bug for the runner."""
        bug = HarnessBug.of(e)
        if bug is None:
            return
        with self._cond:
            if self.bug is None:
                self.bug = bug
                log.error("stopping the run: %s", bug.describe())
            self._stopping = True
            self._cond.notify_all()

    def node_for(self, thread: int | str) -> str | None:
        if thread == NEMESIS or not self.nodes:
            return None
        return self.nodes[int(thread) % len(self.nodes)]

    def now(self) -> int:
        return time.monotonic_ns() - self.t0

    # --- under the lock -------------------------------------------------------------------------------------

    def _worker(self, thread: int | str) -> _Worker:
        w = self._workers.get(thread)
        if w is None:
            self._generation += 1
            w = _Worker(self, thread, self._generation)
            self._workers[thread] = w
        return w

    def _drain(self) -> None:
        """Record the completions workers queued (a late answer of an abandoned worker is dropped)."""
        done, workers, outstanding = self._done, self._workers, self._outstanding
        while done:
            worker, result, t = done.popleft()
            if workers.get(worker.thread) is worker and worker.thread in outstanding:
                self._complete(worker.thread, result, max(t, self._last_ns))

    def _complete(self, thread: int | str, item: Any, t: int) -> None:
        """Record a completion (or the end of a Sleep/Log) and tell the generator; an op whose invocation was never
        recorded (it timed out in its thread's inbox) is not recorded either."""
        self._outstanding.pop(thread)
        self._last_progress = t
        ctx = self._ctx.freed(thread, t)
        if isinstance(item, Op) and item.index == _UNRECORDED:
            item = item.replace(type=FAIL)  # the generator hears it ended without effect; nothing is recorded
        elif isinstance(item, Op):
            comp = item.completed(item.type, self.index, t)
            self.index += 1
            self._last_ns = t
            self.record(comp, True)
            c = self.counters
            if thread == NEMESIS:
                c.nemesis += 1
            elif comp.type == "ok":
                c.ok += 1
            elif comp.type == "fail":
                c.fail += 1
            else:
                c.info += 1
            if comp.type == INFO and thread != NEMESIS:
                ctx = ctx.with_next_process(thread)
            item = comp
        self._ctx = ctx
        self._gen = g.update(self._gen, self.test, ctx, item)

    def _dispatch(self, me: int | str | None) -> Any:
        """Ask the generator and dispatch every op that is due. An op for thread `me` is returned for the
        caller to perform at once (no hand-off); others go to their threads' inboxes.

        Every question is asked afresh (the context changes with every event, e.g. a thread that became free),
        so a free worker is offered the next op as soon as it is free, whatever the nemesis waits for. The draws
        an answer made from the seeded RNG are kept only when the answer is dispatched: asking again is free of
        side effects, and the seed's ops do not depend on how often we asked (see `harness.rng`)."""
        mine: Any = None
        test = self.test
        rng = test.rng
        monotonic_ns, t0 = time.monotonic_ns, self.t0
        self._drain()
        while not self._stopping:
            now = monotonic_ns() - t0
            self._ctx = self._ctx.with_time(now)
            rng.checkpoint()
            res = g.op(self._gen, test, self._ctx)
            if res is None:
                rng.rollback()
                if not self._outstanding:
                    self._exhausted = True
                    self._cond.notify_all()
                break
            emitted, gen2 = res
            if emitted is g.PENDING:
                rng.rollback()
                break
            if emitted.time_ns > now:
                rng.rollback()  # not dispatched now: the same question is asked again when it is due
                if self._wake_ns is None or emitted.time_ns < self._wake_ns:
                    self._wake_ns = emitted.time_ns
                    self._cond.notify_all()
                break
            rng.commit()
            thread = self._ctx.thread_of(emitted.process)
            if isinstance(emitted, Op):
                if thread == me and mine is None:
                    item: Any = self._invoked(emitted, now)
                else:  # recorded when its thread starts it (`started`): waiting for the GIL is not the op's time
                    item = emitted.completed(INVOKE, _UNRECORDED, now)
                timeout = self._timeout_ns(thread)
            else:  # Sleep / Log: not in the history
                item = emitted
                timeout = int(getattr(emitted, "seconds", 0) * 1e9) + self.op_timeout_ns
            self._outstanding[thread] = (item, now + timeout)
            self._last_progress = now
            self._ctx = self._ctx.busy(thread)
            self._gen = g.update(gen2, test, self._ctx, item)
            if thread == me and mine is None:
                mine = item
            else:
                self._worker(thread).inbox.put(item)
        return mine

    def _invoked(self, op: Op, now: int) -> Op:
        """Record `op`'s invocation at `now` (or at the last recorded op's time, if later)."""
        now = max(now, self._last_ns)
        item = op.completed(INVOKE, self.index, now)
        self.index += 1
        self._last_ns = now
        self.record(item, False)
        self.counters.invoked += 1
        return item

    def _expire(self, now: int) -> None:
        self._drain()
        for thread, (item, deadline) in list(self._outstanding.items()):
            if now < deadline:
                continue
            w = self._workers.pop(thread, None)
            if w is not None:
                w.inbox.put(_STOP)  # it exits once its stuck call returns
            if isinstance(item, Op):
                self._timeouts += 1
                log.warning("op timed out after its deadline: %s", item)
                self._complete(thread, item.replace(type=INFO, error="timeout", node=item.node or self.node_for(thread)),
                               now)
            else:  # a Sleep or Log whose thread is stuck far past its end: free the thread
                self._complete(thread, item, now)

    # --- called by workers ----------------------------------------------------------------------------------

    def completed(self, worker: _Worker, result: Any) -> Any:
        """A worker finished `result`: queue it, record what is queued and return the worker's next item (or None
        to wait, _STOP). The completion time is read before the wait for the lock, and a completion is recorded
        before anything else is, at that time or at the last recorded op's if that is later, so the history's
        order is its time order and an interval only ever grows (which never turns a valid history invalid).
        While this worker waits for the lock, whoever holds it records the completion: a worker that loses the
        interpreter (the GIL, the lock) after its op returned does not make that op look slow."""
        self._done.append((worker, result, self.now()))
        with self._cond:
            self._drain()
            if self._workers.get(worker.thread) is not worker:
                return _STOP  # an abandoned (timed-out) worker: its late answer is discarded
            mine = self._dispatch(worker.thread)
            if mine is None and worker.thread in self._outstanding:  # another thread handed it an op meanwhile
                try:
                    mine = self._start(worker, worker.inbox.get_nowait())  # put there under this lock
                except queue.Empty:  # not expected; but never wait while holding the lock: the loop waits
                    mine = None
            if not self._outstanding or self._exhausted:
                self._cond.notify_all()
            return mine

    def started(self, worker: _Worker, op: Op) -> Any:
        """A worker takes up `op` from its inbox: record the invocation now (or _STOP if it was abandoned)."""
        with self._cond:
            self._drain()
            return self._start(worker, op)

    def _start(self, worker: _Worker, item: Any) -> Any:
        if self._workers.get(worker.thread) is not worker:
            return _STOP
        if item.__class__ is not Op or item.index != _UNRECORDED:
            return item  # a Sleep, a Log, _STOP
        now = self.now()
        op = self._invoked(item, now)
        self._outstanding[worker.thread] = (op, now + self._timeout_ns(worker.thread))  # from the recorded invocation
        return op

    def _timeout_ns(self, thread: int | str) -> int:
        return self.nemesis_timeout_ns if thread == NEMESIS else self.op_timeout_ns

    # --- the main thread ------------------------------------------------------------------------------------

    def run(self, gen: GenLike, *, t0: int | None = None) -> InterpreterResult:
        """Run `gen` until it is exhausted and every op completed (or timed out). `t0` (monotonic ns) lets
        several phases share one time origin."""
        if t0 is not None:
            self.t0 = t0
        test = self.test
        started = time.monotonic()
        first_index = self.index
        watchdog_fired = False
        cond = self._cond
        with cond:
            # Later phases keep the process of every thread: a process retired by an info is never reused.
            if self._ctx is None:
                self._ctx = g.Context.initial(test.concurrency, time_ns=self.now())
            self._gen = gen
            self._wake_ns = None
            self._exhausted = False
            self._stopping = False
            self._timeouts = 0
            self._last_progress = self.now()
            try:
                mine = self._dispatch(None)
                assert mine is None
                while not (self._exhausted and not self._outstanding):
                    now = self.now()
                    if self._stopping and not self._outstanding:
                        break
                    if not self._stopping:
                        if now - self._last_progress > self.watchdog_ns:
                            log.error("watchdog: no op invoked or completed for %.0f s; ending the run",
                                      self.watchdog_ns / 1e9)
                            watchdog_fired = self._stopping = True
                    self._expire(now)
                    if self._wake_ns is not None and now >= self._wake_ns:
                        self._wake_ns = None
                    if not self._stopping:
                        mine = self._dispatch(None)
                        assert mine is None
                    if self._exhausted and not self._outstanding:
                        break
                    limits = [now + _IDLE_POLL_NS]
                    limits += [d for _, d in self._outstanding.values()]
                    if self._wake_ns is not None:
                        limits.append(self._wake_ns)
                    cond.wait(max(0.0, (min(limits) - self.now()) / 1e9))
            finally:
                self._stopping = True
                workers = list(self._workers.values())
                self._workers.clear()
                for w in workers:
                    w.inbox.put(_STOP)
                for thread in list(self._outstanding):  # ended by the watchdog or a stop: never came back
                    self._ctx = self._ctx.free(thread)
                self._outstanding.clear()
                self._done.clear()
        for w in workers:
            w.t.join(timeout=max(1.0, test.op_timeout))
        return InterpreterResult(
            ops=self.index - first_index, watchdog_fired=watchdog_fired, timeouts=self._timeouts,
            duration_s=time.monotonic() - started, bug=self.bug,
        )
