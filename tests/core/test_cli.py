"""The CLI's exit codes and one-line errors, through a real subprocess (as users and CI call it)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENV = {**os.environ, "CI": "true"}


def harness(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--bogus"], "No such option"),
        (["run", "--concurrency", "x"], "not a valid integer"),
        (["run", "--system", "nosuch"], "unknown system 'nosuch'"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--workload", "nosuch"], "unknown workload"),
        (["run", "--system", "memory", "--cluster", "nosuch"], "unknown cluster"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--system-opt", "nokey"], "key=value"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--system-opt", "x=1"], "unknown option 'x'"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--system-opt", "bug=nope"], "bad value"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--time-limit", "-1"], "--time-limit"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--nemesis", "nosuch"], "unknown nemesis"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--nemesis", "kill", "--op-timeout", "0"],
         "--op-timeout must be positive"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--min-fault-ops", "-1"],
         "--min-fault-ops must be 0 or more"),
        (["run", "--system", "memory", "--cluster", "inprocess", "--leave-running"],
         "the inprocess cluster lives inside the harness process"),
        (["check", "--checker", "nosuch", "x.jsonl"], "unknown checker"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_input_is_one_line_and_exit_254(args: list[str], message: str, tmp_path) -> None:
    p = harness(*args, "--results", str(tmp_path)) if args[0] == "run" else harness(*args)
    assert p.returncode == 254, (p.stdout, p.stderr)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_version_and_plugins_list() -> None:
    p = harness("--version")
    assert p.returncode == 0 and "harness, version" in p.stdout
    p = harness("plugins")
    assert p.returncode == 0
    rows = [line.split() for line in p.stdout.splitlines()[1:]]
    assert ["harness.systems", "memory", "clusters.memory", "chaos-harness"] in rows
    assert any(r[:2] == ["harness.workloads", "register"] for r in rows)
