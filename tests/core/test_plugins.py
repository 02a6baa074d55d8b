"""The plugin registry: third-party entry points, duplicates named, HARNESS_NO_PLUGINS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def fake_distribution(root: Path, name: str, entry_points: str) -> None:
    """A real installed distribution as Python's importlib.metadata sees it: a .dist-info folder on sys.path."""
    d = root / f"{name}-0.1.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (d / "entry_points.txt").write_text(entry_points)


def harness(*args: str, path: Path, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(path), **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_a_third_party_plugin_is_listed_with_its_distribution(tmp_path: Path) -> None:
    (tmp_path / "extra_system.py").write_text("class S:\n    name = 'extra'\n")
    fake_distribution(tmp_path, "extra-plugin", "[harness.systems]\nextra = extra_system:S\n")
    p = harness("plugins", path=tmp_path)
    assert p.returncode == 0, p.stderr
    assert ["harness.systems", "extra", "extra_system", "extra-plugin"] in [r.split() for r in p.stdout.splitlines()]
    p = harness("plugins", path=tmp_path, extra_env={"HARNESS_NO_PLUGINS": "1"})
    assert "extra" not in p.stdout.split()


def test_a_name_registered_twice_is_an_error_naming_both(tmp_path: Path) -> None:
    fake_distribution(tmp_path, "evil-plugin", "[harness.systems]\nmemory = evil.mod:X\n")
    p = harness("plugins", path=tmp_path)
    assert p.returncode == 254
    line = p.stderr.strip()
    assert "registered twice" in line and "chaos-harness" in line and "evil-plugin" in line
    assert "clusters.memory" in line and "evil.mod" in line
    # built-ins only: the third-party duplicate is not loaded at all
    p = harness("plugins", path=tmp_path, extra_env={"HARNESS_NO_PLUGINS": "1"})
    assert p.returncode == 0
