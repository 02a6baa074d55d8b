"""`harness new system NAME`: writes a plugin package for a new system that installs with pip, shows up in
`harness plugins` and passes its own end-to-end test from the start.

Owns the command and the files it writes (the `*.tmpl` templates beside this module, filled with
string.Template: `${name}`, `${package}`, `${klass}`). The package runs a small stand-in server (a durable
single-node key-value store over HTTP, standard library only) so that everything works before the user
replaces it with their own system; docs/systems.md walks through that. Never overwrites a file.
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass
from importlib import resources

import click

from harness.errors import BadInput

NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


@dataclass(frozen=True, kw_only=True)
class Names:
    name: str  # the system's name: demo-kv
    package: str  # the Python package: harness_demo_kv
    klass: str  # the class prefix: DemoKv

    @classmethod
    def of(cls, name: str) -> Names:
        if not NAME.match(name):
            raise BadInput(f"system name {name!r}: lower-case letters, digits and '-', starting with a letter")
        return cls(name=name, package="harness_" + name.replace("-", "_"),
                   klass="".join(p.capitalize() for p in name.split("-")))


def files_of(names: Names) -> dict[str, str]:
    """Relative path -> content of every file of the new package."""
    where = {"pyproject.toml.tmpl": "pyproject.toml", "__init__.py.tmpl": f"{names.package}/__init__.py",
             "db.py.tmpl": f"{names.package}/db.py", "client.py.tmpl": f"{names.package}/client.py",
             "server.py.tmpl": f"{names.package}/server.py", "test.py.tmpl": f"tests/test_{names.package}.py"}
    root = resources.files("harness.scaffold")
    subs = {"name": names.name, "package": names.package, "klass": names.klass}
    return {out: string.Template(root.joinpath(tmpl).read_text()).substitute(subs) for tmpl, out in where.items()}


def write(name: str, directory: str) -> list[str]:
    """Write the package of system `name` into `directory` (created; it must not hold any of the files)."""
    names = Names.of(name)
    files = files_of(names)
    taken = [p for p in files if os.path.exists(os.path.join(directory, p))]
    if taken:
        raise BadInput(f"{os.path.join(directory, taken[0])} exists; `harness new` never overwrites a file")
    written = []
    for rel, text in files.items():
        path = os.path.join(directory, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "x", encoding="utf-8") as fh:
            fh.write(text)
        written.append(path)
    return written


@click.group()
def new() -> None:
    """Start a plugin package for a new system (harness new system NAME)."""


@new.command("system")
@click.argument("name")
@click.option("--dir", "directory", default=None, help="where to write it (default: ./harness-NAME)")
def system(name: str, directory: str | None) -> None:
    """Write a plugin package for system NAME: pyproject, plugin, DB, client, stand-in server, test."""
    directory = directory or f"harness-{name}"
    for path in write(name, directory):
        click.echo(path)
    click.echo(f"next: pip install -e {directory} && harness plugins && pytest -q {directory}/tests", err=True)
