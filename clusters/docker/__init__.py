"""`--cluster docker`: N containers of the system's node image on a user-defined Docker network.

Owns `DockerProvider` (the `harness.clusters` plugin `docker`), `DockerCluster` and the ledger undo functions of
the kinds "container" and "docker-network". Each node is a container `harness-<tag>-<node>` (hostname = node
name, its own IP on the network `harness-<tag>`, capability NET_ADMIN for network faults, and /dev/fuse with SYS_ADMIN only when a fault needs a FUSE
mount (`ClusterSpec.needs`: the power-loss nemesis); never SYS_TIME, never privileged; docker-init as pid 1 so daemons started with `docker exec` are reaped). The image is built from
`clusters/<system>/Dockerfile` on a cached Debian base (see `clusters.docker.images`).

Options (cluster options): base=local|official (debootstrap-built base, or debian:bookworm-slim from a
registry), image=TAG (use this image as is, no build).

Node addresses are assigned by Docker when the containers start: `nodes` holds them after `setup`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import docker
import docker.errors

from clusters.docker.images import engine, ensure_system_image
from clusters.docker.remote import DockerRemote
from harness.cluster import ClusterSpec, Node, access_text, node_remote
from harness.control import on_all
from harness.db import logs_kind, salvage_logs
from harness.errors import BadInput, ClusterError
from harness.ledger import LedgerEntry, undoer
from harness.options import OptionSpec, parse_opts

LABEL_RUN = "harness.run"


class DockerCluster:
    """Containers on one network. `setup` is all-or-nothing: on failure it tears down what it made."""

    provider = "docker"

    def __init__(self, spec: ClusterSpec, ledger: Any, client: docker.DockerClient, base: str, image: str) -> None:
        self.spec = spec
        self.ledger = ledger
        self.client = client
        self.base = base
        self.image = image
        self.tag = hashlib.sha1(spec.run_id.encode()).hexdigest()[:6]
        self.network = f"harness-{self.tag}"
        self.workdir_root = f"/var/lib/harness/{spec.run_id}"
        self.nodes: tuple[Node, ...] = tuple(
            Node(name=n, host="", workdir=f"{self.workdir_root}/{n}") for n in spec.node_names
        )
        self._remotes: dict[str, DockerRemote] = {
            n: DockerRemote(n, client, self.container_name(n)) for n in spec.node_names
        }
        self._created: set[tuple[str, str]] = set()  # (ledger kind, name) of what this cluster made

    def container_name(self, node: str) -> str:
        return f"harness-{self.tag}-{node}"

    def setup(self) -> None:
        try:
            self._setup()
        except BaseException:
            self.teardown()
            raise

    def _setup(self) -> None:
        image = self.image or ensure_system_image(self.client, self.spec.system, self.base,
                                                  dockerfile=self.spec.dockerfile)
        if [n for n in self.client.networks.list(names=[self.network]) if n.name == self.network]:
            raise ClusterError(f"docker network {self.network} already exists (another run's?): not touching it")
        self.ledger.record("docker-network", self.network)
        self._created.add(("docker-network", self.network))
        self.client.networks.create(self.network, driver="bridge", labels={LABEL_RUN: self.spec.run_id})

        def start(node: Node) -> Node:
            name = self.container_name(node.name)
            if self.client.containers.list(all=True, filters={"name": f"^/{name}$"}):
                raise ClusterError(f"container {name} already exists (another run's?): not touching it")
            self.ledger.record("container", name, node=node.name)
            self._created.add(("container", name))
            # init=True: Docker's init (tini) is PID 1 and reaps. A daemon started through `docker exec` is
            # re-parented to PID 1 when the shell that started it exits; with `sleep` as PID 1 a SIGKILLed
            # daemon would stay a zombie for the container's life.
            c = self.client.containers.run(
                image, ["sleep", "infinity"], name=name, hostname=node.name, detach=True, init=True,
                network=self.network, labels={LABEL_RUN: self.spec.run_id}, **self._privileges(),
            )
            c.reload()
            ip = c.attrs["NetworkSettings"]["Networks"][self.network]["IPAddress"]
            if not ip:
                raise ClusterError(f"container {name} got no address on {self.network}")
            self._remotes[node.name].run(["mkdir", "-p", node.workdir], timeout=30)
            return Node(name=node.name, host=ip, workdir=node.workdir)

        by_name = {n.name: n for n in self.nodes}
        started = on_all(by_name, lambda name: start(by_name[name]))
        self.nodes = tuple(started[n.name] for n in self.nodes)

    def _privileges(self) -> dict[str, object]:
        """NET_ADMIN for the network faults; with a FUSE filesystem wanted (the power-loss nemesis), /dev/fuse and
        SYS_ADMIN, which mounting it needs, and nothing more (not --privileged)."""
        if "fuse" not in self.spec.needs:
            return {"cap_add": ["NET_ADMIN"]}
        return {"cap_add": ["NET_ADMIN", "SYS_ADMIN"], "devices": ["/dev/fuse:/dev/fuse:rwm"],
                "security_opt": ["apparmor:unconfined"]}

    def teardown(self) -> None:
        """Remove the containers this cluster created (ending every process in them) and its network; nothing
        it did not create. Idempotent."""
        for n in self.nodes:
            name = self.container_name(n.name)
            if ("container", name) in self._created:
                remove_container(self.client, name, self.spec.run_id)
                self.ledger.release("container", name)
                self._created.discard(("container", name))
        if ("docker-network", self.network) in self._created:
            remove_network(self.client, self.network, self.spec.run_id)
            self.ledger.release("docker-network", self.network)
            self._created.discard(("docker-network", self.network))

    def remote(self, node: str) -> DockerRemote:
        return node_remote(self._remotes, node)

    def access(self) -> str:
        return access_text(f"docker cluster on network {self.network}:", self.nodes,
                           lambda n: f"docker exec -it {self.container_name(n.name)} bash")


def remove_container(client: docker.DockerClient, name: str, run_id: str) -> None:
    """Remove container `name` if run `run_id` made it (its label says so); another's is left alone."""
    try:
        c = client.containers.get(name)
        if c.labels.get(LABEL_RUN) != run_id:
            return
        c.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as e:
        if "already in progress" not in str(e) and "No such container" not in str(e):
            raise


