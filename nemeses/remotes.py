"""Reaching a node again from the data of a ledger entry, so that undo functions can heal after a kill -9 of
the harness, when no Test and no Cluster exist any more.

Owns `locator_for` (the small, JSON-ready dict that says how to reach a node: a local network namespace, a
docker container, an ssh host) and `remote_from_locator` (a Remote built from it). Does not create nodes. The
clusters' own Remotes carry a `locator` for local namespaces and ssh hosts; the docker Remote has none (its
daemons die with the container), so for docker we record the container name ourselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from harness.control import Remote
from harness.errors import FaultError

if TYPE_CHECKING:
    from harness.test import Test


def locator_for(test: Test, node: str) -> dict[str, object]:
    """How to reach `node` of the test again without the test: {"via": "netns"|"docker"|"ssh", "node", ...}."""
    remote = test.cluster.remote(node)
    loc = getattr(remote, "locator", None)
    if loc:
        return {**dict(loc), "node": node}
    container = getattr(remote, "container", None)
    if isinstance(container, str):
        return {"via": "docker", "node": node, "container": container}
    raise FaultError(f"cannot record how to reach node {node} again ({type(remote).__name__} has no locator)")


def remote_from_locator(data: Mapping[str, object]) -> Remote:
    """A Remote for the node a locator names. The caller closes it."""
    via = data.get("via")
    node = str(data.get("node", "?"))
    if via == "netns":
        from clusters.local.remote import NamespaceRemote

        return NamespaceRemote(node, str(data["netns"]))
    if via == "docker":
        import docker

        from clusters.docker.remote import DockerRemote

        return DockerRemote(node, docker.from_env(), str(data["container"]))
    if via == "ssh":
        from clusters.ssh.remote import remote_from_locator as ssh_remote

        return ssh_remote(data)
    raise FaultError(f"unknown locator {via!r} for node {node}")


def node_is_gone(data: Mapping[str, object]) -> bool:
    """True when the node a locator names no longer exists (its namespace or container was removed), so there
    is nothing left to heal on it."""
    via = data.get("via")
    if via == "netns":
        import os

        return not os.path.exists(f"/run/netns/{data['netns']}")
    if via == "docker":
        import docker
        import docker.errors

        try:
            c = docker.from_env().containers.get(str(data["container"]))
        except docker.errors.NotFound:
            return True
        return c.status != "running"
    return False


def require_remotes(test: Test, who: str) -> None:
    """MissingAbility before the run when the cluster's nodes cannot run commands (the in-process demo
    cluster): a fault that acts on nodes cannot be injected there."""
    from harness.errors import BadInput, MissingAbility

    try:
        for node in test.nodes:
            test.cluster.remote(node)
    except MissingAbility:
        raise
    except BadInput as e:
        raise MissingAbility(f"{who} needs nodes it can run commands on: {e}") from None
