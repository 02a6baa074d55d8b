"""The client of a file-made system: performs register ops through the file's protocol and judges each answer.

Owns the outcome table, the same for every protocol (`outcome`):

| what happened                                   | read                     | write, cas            |
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
and Redis replies carry text). Does not generate or check ops; protocols live in `http` and `redis`.
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
                 conn: Connection | None = None, ip: str = "", secret: str = "") -> None:
        self.spec, self.conf, self.node, self.conn, self.ip = spec, dict(conf), node, conn, ip
        self._secret = secret

    def open(self, test: Test, node: str) -> DeclarativeClient:
        host = test.node_host(node)
        conn: Connection
        if self.spec.protocol == "http":
            conn = HttpConnection(host, self.spec.port, test.op_timeout)
        else:
            hello = [template.fill(w, {template.SECRET: self._secret}) for w in self.spec.hello]
            conn = RedisConnection(host, self.spec.port, test.op_timeout, hello=hello)
        return DeclarativeClient(self.spec, self.conf, node, conn, host, self._secret)

    def setup(self, test: Test) -> None:
        pass

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        if self.conn is not None:
            self.conn.close()

    def invoke(self, test: Test, op: Op) -> Op:
        assert self.conn is not None, "invoke on an unopened DeclarativeClient"
        spec = self.spec.ops[op.f]
        key = op.value[0]
        values = {f"conf.{k}": v for k, v in self.conf.items()}
        values.update(key=str(key), ip=self.ip, port=str(self.spec.port), node=self.node or "", secret=self._secret)
        if op.f == "write":
            values["value"] = str(op.value[1])
        elif op.f == "cas":
            old, new = op.value[1]
            values.update(old=str(old), new=str(new))
        try:
            answer = self.conn.call(spec, values)
        except NotSent as e:
            return op.replace(type="fail", error=str(e), node=self.node)
        except Lost as e:
            return op.replace(type="fail" if op.f == "read" else "info", error=str(e), node=self.node)
        kind, value, error = outcome(spec, answer)
        done = op.replace(type=kind, node=self.node, error=error)
        return done.replace(value=(key, value)) if op.f == "read" and kind == "ok" else done


def outcome(spec: OpSpec, a: Answer) -> tuple[str, object, str | None]:
    """(type, read value, error) of answer `a` to op `spec`, by the table in the module docstring."""
    said = a.error if a.error is not None else a.code
    if a.error is None and a.code in spec.refused:
        return "fail", None, refused(f"{spec.f} answered {said}")
    if a.error is None and spec.f == "read" and a.code in spec.absent:
        return "ok", None, None
    if a.error is None and (spec.ok is None or a.code in spec.ok):
        if spec.f != "read":
            return "ok", None, None
        if a.value is MISSING:
            return "fail", None, f"answer {said} has no value at {spec.value or 'the body'}"
        return "ok", register_value(a.value), None
    if a.error is not None and any(a.error.startswith(str(p)) for p in spec.fail):
        return "fail", None, f"error reply {a.error}"
    if a.error is None and a.code in spec.fail:
        return "fail", None, f"answered {said}"
    return ("fail" if spec.f == "read" else "info"), None, f"unexpected answer {said}"


def register_value(raw: object) -> object:
    """A register's value as the workload writes it (an integer), when the text is one; else as read."""
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return raw
    return raw
