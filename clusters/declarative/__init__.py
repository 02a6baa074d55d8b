"""Declarative systems: a YAML file that says how a system runs on each node and how a client talks to it,
loaded with `harness run --system-file FILE`, so that a service can be tested without writing Python.

Owns `DeclarativeSystem` (the same `System` shape a plugin has: name, workloads, option specs, db, client,
versions) and `load_system`. The file's meaning is in `spec` (checked against `system.schema.json`, shipped
in this package), the nodes' side in `db`, the client's outcome rules in `client`, one module per wire protocol
(`http`, `redis`, `sql` for postgres and mysql; `etcd` is the etcd plugin's client). The runner cannot tell a file-made system from a plugin. The guide: docs/systems.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from clusters.declarative.client import DeclarativeClient
from clusters.declarative.db import DeclarativeDB, db_for
from clusters.declarative.spec import SQL_PROTOCOLS, SystemSpec, load_spec
from harness.errors import BadInput
from harness.options import CONF, OptionSpec, conf_spec

if TYPE_CHECKING:
    from harness.client import Client
    from harness.test import Test


class DeclarativeSystem:
    """The System of one checked system file."""

    def __init__(self, spec: SystemSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.workloads: frozenset[str] = spec.workloads
        self.option_specs: Sequence[OptionSpec] = (conf_spec(f"{{conf.KEY}} in {spec.path} (keys under its conf:)"),)
        self.node_image: str | None = spec.nodes.image  # harness.build passes it to the cluster (docker's image)
        self.node_dockerfile: str | None = spec.nodes.dockerfile  # or the file's own recipe of that image

    def conf(self, test: Test) -> Mapping[str, str]:
        """The file's conf defaults with --system-opt conf.KEY=VALUE applied; BadInput for a key the file does
        not declare (before any node is touched)."""
        given = dict(test.system_opts.get(CONF) or {}) if test.system_opts else {}
        unknown = sorted(k for k in given if k not in self.spec.conf)
        if unknown:
            known = ", ".join(sorted(self.spec.conf)) or "none"
            raise BadInput(f"--system-opt conf.{unknown[0]}: {self.spec.path} declares no such setting "
                           f"under conf: (it has: {known})")
        return {**self.spec.conf, **given}

    def secret(self, test: Test) -> str:
        """The run's password for this system ({secret}); never printed, never on a command line."""
        return test.secrets.password(f"system-file {self.spec.name}")

    def db(self, test: Test) -> DeclarativeDB:
        return db_for(self.spec, self.conf(test), self.secret(test))

    def client(self, test: Test) -> Client:
        """The client of the file's protocol: `http`/`redis` judge answers by the file's lists, `postgres`/`mysql`
        run the file's SQL (`sql`), `etcd` is the etcd plugin's own client with its every workload."""
        c = self.spec.client
        if c.protocol in SQL_PROTOCOLS:
            from clusters.declarative.sql import SqlClient

            return SqlClient(c, self.conf(test), workload=test.workload.name, secret=self.secret(test))
        if c.protocol == "etcd":
            from clusters.etcd.client import EtcdClient

            return EtcdClient(workload=test.workload.name, reads=c.reads, port=c.port)
        return DeclarativeClient(c, self.conf(test), secret=self.secret(test), workload=test.workload.name)

    def versions(self, test: Test) -> dict[str, str]:
        return {"system-file": self.spec.path, "sha256": self.spec.sha256}


def load_system(path: str) -> DeclarativeSystem:
    """The system described by the YAML file at `path`; BadInput `FILE:LINE: problem` if the file is wrong."""
    return DeclarativeSystem(load_spec(path))
