"""The CLI starts fast because it imports little: `harness --version`, `--help` and `harness check` of a small
history must not load the docker SDK, paramiko, fabric or pandas (each costs tens to hundreds of milliseconds;
the figures are measured by bench/startup.py, not here). Also pins the one-line help the CLI keeps for the
commands it imports lazily against each command's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("docker", "paramiko", "fabric", "pandas")


def _imported(*args: str, cwd: Path) -> set[str]:
    """Top-level names of every module the CLI imported for `args` (from `python -X importtime`)."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness", *args], capture_output=True, text=True,
                       cwd=cwd, env={**os.environ, "CI": "true"}, timeout=120, check=False)
    assert p.returncode in (0, 1, 2), (p.stdout, p.stderr[-2000:])
    names = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "harness" in names, "no import trace: did -X importtime change its format?"
    return names


def _history(tmp_path: Path) -> Path:
    from harness.op import History, Op

    ops = []
    for i in range(50):
        ops += [Op(type="invoke", process=i % 5, f="write", value=i), Op(type="ok", process=i % 5, f="write", value=i)]
    path = tmp_path / "h.jsonl"
    History.indexed(ops).to_jsonl(path)
    return path


@pytest.mark.parametrize("args", [("--version",), ("--help",), ("run", "--help"), ("check", "--help")])
def test_start_up_imports_no_heavy_library(args: tuple[str, ...], tmp_path: Path) -> None:
    loaded = _imported(*args, cwd=tmp_path)
    assert not loaded & set(HEAVY), f"harness {' '.join(args)} imported {sorted(loaded & set(HEAVY))}"


def test_check_of_a_small_history_imports_no_heavy_library(tmp_path: Path) -> None:
    loaded = _imported("check", "--model", "register", "--out-dir", str(tmp_path / "out"), str(_history(tmp_path)),
                       cwd=tmp_path)
    assert not loaded & set(HEAVY), f"harness check imported {sorted(loaded & set(HEAVY))}"


def test_a_heavy_import_is_seen(tmp_path: Path) -> None:
    """The detector works: `harness images --help` is the one command that loads the docker SDK."""
    assert "docker" in _imported("images", "--help", cwd=tmp_path)


def test_lazy_commands_keep_their_own_help() -> None:
    import click

    from harness.cli import LAZY_COMMANDS, main_group

    ctx = click.Context(main_group)
    for name, (_module, _attr, help_line) in LAZY_COMMANDS.items():
        cmd = main_group.get_command(ctx, name)
        assert cmd is not None, name
        assert cmd.get_short_help_str(200) == help_line, f"LAZY_COMMANDS[{name!r}] differs from the command's help"
