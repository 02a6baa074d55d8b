"""`harness images ...`: the click command group the CLI mounts to build node images ahead of a run.

Owns the `images` group with `build` and `list`. The lead's CLI adds it with `cli.add_command(images)`. Errors
are BadInput (the CLI turns them into one line and exit 254). Does not run containers.
"""

from __future__ import annotations

import click

from clusters.docker.images import LABEL, engine, ensure_base_image, ensure_system_image, system_dockerfile_dir


@click.group(name="images")
def images() -> None:
    """Node images for --cluster docker (cached; rebuilt only when their recipe changes)."""


@images.command(name="build")
@click.argument("systems", nargs=-1)
@click.option("--base", type=click.Choice(["local", "official"]), default="local", show_default=True,
              help="local: debootstrap bookworm (no registry needed); official: debian:bookworm-slim")
def build(systems: tuple[str, ...], base: str) -> None:
    """Build the base image and the node image of each SYSTEM (default: etcd)."""
    client = engine()
    for system in systems or ("etcd",):
        system_dockerfile_dir(system)  # BadInput naming the system if it has no Dockerfile
    tag = ensure_base_image(client, base, log=click.echo)
    click.echo(f"base {tag}")
    for system in systems or ("etcd",):
        click.echo(f"{system} {ensure_system_image(client, system, base, log=click.echo)}")


@images.command(name="list")
def list_images() -> None:
    """List the harness's images with their recipe hash."""
    client = engine()
    for img in client.images.list(filters={"label": LABEL}):
        for tag in img.tags or [img.short_id]:
            click.echo(f"{tag}\t{img.labels.get(LABEL, '')}")

