"""The example plugin package (tests/nemeses/example_plugin) loads through its `harness.nemeses` entry point,
like any third-party nemesis, and its fault works on a real etcd cluster: a node with its client port blocked
stops answering clients but stays in the cluster.

The plugin is made visible without touching the shared environment: a `.dist-info` directory with the entry
points of its pyproject.toml is put on sys.path (what `pip install -e` would write), next to its source."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.evidence import evidence_of
from harness.plugins import Registry
from tests.real_cluster import etcd_put, etcd_status, invoke, running, wait_for

HERE = Path(__file__).resolve().parent / "example_plugin"


def _dist_info(root: Path) -> Path:
    """A minimal installed-distribution record of the example plugin, generated from its pyproject.toml."""
    project = tomllib.loads((HERE / "pyproject.toml").read_text())["project"]
    d = root / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, eps in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in eps.items()]
    (d / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return d


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _dist_info(tmp_path / "site")
    monkeypatch.syspath_prepend(str(HERE))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delenv("HARNESS_NO_PLUGINS", raising=False)


def test_loads_through_its_entry_point(plugin_on_path: None) -> None:
    reg = Registry()
    assert "port-block" in reg.names("nemeses")
    (entry,) = [e for e in reg.entries() if e.name == "port-block"]
    assert entry.distribution == "harness-port-block" and entry.module == "harness_port_block"
    plugin = reg.get("nemeses", "port-block")
    assert plugin.name == "port-block" and {s.name for s in plugin.option_specs} >= {"port-block-port"}
    assert "port-block" not in Registry(builtins_only=True).names("nemeses")


def test_its_pyproject_declares_the_entry_point_to_setuptools(tmp_path: Path) -> None:
    """What `pip install` would record, from the pyproject alone (setuptools' egg_info, no network)."""
    try:
        import setuptools  # noqa: F401
    except ImportError:
        pytest.skip("needs setuptools to read the plugin's pyproject.toml")
    src = tmp_path / "src"
    shutil.copytree(HERE, src)  # out of tree: nothing is written into the repository
    p = subprocess.run([sys.executable, "-c", "import setuptools; setuptools.setup()", "egg_info",
                        "--egg-base", str(tmp_path)], cwd=src, capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    eps = (tmp_path / "harness_port_block.egg-info" / "entry_points.txt").read_text()
    assert "[harness.nemeses]" in eps and "port-block = harness_port_block:PLUGIN" in eps


@pytest.mark.cluster
def test_blocked_node_is_dead_to_clients_and_alive_to_peers(plugin_on_path: None) -> None:
    with running(("port-block",)) as test:
        n1, n2, _ = test.nodes
        done = invoke(test, "block-port", [n1])
        assert done.error is None and {k: done.value[k] for k in ("nodes", "port")} == {"nodes": [n1], "port": 2379}
        evidence = evidence_of(done)  # measured: the clients' host cannot connect any more
        assert evidence is not None and evidence.took_effect, evidence
        assert [(p.node, p.target, p.observed) for p in evidence.probes] == [(n1, f"{n1}:2379", "timed out")]
        assert etcd_status(test, n1) is None  # clients (on the host) are cut off
        assert etcd_put(test, n2, "k", "v")  # the cluster still has all its members and a quorum
        invoke(test, "unblock-port")
        wait_for(lambda: etcd_status(test, n1), 10, f"{n1} to answer clients again")
