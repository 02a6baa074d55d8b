"""The `redis` protocol against a real redis-server on loopback: the Redis example's own ops, its `hello`
(AUTH with the run's password, written by the DB into a mode-600 file, never on a command line), and the
outcomes of a refused connection and a refused cas."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from clusters.declarative import load_system
from clusters.declarative.client import outcome
from clusters.declarative.protocol import NotSent
from clusters.declarative.redis import RedisConnection

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "systems" / "redis.yaml"
PASSWORD = "0123456789abcdef0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[int]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    port = _free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(f"requirepass {PASSWORD}\n")
    proc = subprocess.Popen(["redis-server", str(conf), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not listen"
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


def test_example_ops_with_auth_on_a_real_redis(redis: int) -> None:
    spec = load_system(str(EXAMPLE)).spec.client
    ops = spec.ops
    anon = RedisConnection("127.0.0.1", redis, 2.0)
    kind, _, error = outcome(ops["write"], anon.call(ops["write"], {"key": "1", "value": "3"}))
    assert kind == "info" and error is not None and "NOAUTH" in error  # an error reply not listed: may have happened
    anon.close()
    conn = RedisConnection("127.0.0.1", redis, 2.0, hello=["AUTH", PASSWORD])
    try:
        assert outcome(ops["read"], conn.call(ops["read"], {"key": "1"})) == ("ok", None, None)
        assert outcome(ops["write"], conn.call(ops["write"], {"key": "1", "value": "3"}))[0] == "ok"
        assert outcome(ops["read"], conn.call(ops["read"], {"key": "1"})) == ("ok", 3, None)
        kind, _, error = outcome(ops["cas"], conn.call(ops["cas"], {"key": "1", "old": "2", "new": "4"}))
        assert kind == "fail" and error == "refused: cas answered 0"
        assert outcome(ops["cas"], conn.call(ops["cas"], {"key": "1", "old": "3", "new": "4"}))[0] == "ok"
        assert outcome(ops["read"], conn.call(ops["read"], {"key": "1"})) == ("ok", 4, None)
    finally:
        conn.close()
    wrong = RedisConnection("127.0.0.1", redis, 2.0, hello=["AUTH", "not-the-password"])
    with pytest.raises(NotSent, match="hello refused: WRONGPASS") as e:
        wrong.call(ops["read"], {"key": "1"})
    assert "not-the-password" not in str(e.value)


def test_connection_refused_is_not_sent() -> None:
    spec = load_system(str(EXAMPLE)).spec.client
    with pytest.raises(NotSent):
        RedisConnection("127.0.0.1", _free_port(), 1.0).call(spec.ops["write"], {"key": "1", "value": "1"})
