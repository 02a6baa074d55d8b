"""The redis system's rules that need no cluster: which error replies mean Redis refused a command before running
it (a definite fail) and which leave a write unknown, and the mode the node count allows."""

from __future__ import annotations

import pytest
import redis

from clusters.redis import PLUGIN as REDIS
from clusters.redis import RedisOptions
from clusters.redis.client import refused_before_running
from harness.errors import BadInput
from harness.options import parse_opts


@pytest.mark.parametrize("error", [
    redis.exceptions.ReadOnlyError("You can't write against a read only replica."),
    redis.exceptions.ExecAbortError("Transaction discarded because of previous errors."),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    redis.ResponseError("NOREPLICAS Not enough good replicas to write."),
    redis.ResponseError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
])
def test_refusals_before_running_are_definite(error: redis.ResponseError) -> None:
    assert refused_before_running(error)


@pytest.mark.parametrize("error", [
    redis.ResponseError("ERR Error running script (call to f_...): @user_script:3: some failure"),
    redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
])
def test_other_error_replies_leave_a_write_unknown(error: redis.ResponseError) -> None:
    assert not refused_before_running(error)


def _opts(**raw: str) -> dict[str, object]:
    return dict(parse_opts("system redis", REDIS.option_specs, raw))


def test_mode_follows_the_node_count_and_refuses_idle_nodes() -> None:
    assert RedisOptions.of(_opts(), ["n1"]).mode == "standalone"
    assert RedisOptions.of(_opts(), ["n1", "n2", "n3"]).mode == "sentinel"
    with pytest.raises(BadInput, match="n2, n3 would run nothing"):
        RedisOptions.of(_opts(mode="standalone"), ["n1", "n2", "n3"])
    with pytest.raises(BadInput, match="at least 2 nodes"):
        RedisOptions.of(_opts(mode="sentinel"), ["n1"])
    with pytest.raises(BadInput, match="at least 100"):
        _opts(down_after_ms="10")
    o = RedisOptions.of(_opts(**{"conf.min-replicas-to-write": "1"}), ["n1", "n2", "n3"])
    assert dict(o.conf) == {"min-replicas-to-write": "1"}
