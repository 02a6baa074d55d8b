"""Reading a system file: YAML in, a typed `SystemSpec` out, or one line `FILE:LINE: problem` (BadInput, 254).

Owns the file's meaning: the JSON Schema shipped beside this module (`system.schema.json`) checks shapes and
types; `load_spec` then checks what a schema cannot say (placeholders each field may use, ports a template
needs, the ops a workload needs) and builds frozen dataclasses. Line numbers come from PyYAML's node marks, so
every problem names the line of the key at fault. Does not start anything: a bad file never touches a node.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

from clusters.declarative import template
from harness.errors import BadInput

Path = tuple[str | int, ...]
Command = str | tuple[str, ...]
"""A shell line (run with `sh -c`, the daemon `exec`ed) or an argv."""
Reply = int | str | None

PROTOCOLS = ("http", "redis", "postgres", "mysql", "etcd")
"""The client protocols a system file can name (one module each in this package; the schema's enum)."""

SQL_PROTOCOLS = frozenset({"postgres", "mysql"})

WORKLOAD_OPS: Mapping[str, frozenset[str]] = MappingProxyType({
    "register": frozenset({"read", "write", "cas"}),
    "set": frozenset({"set.add", "set.read"}),
    "counter": frozenset({"counter.add", "counter.read"}),
    "list-append": frozenset({"list-append.append", "list-append.read"}),
})
"""The workloads a file's ops can serve, and the ops each needs (see workloads/register.py, set.py, counter.py,
list_append.py: a list-append txn runs its micro-ops' SQL in one transaction)."""

OP_PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "read": frozenset({"key"}), "write": frozenset({"key", "value"}), "cas": frozenset({"key", "old", "new"}),
    "set.add": frozenset({"value"}), "set.read": frozenset(),
    "counter.add": frozenset({"value"}), "counter.read": frozenset(),
    "list-append.append": frozenset({"key", "value"}), "list-append.read": frozenset({"key"}),
})
"""The op's own placeholders (beside {node}, {ip}, {port} and conf.KEY, which every op may use)."""

READ_OPS = frozenset({"read", "set.read", "counter.read", "list-append.read"})


def protocol_workloads(protocol: str) -> tuple[str, ...]:
    """The workloads a client of `protocol` can serve: for `etcd` the etcd plugin's own (its client needs no
    ops), for SQL every workload of WORKLOAD_OPS, for `http` and `redis` the register."""
    if protocol == "etcd":
        from clusters.etcd.workloads import PERFORMERS

        return tuple(sorted(PERFORMERS))
    return tuple(WORKLOAD_OPS) if protocol in SQL_PROTOCOLS else ("register", "set", "counter")


@dataclass(frozen=True, kw_only=True)
class Ready:
    """When a node serves: its client port accepts TCP (`tcp`), an HTTP GET answers 2xx (`http`, a URL
    template), or a command on the node exits 0; within `timeout` seconds for the whole cluster."""

    tcp: bool = False
    http: str | None = None
    command: Command | None = None
    timeout: float = 60.0


@dataclass(frozen=True, kw_only=True)
class MembershipSpec:
    """`nodes.membership`: commands run on a member that stays (`{node}`/`{ip}` the node leaving or joining,
    `{via_ip}` the member), and the start of a node that joins a running cluster (default `nodes.start`)."""

    leave: Command
    join: Command
    members: Command
    start: Command | None


MEMBERSHIP_NAMES = frozenset({"via", "via_ip"})


@dataclass(frozen=True, kw_only=True)
class NodeSpec:
    """How the system runs on one node. Templates use `template.NODE_NAMES`."""

    port: int | None
    peer_port: int | None
    image: str | None  # --cluster docker: the plugin system whose node image the nodes use
    dockerfile: str | None  # --cluster docker: the file's own node image recipe (an absolute path)
    membership: MembershipSpec | None
    install: tuple[str, ...]
    files: tuple[tuple[str, str], ...]  # (path, content) templates; content may hold {secret}
    start: Command
    stop_signal: str
    ready: Ready | None
    data_dir: str
    logs: tuple[str, ...]
    data_files: tuple[str, ...]
    primary: Command | None


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    """One client op (`read`, `write`, `cas`) in the file's protocol. HTTP matches status codes, Redis replies;
    `ok=None` means any reply that is not an error. Replies in none of the lists: `fail` for a read (it changed
    nothing), `info` for a write (it may have happened)."""

    f: str
    ok: tuple[Reply, ...] | None
    refused: tuple[Reply, ...] = ()
    fail: tuple[Reply, ...] = ()
    absent: tuple[int, ...] = ()
    method: str = ""
    path: str = ""
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    value: str = ""
    command: tuple[str, ...] = ()
    sql: tuple[str, ...] = ()  # postgres, mysql: statements run in order in the op's transaction
    refused_without_rows: bool = False  # sql: the last statement touched no row -> rolled back, refused

    @property
    def reads(self) -> bool:
        return self.f in READ_OPS


