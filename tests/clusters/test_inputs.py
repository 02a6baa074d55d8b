"""Bad input to the cluster and system plugins is BadInput with one clear line; plugins are registered."""

from __future__ import annotations

from pathlib import Path

import pytest

from clusters.docker.images import base_recipe_hash, engine, system_dockerfile_dir
from clusters.etcd import PLUGIN as ETCD
from clusters.etcd.client import EtcdClient
from clusters.etcd.gateway import prefix_end
from clusters.ssh import parse_host, read_nodes_file
from harness.errors import BadInput, Unreachable
from harness.options import parse_opts
from harness.plugins import Registry


def test_plugins_are_registered() -> None:
    reg = Registry(builtins_only=True)
    assert {"local", "docker", "ssh"} <= set(reg.names("clusters"))
    etcd = reg.get("systems", "etcd")
    assert etcd.name == "etcd" and etcd.workloads == frozenset(
        {"register", "set", "list-append", "rw-register", "bank", "counter", "unique-ids", "monotonic", "idempotent"})
    for kind, name in (("clusters", "local"), ("clusters", "docker"), ("clusters", "ssh")):
        assert reg.get(kind, name).name == name


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"reads": "eventual"}, "bad value 'eventual' for option 'reads' of system etcd"),
        ({"heartbeat_ms": "-1"}, "must be a positive integer"),
        ({"bogus": "1"}, "unknown option 'bogus' for system etcd"),
    ],
)
def test_etcd_options(raw: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_opts("system etcd", ETCD.option_specs, raw)
    assert parse_opts("system etcd", ETCD.option_specs, {"reads": "serializable"})["reads"] == "serializable"


def test_etcd_client_rejects_unknown_workload() -> None:
    with pytest.raises(BadInput, match="no workload 'queue'"):
        EtcdClient(workload="queue")


def test_prefix_end() -> None:
    assert prefix_end("s/") == "s0"


def test_nodes_file(tmp_path: Path) -> None:
    f = tmp_path / "hosts.txt"
    f.write_text("# cluster\nn1 10.0.0.1\nadmin@10.0.0.2:2222   # second\n\n")
    hosts = read_nodes_file(str(f))
    assert [(h.name, h.host, h.user, h.port) for h in hosts] == [
        ("n1", "10.0.0.1", None, None), ("10.0.0.2", "10.0.0.2", "admin", 2222)]
    f.write_text("a b c\n")
    with pytest.raises(BadInput, match=r"hosts.txt:1: expected"):
        read_nodes_file(str(f))
    with pytest.raises(BadInput, match="cannot read nodes file"):
        read_nodes_file(str(tmp_path / "missing.txt"))
    with pytest.raises(BadInput, match="bad port"):
        parse_host("h:x")


def test_docker_engine_not_running(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    with pytest.raises(Unreachable, match=r"Docker engine is not running: start it with `dockerd"):
        engine()


def test_image_recipes() -> None:
    assert len(base_recipe_hash()) == 12
    assert (system_dockerfile_dir("etcd") / "Dockerfile").is_file()
    with pytest.raises(BadInput, match="no Dockerfile for system 'nosuch'"):
        system_dockerfile_dir("nosuch")


@pytest.mark.cluster
def test_docker_images_are_cached_by_recipe() -> None:
    from clusters.docker.images import LABEL, ensure_system_image
    from tests.real_cluster import require

    require("docker")
    client = engine()
    tag = ensure_system_image(client, "etcd", "local")  # builds once on a fresh machine (minutes), then cached
    image = client.images.get(tag)
    assert tag.endswith(":" + image.labels[LABEL])  # the tag names the recipe it was built from
    before = image.id
    assert ensure_system_image(client, "etcd", "local") == tag and client.images.get(tag).id == before


@pytest.mark.cluster
def test_official_base_image_when_a_registry_is_reachable() -> None:
    from clusters.docker.images import ensure_system_image
    from tests.real_cluster import require

    require("docker")
    client = engine()
    try:
        tag = ensure_system_image(client, "etcd", "official")
    except BadInput as e:  # the one-line message a user gets; the local base is the way here
        assert "use base=local" in str(e) and "\n" not in str(e)
        pytest.skip(f"no registry reachable, base=official cannot be built here: {str(e)[:80]}")
    out = client.containers.run(tag, ["etcd", "--version"], remove=True)
    assert b"etcd Version: 3." in out


def test_conf_settings_are_gathered_for_the_system_and_name_the_test() -> None:
    from harness.options import RunOptions, build_test_name, expectation_opts

    opts = parse_opts("system etcd", ETCD.option_specs, {"conf.snapshot-count": "50", "conf.max-wals": "2"})
    assert dict(opts["conf"]) == {"snapshot-count": "50", "max-wals": "2"}
    name = build_test_name(RunOptions(), expectation_opts(ETCD.option_specs, opts))
    assert name == "etcd-register-none-conf.max-wals=2-conf.snapshot-count=50"
    with pytest.raises(BadInput, match="names no setting"):
        parse_opts("system etcd", ETCD.option_specs, {"conf.": "1"})


@pytest.mark.cluster
@pytest.mark.parametrize("system", ["etcd", "postgres"])
def test_a_setting_the_system_does_not_have_is_refused_in_one_line(system: str, tmp_path: Path) -> None:
    """conf.KEY=VALUE goes to the system's own configuration; a KEY it does not have is bad input (254, one
    line), found on the node before the system starts, and nothing is left behind."""
    import json

    from tests.real_cluster import require, residue
    from tests.rundirs import harness_run

    require("local")
    p = harness_run(tmp_path, "--system", system, "--workload", "set", "--nodes", "1", "--time-limit", "3",
                    "--system-opt", "conf.no_such_setting=1", timeout=120).process
    assert p.returncode == 254, p.stderr[-2000:]
    said = [x for x in p.stderr.splitlines() if "no_such_setting" in x and "on n1" in x]
    assert len(said) == 1 and said[0] == p.stderr.strip().splitlines()[-1], p.stderr
    assert "Traceback" not in p.stderr
    (test_json,) = [t for t in tmp_path.glob("*/*/test.json") if not t.parent.is_symlink()]
    run_id = json.loads(test_json.read_text())["run_id"]
    assert not residue([run_id]), "left behind"
