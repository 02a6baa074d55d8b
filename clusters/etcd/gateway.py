"""A small client of etcd's JSON gRPC gateway (the `/v3/...` HTTP endpoints every etcd 3.4+ server serves on
its client port), with the definite/indefinite classification of every error.

Why the gateway and not python3-etcd3 or gRPC stubs: python3-etcd3 is unmaintained and breaks with current
protobuf releases; the gateway needs only the standard library (http.client, json, base64), speaks the same
KV/Txn semantics as gRPC (it is a proxy in front of the same server), and its errors carry the gRPC status code,
which is what the classification needs. Keys and values are base64 in JSON; 64-bit integers are strings.

Owns `Gateway` and `EtcdError` (with `definite`). Does not know workloads (see `clusters.etcd.client`).

Classification (Maelstrom's `definite?` column):
- definite (the request did not take effect): the connection could not be opened (refused, unreachable,
  connect timeout) so nothing was sent; a compare that failed; gRPC InvalidArgument, FailedPrecondition,
  ResourceExhausted, PermissionDenied, Unauthenticated, Unimplemented, OutOfRange; "too many requests".
- indefinite (it may have taken effect): a timeout after sending, a connection reset or closed after sending,
  "leader changed", "no leader", "request timed out" and every other server error.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import socket
from dataclasses import dataclass
from typing import Any

GATEWAY_PREFIXES = ("/v3", "/v3beta", "/v3alpha")
DEFINITE_CODES = frozenset({3, 7, 8, 9, 11, 12, 16})
DEFINITE_MESSAGES = ("too many requests", "not capable", "requested lease not found")


class _NotFound(Exception):
    """HTTP 404: this gateway prefix does not exist on the server."""


class EtcdError(Exception):
    """An etcd request that did not complete. `definite` means it certainly did not take effect."""

    def __init__(self, message: str, *, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


@dataclass(frozen=True, kw_only=True)
class KV:
    key: str
    value: str
    mod_revision: int
    create_revision: int
    version: int


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def unb64(s: str | None) -> str:
    return base64.b64decode(s or "").decode()


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (last byte + 1)."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return raw.decode()


def parse_kvs(resp: dict[str, Any]) -> list[KV]:
    return [
        KV(
            key=unb64(kv.get("key")),
            value=unb64(kv.get("value")),
            mod_revision=int(kv.get("mod_revision", 0)),
            create_revision=int(kv.get("create_revision", 0)),
            version=int(kv.get("version", 0)),
        )
        for kv in resp.get("kvs", [])
    ]


class Gateway:
    """One keep-alive HTTP connection to one etcd member's client URL. Not thread-safe: one per worker."""

    def __init__(self, host: str, port: int = 2379, *, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._prefix: str | None = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except OSError:
                pass
            self._conn = None

    def _connected(self) -> http.client.HTTPConnection:
        """An open connection. A connection the server closed while idle (EOF pending) is replaced before we
        send anything on it, so a restarted server does not turn the next request into an indefinite error."""
        conn = self._conn
        if conn is not None and conn.sock is not None:
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if readable:  # idle keep-alive socket readable = closed by the server
                self.close()
                conn = None
        if conn is None or conn.sock is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                conn.connect()
            except OSError as e:  # nothing was sent
                conn.close()
                raise EtcdError(f"connect: {_describe(e)}", definite=True) from None
            self._conn = conn
        return conn

    def call(self, path: str, body: dict[str, object]) -> dict[str, Any]:
        """POST `body` to `path` ("/v3/kv/range"...); the decoded reply, or EtcdError. The gateway's prefix
        moved between releases (3.2 /v3alpha, 3.3 /v3beta, 3.4+ /v3): on a 404 (definite: nothing ran) the
        older prefixes are tried once and the one that answers is kept for this connection."""
        if self._prefix is not None:
            return self._call(self._prefix + path.removeprefix("/v3"), body)
        for prefix in GATEWAY_PREFIXES:
            try:
                reply = self._call(prefix + path.removeprefix("/v3"), body)
            except _NotFound:
                continue
            self._prefix = prefix
            return reply
        raise EtcdError(f"no etcd v3 gateway answers {path} (tried {', '.join(GATEWAY_PREFIXES)})", definite=True)

    def _call(self, path: str, body: dict[str, object]) -> dict[str, object]:
        conn = self._connected()
        payload = json.dumps(body).encode()
        try:
            conn.request("POST", path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise EtcdError(_describe(e), definite=False) from None
        if resp.status == 404 and self._prefix is None:
            raise _NotFound()
        try:
            reply: dict[str, Any] = json.loads(data or b"{}")
        except json.JSONDecodeError:
            self.close()
            raise EtcdError(f"HTTP {resp.status}: undecodable reply", definite=False) from None
        if resp.status != 200 or "error" in reply and "header" not in reply:
            message = str(reply.get("message") or reply.get("error") or f"HTTP {resp.status}")
            code = int(reply.get("code", 0) or 0)
            definite = code in DEFINITE_CODES or any(m in message for m in DEFINITE_MESSAGES)
            raise EtcdError(message, definite=definite)
        return reply

    # KV --------------------------------------------------------------------------------------------
    def range(
        self, key: str, *, end: str | None = None, serializable: bool = False, keys_only: bool = False
    ) -> list[KV]:
        body: dict[str, object] = {"key": b64(key)}
        if end is not None:
            body["range_end"] = b64(end)
        if serializable:
            body["serializable"] = True
        if keys_only:
            body["keys_only"] = True
        return parse_kvs(self.call("/v3/kv/range", body))

    def put(self, key: str, value: str) -> int:
        """Put; returns the revision of the write."""
        reply = self.call("/v3/kv/put", {"key": b64(key), "value": b64(value)})
        return int(reply.get("header", {}).get("revision", 0))

    def txn(
        self, compare: list[dict[str, object]], success: list[dict[str, object]], failure: list[dict[str, object]] | None = None
    ) -> tuple[bool, list[dict[str, Any]]]:
        """(succeeded, responses). A false `succeeded` is omitted from the gateway's JSON; absent means false."""
        reply = self.call("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure or []})
        return bool(reply.get("succeeded", False)), list(reply.get("responses", []))

    # cluster ---------------------------------------------------------------------------------------
    def status(self) -> dict[str, object]:
        return self.call("/v3/maintenance/status", {})

    def members(self) -> dict[str, str]:
        """member id -> name."""
        reply = self.call("/v3/cluster/member/list", {})
        return {str(m.get("ID", "")): str(m.get("name", "")) for m in reply.get("members", [])}


def compare_value(key: str, value: str) -> dict[str, object]:
    return {"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(value)}


def compare_mod(key: str, mod_revision: int) -> dict[str, object]:
    return {"key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(mod_revision)}


def request_put(key: str, value: str) -> dict[str, object]:
    return {"request_put": {"key": b64(key), "value": b64(value)}}


def request_range(key: str) -> dict[str, object]:
    return {"request_range": {"key": b64(key)}}


def _describe(e: BaseException) -> str:
    if isinstance(e, socket.timeout | TimeoutError):
        return "timeout"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, http.client.RemoteDisconnected):
        return "connection closed by the server"
    return f"{type(e).__name__}: {e}"
