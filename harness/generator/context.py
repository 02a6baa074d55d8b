"""The generator context: what a generator may know about the world when it is asked for an op.

Owns `Context` (virtual time, which worker threads exist and which are free, which process each thread runs
as) and `ThreadFilter` (a cheap, memoised restriction of a context to some threads, used by `clients`,
`nemesis`, `reserve`, `each_thread`, `on_threads`). Does not own generators, the clock or any worker:
the interpreter (or the simulator) builds a context and advances it; generators only read it.

Threads are `0 .. concurrency-1` (client workers) and `"nemesis"`. A thread runs as one process at a time:
thread i starts as process i, the nemesis thread as process "nemesis". When an op of a client thread
completes `info` the process is retired and the thread continues as process `old + concurrency` (as in
Jepsen); the nemesis thread keeps its process.

Which free process gets an op is drawn uniformly from the test's seeded RNG (`some_free_process(test.rng)`),
as in Jepsen: with a rate limit, the lowest free thread is nearly always free when the next op is due, so a
fixed choice would send almost every op to worker 0 and so to one node.

A context is immutable: every change returns a new one. The two maps it holds are plain dicts that are never
mutated after construction (copy on write in `with_next_process`), shared between a context and its
restricted views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from random import Random
from typing import NamedTuple, TypeAlias

from harness.op import NEMESIS, Process

Thread: TypeAlias = int | str

_new = tuple.__new__


class Context(NamedTuple):
    """What a generator sees. `time_ns` is nanoseconds since the test started; `all_threads` lists the threads
    of this view in order (client threads ascending, then the nemesis); `free_threads` are those of them not
    running an op; `workers` maps every thread of the test to its current process and `threads` is its
    inverse; `concurrency` is the number of client threads of the whole test (views included)."""

    time_ns: int
    free_threads: frozenset[Thread]
    all_threads: tuple[Thread, ...]
    workers: dict[Thread, Process]
    threads: dict[Process, Thread]
    concurrency: int

    @classmethod
    def initial(cls, concurrency: int, time_ns: int = 0) -> Context:
        """The start of a test: every thread free, thread i running as process i, the nemesis as "nemesis"."""
        if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 0:
            from harness.errors import BadInput

            raise BadInput(f"concurrency must be a non-negative integer, not {concurrency!r}")
        threads: tuple[Thread, ...] = (*range(concurrency), NEMESIS)
        workers: dict[Thread, Process] = {t: t for t in threads}
        return cls(time_ns, frozenset(threads), threads, workers, dict(workers), concurrency)

    # --- reading -----------------------------------------------------------------------------------------

    def process_of(self, thread: Thread) -> Process:
        """The process `thread` currently runs as."""
        return self.workers[thread]

    def thread_of(self, process: Process) -> Thread | None:
        """The thread running `process`, or None if no thread does (a retired process, or an unknown one)."""
        return self.threads.get(process)

    def free_processes(self) -> tuple[Process, ...]:
        """Processes of the free threads of this view, in thread order."""
        free = self.free_threads
        workers = self.workers
        return tuple(workers[t] for t in self.all_threads if t in free)

    def some_free_process(self, rng: Random | None = None) -> Process | None:
        """A free process of this view, or None when every thread is busy.

        With `rng` (the test's seeded `test.rng`): the process of a free thread drawn uniformly at random, as
        Jepsen's context does, so that ops spread over the workers (and so over the nodes) instead of piling
        onto the lowest free one. Exactly one `rng.random()` draw per choice, however many threads are free
        (randrange would consume a varying amount of state for different counts): how many threads happen to
        be free is a matter of timing in a real run, and a draw count that depended on it would shift every
        later draw of the seed, e.g. the values a workload draws. So the ops' values stay a function of the
        seed and the asks, and the processes a function of the seed and the sequence of events. The k-th free
        thread is counted in `all_threads` order, never in set order (a str's hash, hence a set's order,
        changes between runs). `int(random() * n)` is uniform up to a bias below n / 2**53.

        Without `rng`: the lowest free thread (client threads before the nemesis), for callers that want a
        fixed choice or only ever see one thread (the nemesis schedules)."""
        free = self.free_threads
        n = len(free)
        if n == 1:  # the common case of a saturated run: no search
            if rng is not None:
                rng.random()  # still one draw per choice (see above)
            for t in free:
                return self.workers[t]
        if not n:
            return None
        threads = self.all_threads
        if rng is None:
            for t in threads:
                if t in free:
                    return self.workers[t]
            return None
        k = int(rng.random() * n)
        if n == len(threads):  # every thread of the view is free: index directly
            return self.workers[threads[k]]
        for t in threads:
            if t in free:
                if not k:
                    return self.workers[t]
                k -= 1
        return None

    def is_free_process(self, process: Process) -> bool:
        """True if `process` is current and its thread is a free thread of this view."""
        t = self.threads.get(process)
        return t is not None and t in self.free_threads

    @property
    def all_free(self) -> bool:
        """True when no thread of this view is busy."""
        return len(self.free_threads) == len(self.all_threads)

    @property
    def busy_count(self) -> int:
        return len(self.all_threads) - len(self.free_threads)

    # --- changing ----------------------------------------------------------------------------------------

    # (NamedTuple._replace costs about 1 us; building the tuple directly about 0.2 us: these are on the
    # interpreter's hot path.)

    def with_time(self, time_ns: int) -> Context:
        return _new(Context, (time_ns, self[1], self[2], self[3], self[4], self[5]))

    def busy(self, thread: Thread) -> Context:
        """This context with `thread` running an op."""
        return _new(Context, (self[0], self[1] - {thread}, self[2], self[3], self[4], self[5]))

    def free(self, thread: Thread) -> Context:
        """This context with `thread` free again."""
        return _new(Context, (self[0], self[1] | {thread}, self[2], self[3], self[4], self[5]))

    def freed(self, thread: Thread, time_ns: int) -> Context:
        """This context with `thread` free again at `time_ns` (never earlier than now): an op's completion."""
        t = self[0]
        return _new(Context, (time_ns if time_ns > t else t, self[1] | {thread}, self[2], self[3], self[4], self[5]))

    def with_next_process(self, thread: Thread) -> Context:
        """After a crash (`info`): a client thread continues as process old + concurrency; the nemesis thread
        keeps its process."""
        old = self.workers[thread]
        if not isinstance(old, int):
            return self
        new = old + self.concurrency
        workers = dict(self.workers)
        workers[thread] = new
        threads = dict(self.threads)
        del threads[old]
        threads[new] = thread
        return self._replace(workers=workers, threads=threads)

    def restrict(self, pred: Callable[[Thread], bool]) -> Context:
        """A view of this context holding only the threads for which `pred(thread)` is true."""
        kept = tuple(t for t in self.all_threads if pred(t))
        return self._replace(all_threads=kept, free_threads=self.free_threads.intersection(kept))

    def only(self, threads: Iterable[Thread]) -> Context:
        """A view holding only the given threads (those of them in this view)."""
        keep = frozenset(threads)
        return self.restrict(keep.__contains__)


class ThreadFilter:
    """A restriction of contexts to the threads satisfying `pred`, memoised on the view's thread tuple, so
    that restricting a context on the hot path is one set intersection. The memo is a cache of a pure
    function of `all_threads`: it changes no observable behaviour."""

    __slots__ = ("_memo", "pred")

    def __init__(self, pred: Callable[[Thread], bool]) -> None:
        self.pred = pred
        # (source thread tuple, kept threads, kept set): replaced as one tuple, so a reader never sees a mix
        self._memo: tuple[tuple[Thread, ...] | None, tuple[Thread, ...], frozenset[Thread]] = (None, (), frozenset())

    def __call__(self, ctx: Context) -> Context:
        src = ctx.all_threads
        memo = self._memo
        if memo[0] is not src:
            kept = tuple(t for t in src if self.pred(t))
            memo = self._memo = (src, kept, frozenset(kept))
        return _new(Context, (ctx[0], ctx[1] & memo[2], memo[1], ctx[3], ctx[4], ctx[5]))

    def __repr__(self) -> str:
        return f"ThreadFilter({self.pred!r})"


def is_client_thread(thread: Thread) -> bool:
    return isinstance(thread, int)


def is_nemesis_thread(thread: Thread) -> bool:
    return thread == NEMESIS
