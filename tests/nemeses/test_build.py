"""What the nemeses refuse before the run, through the real CLI (exit code 254, one line, no traceback), and
what `combined` includes for a system."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.build import build_test
from harness.errors import MissingAbility
from harness.options import RunOptions
from harness.plugins import Registry
from tests.nemeses.conftest import provider_skip

DEMO = ["--system", "memory", "--cluster", "inprocess", "--time-limit", "1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (DEMO + ["--nemesis", "kill"], "nemesis kill needs a system that is Killable; memory is not"),
        (DEMO + ["--nemesis", "pause"], "nemesis pause needs a system that is Pausable; memory is not"),
        (DEMO + ["--nemesis", "partition"], "nemesis partition needs nodes it can run commands on"),
        (DEMO + ["--nemesis", "swizzle-clog"], "nemesis swizzle-clog needs nodes it can run commands on"),
        (DEMO + ["--nemesis", "partition", "--nemesis-opt", "partition-grudge=sideways"], "unknown grudge 'sideways'"),
        (DEMO + ["--nemesis", "partition", "--nemesis-opt", "kill-targets=one"], "unknown option 'kill-targets'"),
        (DEMO + ["--nemesis", "partition", "--nemesis-opt", "schedule=/nonexistent.yaml"], "no such file"),
        (DEMO + ["--nemesis", "packet", "--nemesis-opt", "packet-loss=150"], "a percentage from 0 to 100"),
        (DEMO + ["--nemesis", "combined", "--nemesis-opt", "combined-faults=partition,nope"], "unknown fault family"),
        (["--system", "etcd", "--nemesis", "clock", "--time-limit", "1"], "etcd is a Go program"),
        (["--system", "etcd", "--nemesis", "membership", "--nodes", "2", "--time-limit", "1"], "at least three nodes"),
    ],
)
def test_refused_before_the_run(args: list[str], message: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    if "etcd" in args and provider_skip("local"):
        pytest.skip(provider_skip("local"))
    p = subprocess.run([sys.executable, "-m", "harness", "run", *args, "--results", str(tmp_path)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 254, p.stdout + p.stderr
    assert message in p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not list(tmp_path.iterdir())  # nothing was run


def test_combined_includes_what_the_system_can_take() -> None:
    if provider_skip("local"):
        pytest.skip(provider_skip("local"))
    test = build_test(RunOptions(system="etcd", nemeses=("combined",)), Registry())
    try:
        (pkg,) = test.packages
        assert pkg.label.startswith("combined(") and "partition" in pkg.label and "kill" in pkg.label
        assert "clock" not in pkg.label  # etcd cannot be skewed: left out of the default rotation
        assert {"start-partition", "kill", "pause"} <= pkg.nemesis.fs
    finally:
        test.ledger.close()
    with pytest.raises(MissingAbility, match="ClockSkewable"):
        build_test(RunOptions(system="etcd", nemeses=("combined",), nemesis_opts={"combined-faults": "clock"}),
                   Registry())
