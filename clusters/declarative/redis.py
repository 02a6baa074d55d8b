"""The `redis` protocol of a file-made client: RESP2 over one TCP connection per worker, any Redis-speaking
server (Redis, Valkey, KeyDB, a service of your own).

Owns encoding a command, parsing a reply (simple string, error, integer, bulk string, array) and the
connection's life: connected on first use, dropped after any error so the next op starts clean. A refused
connect is `NotSent`; a timeout or reset once the command was written is `Lost`. Does not decide ok/fail/info.
"""

from __future__ import annotations

import socket

from clusters.declarative import template
from clusters.declarative.protocol import Answer, Lost, NotSent
from clusters.declarative.spec import OpSpec


class RespError(Exception):
    """A reply that is not RESP."""


class RedisConnection:
    def __init__(self, host: str, port: int, timeout: float, hello: list[str] | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.hello = [w.encode() for w in hello or ()]  # filled already: may hold the run's password
        self.sock: socket.socket | None = None
        self.buf = b""

    def call(self, op: OpSpec, values: dict[str, str]) -> Answer:
        words = [template.fill(w, values).encode() for w in op.command]
        if self.sock is None:
            try:
                self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            except OSError as e:
                raise NotSent(f"connect {self.host}:{self.port}: {e}") from None
            self.buf = b""
            if self.hello:
                self._greet()
        try:
            self.sock.sendall(encode(words))
            reply = self._reply()
        except (OSError, RespError) as e:
            self.close()
            raise Lost(f"{op.command[0]}: {type(e).__name__}: {e}") from None
        if isinstance(reply, RedisErrorReply):
            return Answer(code=None, error=reply.text)
        code = reply if isinstance(reply, (int, str)) or reply is None else str(reply)
        return Answer(code=code, value=reply)

    def _greet(self) -> None:
        """Send the file's `hello` (AUTH ...) on the new connection; no op was sent yet, so any trouble is
        NotSent. The reply's text is the server's, never the command (which may hold the password)."""
        assert self.sock is not None
        try:
            self.sock.sendall(encode(self.hello))
            reply = self._reply()
        except (OSError, RespError) as e:
            self.close()
            raise NotSent(f"hello: {type(e).__name__}: {e}") from None
        if isinstance(reply, RedisErrorReply):
            self.close()
            raise NotSent(f"hello refused: {reply.text}")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    # RESP ----------------------------------------------------------------------------------------------------
    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _more(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RespError("connection closed by the server")
        self.buf += chunk

    def _reply(self) -> object:
        line = self._line()
        kind, rest = line[:1], line[1:].decode(errors="replace")
        if kind == b"+":
            return rest
        if kind == b"-":
            return RedisErrorReply(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RespError(f"not a RESP reply: {line[:40]!r}")


class RedisErrorReply:
    def __init__(self, text: str) -> None:
        self.text = text


def encode(words: list[bytes]) -> bytes:
    out = [b"*%d\r\n" % len(words)]
    for w in words:
        out.append(b"$%d\r\n%s\r\n" % (len(w), w))
    return b"".join(out)
