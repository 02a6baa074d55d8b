"""Invariant checkers: the rules a history must keep whatever the timing, faults and retries.

Owns one module per checker (each a pure function of a history, with its op vocabulary in its docstring):
`monotonic`, `idempotency`, `bank`, `set` (set and set-full), `counter`, `unique_ids`, `queue`
(total-queue), `stream`, `uniqueness`, `stats`, `availability`; `_common` holds their shared plumbing. Does not own
linearizability or transactional isolation checkers (elsewhere in `checkers/`), nor workloads.

Each module exports its checker class for workloads to use directly and a `PLUGIN` (`name`,
`option_specs`, `make(opts)`) that the `harness.checkers` entry-point group registers.
"""

from .availability import AvailabilityChecker
from .bank import BankChecker
from .counter import CounterChecker
from .idempotency import IdempotencyChecker
from .monotonic import MonotonicChecker
from .queue import TotalQueueChecker
from .set import SetChecker, SetFullChecker
from .stats import StatsChecker
from .stream import StreamChecker
from .unique_ids import UniqueIdsChecker
from .uniqueness import UniquenessChecker

__all__ = [
    "AvailabilityChecker",
    "BankChecker",
    "CounterChecker",
    "IdempotencyChecker",
    "MonotonicChecker",
    "SetChecker",
    "SetFullChecker",
    "StatsChecker",
    "StreamChecker",
    "TotalQueueChecker",
    "UniqueIdsChecker",
    "UniquenessChecker",
]
