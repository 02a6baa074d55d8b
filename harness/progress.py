"""Progress of a run on the terminal: phase, ops/s, ok/fail/info counts and active faults.

Owns only the display: a rich live line on a TTY, plain lines every few seconds when not a TTY or CI=true.
Reads the interpreter's Counters; never touches the run.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from harness.interpreter import Counters


def _line(c: Counters, elapsed: float, rate: float) -> str:
    faults = ", ".join(c.active_faults) if c.active_faults else "none"
    return (
        f"{elapsed:6.1f}s  {rate:8.0f} ops/s  ok {c.ok}  fail {c.fail}  info {c.info}  "
        f"nemesis {c.nemesis}  faults: {faults}"
    )


class Progress:
    """A background thread that shows Counters until stopped."""

    def __init__(self, counters: Counters, *, stream: TextIO | None = None) -> None:
        self.counters = counters
        self.stream: TextIO = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)()) and os.environ.get("CI", "") in ("", "false")
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, name="progress", daemon=True)

    def __enter__(self) -> Progress:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(timeout=2)

    def _loop(self) -> None:
        start = time.monotonic()
        last_n, last_t = 0, start
        period = 0.25 if self.tty else 5.0
        live = None
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            live = Live("", console=Console(file=self.stream), refresh_per_second=4, transient=True)
            live.start()
        try:
            while not self._stop.wait(period):
                c = self.counters
                n = c.ok + c.fail + c.info
                now = time.monotonic()
                rate = (n - last_n) / max(1e-9, now - last_t)
                last_n, last_t = n, now
                text = _line(c, now - start, rate)
                if live is not None:
                    live.update(text)
                elif n or c.nemesis:
                    print(text, file=self.stream, flush=True)
        finally:
            if live is not None:
                live.stop()