def remove_network(client: docker.DockerClient, name: str, run_id: str) -> None:
    """Remove network `name` if run `run_id` made it (its label says so); another's is left alone."""
    for net in [n for n in client.networks.list(names=[name]) if n.name == name]:
        try:
            if (net.attrs.get("Labels") or {}).get(LABEL_RUN) == run_id:
                net.remove()
        except docker.errors.NotFound:
            pass


@undoer("container")
def _undo_container(entry: LedgerEntry) -> None:
    remove_container(engine(), entry.key, entry.run_id)


@undoer(logs_kind("docker"))
def _salvage_logs(entry: LedgerEntry) -> None:
    """After a kill -9: the node logs into the run directory, before the containers go (see harness.db)."""
    tag = hashlib.sha1(entry.run_id.encode()).hexdigest()[:6]
    client = engine()
    salvage_logs(entry.key, dict(entry.data.get("files", {})),
                 lambda n: DockerRemote(n, client, f"harness-{tag}-{n}"))


@undoer("docker-network")
def _undo_network(entry: LedgerEntry) -> None:
    remove_network(engine(), entry.key, entry.run_id)


class DockerProvider:
    """The `harness.clusters` plugin `docker`."""

    name = "docker"
    option_specs: Sequence[OptionSpec] = (
        OptionSpec(name="base", default="local", help="base image: local (debootstrap, cached) or official",
                   choices=("local", "official")),
        OptionSpec(name="image", default="", help="node image to use as is (skips the build)"),
    )

    def create(self, spec: ClusterSpec, ledger: object) -> DockerCluster:
        opts = parse_opts("cluster docker", self.option_specs, {k: str(v) for k, v in (spec.opts or {}).items()})
        if not spec.node_names:
            raise BadInput("the docker cluster needs at least one node name")
        client = engine()
        return DockerCluster(spec, ledger, client, str(opts["base"]), str(opts["image"]))


PLUGIN = DockerProvider()
