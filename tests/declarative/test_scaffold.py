"""`harness new system NAME`: the package it writes installs with pip (offline, into a throwaway virtualenv that
sees this harness), is listed by `harness plugins`, and its own generated tests pass: a real run of the stand-in
server on a local cluster under kill -9, verdict valid."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]


def _harness(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def test_new_writes_the_package_and_never_overwrites(tmp_path: Path) -> None:
    p = _harness("new", "system", "demo", cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    root = tmp_path / "harness-demo"
    want = {"pyproject.toml", "harness_demo/__init__.py", "harness_demo/db.py", "harness_demo/client.py",
            "harness_demo/server.py", "tests/test_harness_demo.py"}
    assert {str(f.relative_to(root)) for f in root.rglob("*") if f.is_file()} == want
    assert 'demo = "harness_demo:PLUGIN"' in (root / "pyproject.toml").read_text()
    for f in root.rglob("*.py"):
        compile(f.read_text(), str(f), "exec")  # every generated module is valid Python
    again = _harness("new", "system", "demo", cwd=str(tmp_path))
    assert again.returncode == 254 and "never overwrites" in again.stderr, again.stderr
    bad = _harness("new", "system", "Demo!", cwd=str(tmp_path))
    assert bad.returncode == 254 and bad.stderr.count("\n") == 1, bad.stderr


def test_generated_package_installs_is_listed_and_its_test_passes() -> None:
    if importlib.util.find_spec("wheel") is None:
        pytest.skip("needs the wheel package to install offline (pip install -e '.[test]')")
    if os.geteuid() != 0:
        pytest.skip("the generated test runs a local cluster: needs root")
    with tempfile.TemporaryDirectory(prefix="scaffold-") as d:
        assert _harness("new", "system", "demo-kv", "--dir", f"{d}/pkg").returncode == 0
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", f"{d}/venv"], check=True, timeout=120)
        py = f"{d}/venv/bin/python"
        pip = subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                              "-e", f"{d}/pkg"], capture_output=True, text=True, timeout=180)
        assert pip.returncode == 0, pip.stderr[-2000:]
        listed = subprocess.run([py, "-m", "harness", "plugins"], capture_output=True, text=True, timeout=60)
        assert "harness_demo_kv" in listed.stdout, listed.stdout
        # the stand-in is one store: on the default three nodes it is refused, not run into an "invalid"
        three = subprocess.run([py, "-m", "harness", "run", "--system", "demo-kv", "--results", f"{d}/results"],
                               capture_output=True, text=True, timeout=60)
        assert three.returncode == 254 and three.stderr.count("\n") == 1, three.stderr
        assert "single-node store: run it with --nodes 1, not 3 nodes" in three.stderr
        run = subprocess.run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", f"{d}/pkg/tests"],
                             capture_output=True, text=True, timeout=360, cwd=d)
        assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout[-3000:] + run.stderr[-2000:]