@dataclass(frozen=True, kw_only=True)
class ClientSpec:
    protocol: str
    port: int
    ops: Mapping[str, OpSpec]
    hello: tuple[str, ...] = ()
    user: str = ""  # postgres, mysql: the login (its password is {secret})
    database: str = ""
    setup: tuple[str, ...] = ()  # postgres, mysql: SQL run once before the run (CREATE TABLE IF NOT EXISTS ...)
    isolation: str | None = None  # postgres, mysql: the transactions' isolation level; None: the server's
    reads: str = "linearizable"  # etcd: or serializable (served by the member itself, may be stale)


@dataclass(frozen=True, kw_only=True)
class SystemSpec:
    """A whole system file, checked."""

    path: str
    sha256: str
    name: str
    description: str
    conf: Mapping[str, str]
    nodes: NodeSpec
    client: ClientSpec
    workloads: frozenset[str] = field(default_factory=frozenset)


def _schema() -> dict[str, object]:
    return json.loads(resources.files("clusters.declarative").joinpath("system.schema.json").read_text())


class _Where:
    """Line numbers of a YAML document by path of keys and indexes, from the composed node tree."""

    def __init__(self, path: str, root: yaml.Node | None) -> None:
        self.path = path
        self.lines: dict[Path, int] = {(): 1}
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, at: Path) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                here = (*at, str(k.value))
                self.lines[here] = k.start_mark.line + 1
                self._walk(v, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[(*at, i)] = item.start_mark.line + 1
                self._walk(item, (*at, i))

    def error(self, at: Path, problem: str) -> BadInput:
        """BadInput `FILE:LINE: KEY: problem`, the line of the deepest part of `at` the file has."""
        for n in range(len(at), -1, -1):
            if at[:n] in self.lines:
                line = self.lines[at[:n]]
                break
        key = ".".join(str(p) for p in at)
        return BadInput(f"{self.path}:{line}: {key + ': ' if key else ''}{problem}")


def load_spec(path: str) -> SystemSpec:
    """The checked SystemSpec of the YAML file at `path`; BadInput `FILE:LINE: problem` for anything wrong."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise BadInput(f"--system-file {path}: {e.strerror}") from None
    try:
        where = _Where(path, yaml.compose(text, Loader=yaml.SafeLoader))
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise BadInput(f"{path}:{line}: not YAML: {problem}") from None
    if not isinstance(data, dict):
        raise where.error((), "a system file is a mapping (name:, nodes:, client:)")
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data),
                    key=lambda e: (-len(e.absolute_path), e.message))
    if errors:
        best = jsonschema.exceptions.best_match(errors) or errors[0]
        at: Path = tuple(best.absolute_path)
        if "propertyNames" in best.absolute_schema_path:  # the error is about a key: point at its line
            key_at = (*at, str(best.instance))
            raise where.error(key_at, f"unknown op {best.instance!r} (ops: {', '.join(OP_PLACEHOLDERS)})")
        raise where.error(at, _schema_message(best))
    return _build(path, hashlib.sha256(text.encode()).hexdigest(), data, where)


def _schema_message(e: jsonschema.ValidationError) -> str:
    """jsonschema's message, shortened where it would print a whole mapping."""
    if e.validator == "required" and isinstance(e.validator_value, list) and isinstance(e.instance, dict):
        missing = [k for k in e.validator_value if k not in e.instance]
        return f"missing {', '.join(missing)}"
    if e.validator == "enum":
        return f"{e.instance!r} is not one of {', '.join(map(str, e.validator_value))}"
    text = e.message
    return text if len(text) < 160 else text[:157] + "..."


def _build(path: str, digest: str, data: dict[str, Any], where: _Where) -> SystemSpec:
    conf = {str(k): _text(v) for k, v in (data.get("conf") or {}).items()}
    conf_names = frozenset(conf)
    nodes = _nodes(data["nodes"], where, conf_names)
    client = _client(data["client"], nodes, where, conf_names)
    served = protocol_workloads(client.protocol)
    if client.protocol == "etcd":
        workloads = frozenset(served)
    else:
        workloads = frozenset(w for w in served if WORKLOAD_OPS[w] <= set(client.ops))
    if not workloads:
        need = "; ".join(f"{w} needs {', '.join(sorted(WORKLOAD_OPS[w]))}" for w in served)
        raise where.error(("client", "ops"), f"the ops serve no workload ({need})")
    return SystemSpec(path=path, sha256=digest, name=str(data["name"]), description=str(data.get("description", "")),
                      conf=MappingProxyType(conf), nodes=nodes, client=client, workloads=workloads)


def _text(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def _command(v: Any) -> Command:
    return v if isinstance(v, str) else tuple(v)


def _check(where: _Where, at: Path, value: Any, allowed: frozenset[str], conf: frozenset[str]) -> None:
    """Every placeholder in `value` (a string or list of strings) is allowed; else FILE:LINE naming it."""
    items = [(at, value)] if isinstance(value, str) else [((*at, i), v) for i, v in enumerate(value)]
    for here, text in items:
        bad = template.unknown(text, allowed, conf)
        if bad is not None:
            known = ", ".join(sorted(allowed)) + (", conf.KEY for a KEY under conf:" if conf else "")
            if bad == template.SECRET:
                raise where.error(here, "{secret} here would show on a command line or in a log: write it into a "
                                        "nodes.files entry, an HTTP header or body, or client.hello")
            raise where.error(here, f"unknown placeholder {{{bad}}} (known here: {known})")


def _nodes(d: dict[str, Any], where: _Where, conf: frozenset[str]) -> NodeSpec:
    at: Path = ("nodes",)
    for key in ("install", "start", "data_dir", "logs", "data_files"):
        if key in d:
            _check(where, (*at, key), d[key], template.NODE_NAMES, conf)
    for path_t, content in (d.get("files") or {}).items():
        _check(where, (*at, "files", path_t), path_t, template.NODE_NAMES, conf)
        _check(where, (*at, "files", path_t), content, template.NODE_NAMES | {template.SECRET}, conf)
    ready = d.get("ready")
    if ready is not None:
        for key in ("http", "command"):
            if key in ready:
                _check(where, (*at, "ready", key), ready[key], template.NODE_NAMES, conf)
        if sum(k in ready for k in ("tcp", "http", "command")) != 1:
            raise where.error((*at, "ready"), "give one of tcp: true, http: URL or command:")
        if ready.get("tcp") and "port" not in d:
            raise where.error((*at, "ready", "tcp"), "a TCP probe needs nodes.port")
    if "primary" in d:
        _check(where, (*at, "primary", "command"), d["primary"]["command"], template.NODE_NAMES, conf)
    membership = _membership(d, where, conf)
    _needs_ports(d, where)
    return NodeSpec(
        port=d.get("port"), peer_port=d.get("peer_port", d.get("port")),
        image=d.get("image"), dockerfile=_dockerfile(where, d), membership=membership, install=tuple(d.get("install", ())), files=tuple((d.get("files") or {}).items()), start=_command(d["start"]), stop_signal=d.get("stop_signal", "TERM"),
        ready=None if ready is None else Ready(
            tcp=bool(ready.get("tcp")), http=ready.get("http"),
            command=_command(ready["command"]) if "command" in ready else None,
            timeout=float(ready.get("timeout", 60.0))),
        data_dir=d.get("data_dir", "{workdir}/data"), logs=tuple(d.get("logs", ())),
        data_files=tuple(d.get("data_files", ())),
        primary=_command(d["primary"]["command"]) if "primary" in d else None,
    )


def _membership(d: dict[str, Any], where: _Where, conf: frozenset[str]) -> MembershipSpec | None:
    m = d.get("membership")
    if m is None:
        return None
    for key in ("leave", "join", "members", "start"):
        if key in m:
            _check(where, ("nodes", "membership", key), m[key], template.NODE_NAMES | MEMBERSHIP_NAMES, conf)
    return MembershipSpec(leave=_command(m["leave"]), join=_command(m["join"]), members=_command(m["members"]),
                          start=_command(m["start"]) if "start" in m else None)


def _dockerfile(where: _Where, d: dict[str, Any]) -> str | None:
    """nodes.dockerfile as an absolute path (relative to the system file), which must exist; not with image."""
    if "dockerfile" not in d:
        return None
    if "image" in d:
        raise where.error(("nodes", "dockerfile"), "give image (a plugin's node image) or dockerfile, not both")
    path = os.path.join(os.path.dirname(os.path.abspath(where.path)), d["dockerfile"])
    if not os.path.isfile(path):
        raise where.error(("nodes", "dockerfile"), f"no such file: {path}")
    return path


def _needs_ports(d: dict[str, object], where: _Where) -> None:
    """A template that uses {port} (or the peer placeholders) needs nodes.port declared."""
    for key in ("install", "start", "data_dir", "logs", "data_files", "ready", "primary"):
        text = json.dumps(d.get(key, ""))
        used = set(template.names(text)) & {"port", "peer_port", "peers", "initial_cluster"}
        if used and "port" not in d and not (used <= {"peer_port", "peers", "initial_cluster"} and "peer_port" in d):
            raise where.error(("nodes", key), f"uses {{{sorted(used)[0]}}} but nodes.port is not declared")


def _client(d: dict[str, Any], nodes: NodeSpec, where: _Where, conf: frozenset[str]) -> ClientSpec:
    at: Path = ("client",)
    protocol = d["protocol"]
    port = d.get("port", nodes.port)
    if port is None:
        raise where.error(at, "no port: set client.port or nodes.port")
    for key, only in (("hello", ("redis",)), ("user", SQL_PROTOCOLS), ("database", SQL_PROTOCOLS),
                      ("setup", SQL_PROTOCOLS), ("isolation", SQL_PROTOCOLS), ("reads", ("etcd",))):
        if key in d and protocol not in only:
            raise where.error((*at, key), f"{key} is for the {'/'.join(sorted(only))} protocol, not {protocol}")
    if protocol == "etcd":
        if "ops" in d:
            raise where.error((*at, "ops"), "the etcd protocol has its ops built in (every workload of the etcd "
                                            "plugin): remove ops")
    elif "ops" not in d:
        raise where.error(at, "missing ops")
    if "hello" in d:
        _check(where, (*at, "hello"), d["hello"], template.OP_NAMES | {template.SECRET}, conf)
    for i, line in enumerate(d.get("setup", ())):
        _check(where, (*at, "setup", i), line, frozenset(), conf)
    served = protocol_workloads(protocol)
    ops: dict[str, OpSpec] = {}
    for f, o in (d.get("ops") or {}).items():
        here = (*at, "ops", f)
        if not any(f in WORKLOAD_OPS[w] for w in served):
            raise where.error(here, f"the {protocol} protocol serves {', '.join(served)}: op {f!r} is for another "
                                    "workload")
        ops[f] = _op(protocol, f, o, here, where, conf)
        if not ops[f].ok and ops[f].ok is not None:
            raise where.error((*here, "ok"), "no reply is ok: list the status codes or replies that mean ok")
    return ClientSpec(protocol=protocol, port=int(port), ops=MappingProxyType(ops), hello=tuple(d.get("hello", ())),
                      user=d.get("user", "postgres" if protocol == "postgres" else "root"),
                      database=d.get("database", ""), setup=tuple(d.get("setup", ())),
                      isolation=d.get("isolation"), reads=d.get("reads", "linearizable"))


def _op(protocol: str, f: str, o: dict[str, Any], here: Path, where: _Where, conf: frozenset[str]) -> OpSpec:
    """One op of a file's client, its placeholders checked (the op's own, the node's, conf.KEY)."""
    names = OP_PLACEHOLDERS[f] | {"ip", "port", "node"}
    with_secret = names | {template.SECRET}
    if protocol == "http":
        _check(where, (*here, "path"), o["path"], names, conf)
        if "body" in o:
            _check(where, (*here, "body"), o["body"], with_secret, conf)
        for name, text in (o.get("headers") or {}).items():
            _check(where, (*here, "headers", name), text, with_secret, conf)
        if "absent" in o and f != "read":
            raise where.error((*here, "absent"), "only a read can find its key absent")
        return OpSpec(f=f, ok=tuple(o["ok"]), refused=tuple(o.get("refused", ())), fail=tuple(o.get("fail", ())),
                      absent=tuple(o.get("absent", ())), method=o["method"], path=o["path"], body=o.get("body"),
                      headers=tuple((o.get("headers") or {}).items()), value=o.get("value", ""))
    if protocol in SQL_PROTOCOLS:
        sql = (o["sql"],) if isinstance(o["sql"], str) else tuple(o["sql"])
        _check(where, (*here, "sql"), o["sql"], names, conf)
        no_rows = o.get("refused_when") == "no-rows"
        if no_rows and f in READ_OPS:
            raise where.error((*here, "refused_when"), "a read is never refused: it changes nothing")
        return OpSpec(f=f, ok=None, sql=sql, refused_without_rows=no_rows)
    _check(where, (*here, "command"), o["command"], names, conf)
    ok = None if o["ok"] == "any" else tuple(o["ok"])
    return OpSpec(f=f, ok=ok, refused=tuple(o.get("refused", ())), fail=tuple(o.get("fail", ())),
                  command=tuple(o["command"]))
