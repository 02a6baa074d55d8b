"""Pausing Python's cyclic garbage collector around bulk work on large histories.

Owns `paused_gc()`. Reading a million-op history, building its report tables or analysing its transactions
allocates millions of small acyclic objects; each allocation burst makes the cyclic collector rescan every live
object (the history's ops included) for garbage that cannot exist, which took a third of a report's render
and about 15% of an Elle check. Reference counting still frees everything while the collector is paused, and any
cycle made meanwhile is collected once it is back on. Does not own memory limits or any caching.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic collector off; restore it as it was (nesting is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
