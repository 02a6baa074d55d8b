"""What a kill -9 of the harness leaves of its history: every completion the interpreter recorded, and every op
before it, is in history.jsonl (HistoryWriter's guarantee; only ops in flight may be lost).

A real interpreter with a no-op client runs in a child process, writing its history through HistoryWriter as the
runner does. After each completion is recorded, the child notes its index in a file it has mapped into memory
(a MAP_SHARED page outlives the process). The test SIGKILLs the child in the middle of the run, then compares:
the history on disk must hold the ops 0..k without a gap for some k at least the last noted completion."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.op import scan_jsonl

_CHILD = textwrap.dedent(
    """
    import mmap, os, struct, sys
    from harness import generator as g
    from harness.interpreter import Interpreter
    from harness.nemesis import NoopNemesis
    from harness.op import HistoryWriter
    from harness.options import RunOptions
    from harness.test import bare_test

    class Client:
        def open(self, test, node): return self
        def close(self, test): pass
        def invoke(self, test, op): return op.replace(type="ok")

    history, mark = sys.argv[1], sys.argv[2]
    fd = os.open(mark, os.O_RDWR)
    noted = mmap.mmap(fd, 8)
    writer = HistoryWriter(history)

    def record(op, completion):
        writer.append(op, flush=completion)
        if completion:
            struct.pack_into("<q", noted, 0, op.index)  # after the record returned: the op counts as kept

    test = bare_test(options=RunOptions(concurrency=10), concurrency=10, client=Client(), nemesis=NoopNemesis(),
                     nodes=("n1", "n2", "n3"))
    Interpreter(test, record=record).run(g.clients(g.repeat({"f": "read", "value": None})))
    """
)


def _noted(mark: Path) -> int:
    with open(mark, "rb") as fh:
        return struct.unpack("<q", fh.read(8))[0]


def test_kill_9_loses_only_ops_in_flight(tmp_path: Path) -> None:
    history, mark = tmp_path / "history.jsonl", tmp_path / "noted"
    mark.write_bytes(struct.pack("<q", -1))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(history), str(mark)], env=os.environ.copy())
    try:
        deadline = time.monotonic() + 60
        while _noted(mark) < 20_000 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)  # wait until the run is well under way (a condition, not a fixed time)
        assert child.poll() is None, "the child ended before it was killed"
        assert _noted(mark) >= 20_000, "the child recorded too few ops to test anything"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    last_kept = _noted(mark)
    read = scan_jsonl(history)
    indices = [op.index for op in read.ops]
    assert indices == list(range(len(indices))), "the history on disk is not a gapless prefix"
    assert len(indices) > last_kept, (
        f"op {last_kept}'s completion was recorded before the kill but the history on disk ends at "
        f"{len(indices) - 1}"
    )
    kept = read.ops[last_kept]
    assert kept.type == "ok" and kept.index == last_kept
    # only ops in flight are missing: at most one invocation per worker follows the last completion on disk
    last_completion = max(i for i, op in enumerate(read.ops) if op.type != "invoke")
    assert all(op.type == "invoke" for op in read.ops[last_completion + 1:])
    assert len(read.ops) - 1 - last_completion <= 10


def test_noted_page_outlives_the_process(tmp_path: Path) -> None:
    """The test's own instrument: a MAP_SHARED write is read back after the writer died by SIGKILL."""
    mark = tmp_path / "noted"
    mark.write_bytes(struct.pack("<q", -1))
    code = ("import mmap, os, struct, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); m = mmap.mmap(fd, 8); "
            "struct.pack_into('<q', m, 0, 1234); print('ok', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(mark)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ok\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert _noted(mark) == 1234
