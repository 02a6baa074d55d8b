"""The run's seeded random source, with draws that can be taken back.

Owns `GenRandom`: a `random.Random` whose draws since a `checkpoint()` can be undone by `rollback()` (or kept by
`commit()`). Does not own any generator nor decide when to take draws back: the interpreter and the simulator
do, around every question they put to a generator.

Why: a generator is asked again and again while it waits (for a free worker, for an op's time), and the
caller dispatches only some answers. If every question drew from the seeded stream, the draws a replay sees
would depend on how often the caller happened to ask, that is on timing. With a checkpoint before each
question and a rollback when its answer is not dispatched, the stream advances only by the draws of
dispatched answers: asking twice gives the same answer, and a seed's ops are a function of the sequence of
events, not of how busy the machine was.

The state is saved lazily, on the first draw after a checkpoint, so a question that draws nothing costs two
attribute writes. Every method of `random.Random` draws through `random()` or `getrandbits()`, which are the
two methods overridden here (`Random.__init_subclass__` then routes `randrange`, `choice`, `shuffle`,
`sample`... through our `getrandbits`).
"""

from __future__ import annotations

import random
from typing import Any


class GenRandom(random.Random):
    """A seeded `random.Random` with `checkpoint()`, `commit()` and `rollback()`. Not thread-safe: only the
    thread that holds the interpreter's lock draws from it."""

    def __init__(self, seed: Any = None) -> None:
        self._armed = False
        self._saved: Any = None
        super().__init__(seed)

    def checkpoint(self) -> None:
        """Start recording: the draws from now on can be undone by `rollback()`."""
        self._armed = True
        self._saved = None

    def commit(self) -> None:
        """Keep the draws since the checkpoint."""
        self._armed = False
        self._saved = None

    def rollback(self) -> None:
        """Undo the draws since the checkpoint (nothing if there were none)."""
        if self._saved is not None:
            self.setstate(self._saved)
        self._armed = False
        self._saved = None

    def _save(self) -> None:
        self._armed = False  # before getstate, which does not draw; one save per checkpoint
        self._saved = self.getstate()

    def random(self) -> float:
        if self._armed:
            self._save()
        return super().random()

    def getrandbits(self, k: int) -> int:
        if self._armed:
            self._save()
        return super().getrandbits(k)

    def seed(self, a: Any = None, version: int = 2) -> None:
        self._armed = False
        self._saved = None
        super().seed(a, version)
