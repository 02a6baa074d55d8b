"""The `http` protocol of a file-made client: one request per op, built from the op's templates.

Owns sending (`http.client`, a fresh TCP connection per op so that "never sent" and "sent, no answer" stay
apart: a refused connect is `NotSent`, anything after the request went out is `Lost`) and reading a value out of
a JSON body by JSON pointer (RFC 6901). Does not decide ok/fail/info (`clusters.declarative.client` does).
"""

from __future__ import annotations

import http.client
import json

from clusters.declarative import template
from clusters.declarative.protocol import Answer, Lost, NotSent
from clusters.declarative.spec import OpSpec

MISSING = object()


class HttpConnection:
    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    def call(self, op: OpSpec, values: dict[str, str]) -> Answer:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            try:
                conn.connect()
            except OSError as e:
                raise NotSent(f"connect {self.host}:{self.port}: {e}") from None
            body = template.fill(op.body, values).encode() if op.body is not None else None
            headers = {k: template.fill(v, values) for k, v in op.headers}
            try:
                conn.request(op.method, template.fill(op.path, values), body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                raise Lost(f"{op.method} {op.path}: {type(e).__name__}: {e}") from None
            value = pointer(data, op.value) if op.reads and resp.status in (op.ok or ()) else None
            return Answer(code=resp.status, value=value)
        finally:
            conn.close()

    def close(self) -> None:
        pass


def pointer(data: bytes, path: str) -> object:
    """The value at JSON pointer `path` ("" is the whole document) in the JSON `data`; MISSING if there is none
    or the body is not JSON."""
    try:
        doc: object = json.loads(data)
    except ValueError:
        return MISSING
    for raw in path.split("/")[1:] if path else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return MISSING
    return doc
