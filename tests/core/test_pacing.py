"""The op timeout a run uses (harness.pacing): the one given is obeyed; without faults 5 s; with faults and none
given, the fault interval / 4 within 1-5 s, so that a fault that makes every op time out (a paused majority) still
sees several client ops complete per client; the test, the shrink replay and the CLI all take that value."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from harness.cli import main_group
from harness.options import RunOptions
from harness.pacing import fault_interval, op_timeout
from harness.shrink import Candidate, run_args
from harness.test import bare_test


def test_given_op_timeout_is_obeyed_with_or_without_faults() -> None:
    for nemeses in ((), ("pause",)):
        t = op_timeout(RunOptions(nemeses=nemeses, op_timeout=7.5))
        assert (t.seconds, t.rule) == (7.5, "given")
    # given, even below the floor and above the ceiling of a derived one
    assert op_timeout(RunOptions(nemeses=("pause",), op_timeout=0.2)).seconds == 0.2
    assert op_timeout(RunOptions(nemeses=("pause",), op_timeout=30.0)).seconds == 30.0


def test_without_faults_the_op_timeout_is_5_s_whatever_the_time_limit() -> None:
    for limit in (6.0, 30.0, 600.0):
        t = op_timeout(RunOptions(time_limit=limit))
        assert (t.seconds, t.rule) == (5.0, "default")


@pytest.mark.parametrize(("limit", "interval", "expected"), [
    (30.0, None, 1.25),   # the default run: 5 s faults, about four attempts per client in each
    (60.0, None, 2.5),    # 10 s faults (the default interval's ceiling)
    (600.0, None, 2.5),
    (12.0, None, 1.0),    # 2 s faults: the floor keeps healthy ops from timing out
    (6.0, None, 1.0),
    (60.0, 8.0, 2.0),     # a given interval is the one derived from
    (120.0, 40.0, 5.0),   # long faults: never above the 5 s default
])
def test_with_faults_and_none_given_it_is_derived_from_the_fault_interval(
        limit: float, interval: float | None, expected: float) -> None:
    o = RunOptions(nemeses=("pause",), time_limit=limit, nemesis_interval=interval)
    t = op_timeout(o)
    assert (t.seconds, t.rule) == (expected, "derived")
    assert f"{fault_interval(limit, interval):g} s fault interval" in t.why


def test_the_test_the_shrink_replay_and_the_cli_take_the_derived_value() -> None:
    o = RunOptions(nemeses=("pause",), time_limit=30.0)
    assert bare_test(options=o).op_timeout == 1.25
    assert bare_test(options=RunOptions()).op_timeout == 5.0

    args = run_args(o, Candidate(windows=(), time_limit=12.0), None, "/tmp/x")
    # the original run's timeout, not one derived again from the candidate's shorter limit (1 s)
    assert args[args.index("--op-timeout") + 1] == "1.25"
    out = CliRunner().invoke(main_group, ["run", "--help"]).output
    assert "--op-timeout" in out and "fault interval / 4" in out

