"""Fixtures of the report tests: synthetic run directories (harness.report.sample) and headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.report.sample import SampleSpec, write_sample_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "results" / "screenshots"


@pytest.fixture(scope="session")
def valid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("runs") / "etcd-register-partition" / "valid",
                            SampleSpec(seed=7))


@pytest.fixture(scope="session")
def invalid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample_run(tmp_path_factory.mktemp("runs") / "etcd-register-partition" / "invalid",
                            SampleSpec(seed=8, anomaly=True, system="postgres", version="16.4",
                                       name="postgres-register-partition"))


@pytest.fixture
def fresh_run(tmp_path: Path) -> Path:
    """A small run of its own, for tests that damage it."""
    return write_sample_run(tmp_path / "run", SampleSpec(ops=300, seed=3, anomaly=True))


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("headless browser tests need Debian's chromium at /usr/bin/chromium, which is absent")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def _keep(src: Path) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, SCREENSHOTS / src.name)


@pytest.fixture
def keep_screenshot() -> Callable[[Path], None]:
    """Copies a screenshot to results/screenshots/ (git-ignored) for people to look at."""
    return _keep


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real `harness run`, as the runner writes it (the runner itself calls render_run at the end): a 3-node
    etcd on local namespaces under partitions where this host can run one (root, etcd), else the project's
    in-process memory system, which needs no cluster (and takes no faults)."""
    import os
    import shutil
    import subprocess
    import sys

    results = tmp_path_factory.mktemp("real") / "results"
    if os.geteuid() == 0 and shutil.which("etcd") and shutil.which("ip"):
        target = ["--system", "etcd", "--cluster", "local", "--nemesis", "partition", "--nemesis-interval", "1"]
    else:
        target = ["--system", "memory", "--cluster", "inprocess"]
    argv = [sys.executable, "-m", "harness", "run", *target, "--workload", "register", "--time-limit", "4",
            "--seed", "3", "--results", str(results)]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=240, cwd=REPO, check=False)
    assert p.returncode in (0, 1, 2), p.stderr
    runs = [d for d in results.glob("*/*") if d.is_dir() and not d.is_symlink() and not d.parent.is_symlink()]
    assert len(runs) == 1, runs
    return runs[0]
