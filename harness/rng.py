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

How: every draw of `random.Random` consumes 32-bit words of the Mersenne Twister (`random()` two,
`getrandbits(k)` ceil(k/32); `Random.__init_subclass__` routes `randrange`, `choice`, `shuffle`, `sample`...
through our `getrandbits`). While a checkpoint is open the words drawn are recorded; a rollback pushes them
back, to be handed out again before any new word. Saving the whole state instead (`getstate`, 625 ints) costs
about 11 us, more than an interpreter's hand-off; recording words costs about 1 us per draw, and nothing
outside a checkpoint. The values are exactly those of `random.Random` for the same seed (tested).
"""

from __future__ import annotations

import random
from typing import Any

_random = random.Random.random
_getrandbits = random.Random.getrandbits
_TO_FLOAT = 1.0 / 9007199254740992.0  # 2**-53, as CPython's random_random


class GenRandom(random.Random):
    """A seeded `random.Random` with `checkpoint()`, `commit()` and `rollback()`. Not thread-safe: only the
    thread that holds the interpreter's lock draws from it. `getstate` does not include words pushed back by a
    rollback and not yet drawn again."""

    def __init__(self, seed: Any = None) -> None:
        self._armed = False
        self._drawn: list[int] = []
        self._pushback: list[int] = []  # a stack: the next word is on top
        super().__init__(seed)

    def checkpoint(self) -> None:
        """Start recording: the draws from now on can be undone by `rollback()`."""
        self._armed = True
        if self._drawn:
            self._drawn = []

    def commit(self) -> None:
        """Keep the draws since the checkpoint."""
        self._armed = False
        if self._drawn:
            self._drawn = []

    def rollback(self) -> None:
        """Undo the draws since the checkpoint: they will be drawn again, in the same order."""
        self._armed = False
        if self._drawn:
            self._pushback.extend(reversed(self._drawn))
            self._drawn = []

    def _word(self) -> int:
        pb = self._pushback
        w = pb.pop() if pb else _getrandbits(self, 32)
        if self._armed:
            self._drawn.append(w)
        return w

    def random(self) -> float:
        if not self._armed and not self._pushback:
            return _random(self)
        a = self._word() >> 5
        b = self._word() >> 6
        return (a * 67108864.0 + b) * _TO_FLOAT

    def getrandbits(self, k: int) -> int:
        if not self._armed and not self._pushback:
            return _getrandbits(self, k)
        if k <= 32:
            if k < 0:
                raise ValueError("number of bits must be non-negative")
            return self._word() >> (32 - k) if k else 0
        # as CPython: 32-bit words, least significant first, the last one cut to the bits still wanted
        out, shift = 0, 0
        while k > 0:
            w = self._word()
            if k < 32:
                w >>= 32 - k
            out |= w << shift
            shift += 32
            k -= 32
        return out

    def seed(self, a: Any = None, version: int = 2) -> None:
        self._armed = False
        self._drawn = []
        self._pushback = []
        super().seed(a, version)
