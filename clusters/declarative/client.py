"""The client of a file-made system over `http` or `redis`: performs register, set and counter ops through the
file's ops (`read`/`write`/`cas`, `set.add`/`set.read`, `counter.add`/`counter.read`) and judges each answer.

Owns the outcome table, the same for every protocol (`outcome`):

| what happened                                   | read (any *.read)        | write, cas, add       |
|-------------------------------------------------|--------------------------|-----------------------|
| never sent (connection refused)                 | fail                     | fail                  |
| sent, no answer (timeout, reset)                | fail (a read changes nothing) | info             |
| answer in `refused`                             | fail, `refused(...)`     | fail, `refused(...)`  |
| answer in `absent` (HTTP)                       | ok, value nil            | (not allowed)         |
| answer in `ok` (Redis: `any` = not an error)    | ok, value read           | ok                    |
| answer in `fail` (status, or Redis error prefix)| fail                     | fail                  |
| any other answer                                | fail                     | info                  |

So a file only has to say which answers mean success; whatever it does not list is taken as "may have
happened" for a write, which is always sound. Read values that look like integers become integers (HTTP bodies
and Redis replies carry text); a set read's value is the list answered (a Redis array, a JSON array), a counter
read's a number (nil: 0). Does not generate or check ops; protocols live in `http` and `redis`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from clusters.declarative import template
from clusters.declarative.http import MISSING, HttpConnection
from clusters.declarative.protocol import Answer, Connection, Lost, NotSent
from clusters.declarative.redis import RedisConnection
from clusters.declarative.spec import ClientSpec, OpSpec
from harness.client import refused
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test


class DeclarativeClient:
    """Unopened it is a factory; `open(test, node)` returns a client connected to that node."""

    def __init__(self, spec: ClientSpec, conf: Mapping[str, str], node: str | None = None,
                 conn: Connection | None = None, ip: str = "", secret: str = "", workload: str = "register") -> None:
        self.spec, self.conf, self.node, self.conn, self.ip = spec, dict(conf), node, conn, ip
        self._secret = secret
        self.workload = workload

    def open(self, test: Test, node: str) -> DeclarativeClient:
        host = test.node_host(node)
        conn: Connection
        if self.spec.protocol == "http":
            conn = HttpConnection(host, self.spec.port, test.op_timeout)
        else:
            hello = [template.fill(w, {template.SECRET: self._secret}) for w in self.spec.hello]
            conn = RedisConnection(host, self.spec.port, test.op_timeout, hello=hello)
        return DeclarativeClient(self.spec, self.conf, node, conn, host, self._secret, self.workload)

    def setup(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, test: Test, op: Op) -> Op:
        assert self.conn is not None, "invoke on an unopened DeclarativeClient"
        name, key, values = self._request(op)
        spec = self.spec.ops[name]
        try:
            answer = self.conn.call(spec, values)
        except NotSent as e:
            return op.replace(type="fail", error=str(e), node=self.node)
        except Lost as e:
            return op.replace(type="fail" if spec.reads else "info", error=str(e), node=self.node)
        kind, value, error = outcome(spec, answer)
        done = op.replace(type=kind, node=self.node, error=error)
        if not (spec.reads and kind == "ok"):
            return done
        if name == "read":
            return done.replace(value=(key, value))
        if name == "counter.read":
            return done.replace(value=0 if value is None else value)
        return done.replace(value=elements(answer.value))

    def _request(self, op: Op) -> tuple[str, object, dict[str, str]]:
        """The file's op for `op` (register ops by their own name; set and counter ops as `set.add`, ...), the
        register key if any, and the placeholders' values."""
        values = {f"conf.{k}": v for k, v in self.conf.items()}
        values.update(ip=self.ip, port=str(self.spec.port), node=self.node or "", secret=self._secret)
        if op.f in ("add", "read") and self.workload in ("set", "counter"):
            if op.f == "add":
                values["value"] = str(op.value)
            return f"{self.workload}.{op.f}", None, values
        key = op.value[0]
        values["key"] = str(key)
        if op.f == "write":
            values["value"] = str(op.value[1])
        elif op.f == "cas":
            old, new = op.value[1]
            values.update(old=str(old), new=str(new))
        return op.f, key, values


def outcome(spec: OpSpec, a: Answer) -> tuple[str, object, str | None]:
    """(type, read value, error) of answer `a` to op `spec`, by the table in the module docstring."""
    said = a.error if a.error is not None else a.code
    if a.error is None and a.code in spec.refused:
        return "fail", None, refused(f"{spec.f} answered {said}")
    if a.error is None and spec.reads and a.code in spec.absent:
        return "ok", None, None
    if a.error is None and (spec.ok is None or a.code in spec.ok):
        if not spec.reads:
            return "ok", None, None
        if a.value is MISSING:
            return "fail", None, f"answer {said} has no value at {spec.value or 'the body'}"
        return "ok", register_value(a.value), None
    if a.error is not None and any(a.error.startswith(str(p)) for p in spec.fail):
        return "fail", None, f"error reply {a.error}"
    if a.error is None and a.code in spec.fail:
        return "fail", None, f"answered {said}"
    return ("fail" if spec.reads else "info"), None, f"unexpected answer {said}"


def register_value(raw: object) -> object:
    """A register's value as the workload writes it (an integer), when the text is one; else as read."""
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw


def elements(raw: object) -> list[object]:
    """A set read's elements: a list (a Redis array, a JSON array) of integers where the text is one; a lone
    value is one element, nothing is none."""
    if raw is None or raw is MISSING:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [register_value(x) for x in items]
