"""Node images for the docker provider: the Debian base image and one image per system, both cached.

Owns the base-image recipe (debootstrap --variant=minbase bookworm, imported with `docker import`, because no
registry may be reachable), the per-system image build (`clusters/<system>/Dockerfile` on top of the base), and
their cache rule: an image carries the hash of its recipe in the label `harness.recipe` and in its tag, and is
rebuilt only when that hash changes. With `base=official` the base is `debian:bookworm-slim` from a registry.
Does not run containers (see `clusters.docker.cluster`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from harness.errors import BadInput, ClusterError
from harness.ledger import state_dir

BASE_REPO = "harness-base"
OFFICIAL_BASE = "debian:bookworm-slim"
SUITE = "bookworm"
MIRROR = os.environ.get("HARNESS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the base holds beyond minbase: enough for `docker build` RUN steps and for the harness's own commands.
BASE_PACKAGES = ("ca-certificates", "procps", "iproute2", "iptables", "coreutils")
RECIPE_VERSION = "1"  # bump when the build steps below change in a way the hash would not see
LABEL = "harness.recipe"
CLUSTERS_DIR = Path(__file__).resolve().parents[1]

Log = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


def base_recipe_hash() -> str:
    text = "\n".join((RECIPE_VERSION, SUITE, MIRROR, "minbase", ",".join(BASE_PACKAGES)))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _lock_path() -> str:
    d = os.path.join(state_dir(), "images")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "build.lock")


class _BuildLock:
    """One image build at a time on this host (several test runs may ask for the same image at once)."""

    def __enter__(self) -> _BuildLock:
        self._fh = open(_lock_path(), "w")  # noqa: SIM115 - held for the duration of the with block
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def _find(client: docker.DockerClient, tag: str) -> str | None:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def ensure_base_image(client: docker.DockerClient, base: str = "local", log: Log = _quiet) -> str:
    """The tag of the base image, building it if needed. `base` is "local" (debootstrap, cached by recipe hash)
    or "official" (debian:bookworm-slim, pulled if absent)."""
    if base == "official":
        if _find(client, OFFICIAL_BASE) is None:
            log(f"pulling {OFFICIAL_BASE}")
            try:
                client.images.pull(OFFICIAL_BASE)
            except docker.errors.APIError as e:
                raise BadInput(f"cannot pull {OFFICIAL_BASE} (no registry reachable?); use base=local: {e}") from None
        return OFFICIAL_BASE
    if base != "local":
        raise BadInput(f"base image must be 'local' or 'official', not {base!r}")
    tag = f"{BASE_REPO}:{SUITE}-{base_recipe_hash()}"
    if _find(client, tag) is not None:
        return tag
    with _BuildLock():
        if _find(client, tag) is not None:  # built by someone else while we waited
            return tag
        _debootstrap_import(client, tag, log)
    return tag


def _debootstrap_import(client: docker.DockerClient, tag: str, log: Log) -> None:
    if shutil.which("debootstrap") is None:
        raise BadInput("building the base image needs debootstrap (apt-get install debootstrap), or use base=official")
    if os.geteuid() != 0:
        raise BadInput("building the base image with debootstrap needs root, or use base=official")
    work = tempfile.mkdtemp(prefix="harness-base-", dir="/var/tmp")
    root = os.path.join(work, "rootfs")
    try:
        log(f"debootstrap {SUITE} into {root} (about a minute)")
        argv = ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, root, MIRROR]
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode != 0:
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            raise ClusterError(f"debootstrap failed ({p.returncode}): {' | '.join(tail)}")
        # Keep the image small and apt usable in Dockerfiles built on it.
        shutil.rmtree(os.path.join(root, "var/cache/apt/archives"), ignore_errors=True)
        os.makedirs(os.path.join(root, "var/cache/apt/archives/partial"), exist_ok=True)
        tarball = os.path.join(work, "rootfs.tar")
        subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tarball, "."], check=True)
        log(f"docker import {tag}")
        repo, _, t = tag.partition(":")
        client.api.import_image_from_file(
            tarball, repository=repo, tag=t, changes=[f"LABEL {LABEL}={base_recipe_hash()}", 'CMD ["bash"]']
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def system_dockerfile_dir(system: str) -> Path:
    """The folder holding `Dockerfile` for `system`: clusters/<system>/ or clusters/docker/images/<system>/."""
    for d in (CLUSTERS_DIR / system, CLUSTERS_DIR / "docker" / "images" / system):
        if (d / "Dockerfile").is_file():
            return d
    raise BadInput(f"no Dockerfile for system {system!r} (looked in clusters/{system}/ and clusters/docker/images/)")


def system_recipe_hash(system: str, base_id: str, dockerfile: str | None = None) -> str:
    h = hashlib.sha256(base_id.encode())
    if dockerfile is not None:  # a system file's own recipe: that one file is the recipe
        h.update(Path(dockerfile).read_bytes())
        return h.hexdigest()[:12]
    d = system_dockerfile_dir(system)
    for f in sorted(p for p in d.iterdir() if p.is_file() and p.name.startswith("Dockerfile")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def ensure_system_image(client: docker.DockerClient, system: str, base: str = "local", log: Log = _quiet,
                        dockerfile: str | None = None) -> str:
    """The tag of the node image of `system` (its Dockerfile built with build-arg BASE=<base tag>), cached. With
    `dockerfile` (a system file's nodes.dockerfile) that file is built instead, its folder the build context."""
    base_tag = ensure_base_image(client, base, log)
    base_id = client.images.get(base_tag).id
    recipe = system_recipe_hash(system, base_id, dockerfile)
    tag = f"harness-{'file' if dockerfile else system}:{recipe}"
    if _find(client, tag) is not None:
        return tag
    d = Path(dockerfile).parent if dockerfile else system_dockerfile_dir(system)
    name = Path(dockerfile).name if dockerfile else "Dockerfile"
    with _BuildLock():
        if _find(client, tag) is not None:
            return tag
        log(f"docker build {tag} from {d}/{name} on {base_tag}")
        try:
            client.images.build(
                path=str(d), dockerfile=name, tag=tag, buildargs={"BASE": base_tag},
                labels={LABEL: recipe}, rm=True, forcerm=True, pull=False,
            )
        except docker.errors.BuildError as e:
            lines = [str(x.get("stream", x.get("error", ""))).strip() for x in e.build_log if isinstance(x, dict)]
            tail = " | ".join(line for line in lines if line)[-400:]
            raise ClusterError(f"building {tag} failed: {e.msg}: {tail}") from None
    return tag


def engine(hint: str = "") -> docker.DockerClient:
    """A client of the local Docker engine, or Unreachable (BadInput) with one line saying how to start it."""
    from harness.errors import Unreachable

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception:  # noqa: BLE001 - any failure to reach the engine is the same advice
        raise Unreachable(
            "the Docker engine is not running: start it with `dockerd > /tmp/dockerd.log 2>&1 &` "
            "(or `systemctl start docker`)" + (f" {hint}" if hint else "")
        ) from None
    return client
