"""The NATS client of a worker: one nats-py connection to the worker's own node, the op's requests, the outcome.

Owns the worker's asyncio loop (nats-py is asyncio; each worker drives its own loop from its own thread, one op
at a time), its connection (opened on the first op, never reconnected behind our back: `allow_reconnect` off,
so a request is never buffered and sent later; after any connection error the next op connects afresh) and the
mapping of outcomes to ok / fail / info. What each op sends is `clusters.nats.workloads`'.

The client talks to its own node only; the node forwards JetStream requests to the stream (or consumer) leader
over the cluster's routes, as it would for an application living on that node.

Outcomes (the completion's type; `Wire.effect_sent`: a publish, or a dequeue's ack, went out):
    ok     the server answered: a publish's ack (its seq), a read's messages (none from a stream JetStream says
           does not exist), a dequeue's element whose ack the server confirmed.
    fail   definitely did not happen: the connection could not be made; any error before a request that may
           change data went out (a pull that timed out took nothing: an element delivered and never acked is
           redelivered); "no responders" (503: no server took the request, so nothing was stored); a JetStream
           error reply to a publish (the stream refused it: `refused`); an empty queue (`refused("empty")`); any
           failure of a read (reads change nothing).
    info   unknown: a publish whose ack did not come in time (it may be stored, the ack lost), a dequeue whose ack
           was not confirmed (the element may be taken, or redelivered), a drain that failed after taking
           elements, a connection that broke after a publish or ack went out. Also, via the interpreter, a
           timeout. Request timeouts are a little below the op timeout, so the client classifies a stall itself.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import nats
import nats.errors as nerr
import nats.js.errors as jserr
from nats.aio.client import Client as NATS

from clusters.nats.conf import CLIENT_PORT, CLIENT_USER
from clusters.nats.workloads import PERFORMERS, WORKLOADS, Empty, NotDrained, Performer, Wire
from harness.client import refused
from harness.errors import BadInput
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

READS = frozenset({"read", "read-all"})
PUBLISHES = frozenset({"append", "enqueue"})


async def _quiet(*_: object) -> None:
    """nats-py's callbacks: errors reach us through the request that failed, not through its logger."""


async def connect(host: str, password: str, timeout: float) -> NATS:
    """A connection to the node at `host` within `timeout` seconds, never reconnecting by itself."""
    # nats-py's first connect loops over its servers until each has failed more than max_reconnect_attempts times
    # (0 means for ever): 1 and no wait between tries make it two quick tries; wait_for bounds it whatever happens.
    return await asyncio.wait_for(nats.connect(
        servers=[f"nats://{host}:{CLIENT_PORT}"], user=CLIENT_USER, password=password, connect_timeout=timeout / 2,
        allow_reconnect=False, max_reconnect_attempts=1, reconnect_time_wait=0, error_cb=_quiet,
        disconnected_cb=_quiet, closed_cb=_quiet), timeout)


class NatsClient:
    """Unopened it is a factory; `open(test, node)` returns the client of a worker living on `node`."""

    def __init__(self, *, workload: str, password: str, msg_id: bool, node: str | None = None) -> None:
        if workload not in WORKLOADS:
            raise BadInput(f"the nats client has no workload {workload!r} (it has: {', '.join(sorted(WORKLOADS))})")
        self.workload = workload
        self.performers: dict[str, Performer] = PERFORMERS[workload]
        self._password = password
        self.msg_id = msg_id
        self.node = node
        self._host = ""
        self._timeout = 4.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc: NATS | None = None

    def open(self, test: Test, node: str) -> NatsClient:
        """No connection yet (the node may be down under a nemesis): the first op connects."""
        c = NatsClient(workload=self.workload, password=self._password, msg_id=self.msg_id, node=node)
        c._host = test.node_host(node)
        c._timeout = max(0.5, 0.8 * test.op_timeout)
        c._loop = asyncio.new_event_loop()
        return c

    def setup(self, test: Test) -> None:
        pass  # the streams are the DB's (clusters.nats.db creates them once the cluster is up)

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._nc is not None and not loop.is_running():
                loop.run_until_complete(asyncio.wait_for(self._nc.close(), 2.0))
        except Exception:  # noqa: BLE001 - close must not raise; the server drops the connection anyway
            pass
        finally:
            if not loop.is_running():
                loop.close()

    def invoke(self, test: Test, op: Op) -> Op:
        assert self._loop is not None, "invoke on an unopened client"
        return self._loop.run_until_complete(self._invoke(op))

    async def _invoke(self, op: Op) -> Op:
        perform = self.performers.get(op.f)
        if perform is None:
            raise BadInput(f"the nats {self.workload} client has no op {op.f!r}")
        if self._nc is None or not self._nc.is_connected:
            try:
                self._nc = await connect(self._host, self._password, min(1.0, self._timeout))
            except (nerr.Error, OSError, asyncio.TimeoutError) as e:
                self._nc = None
                return op.replace(type="fail", error=f"connect {self.node}: {type(e).__name__}: {e}", node=self.node)
        wire = Wire(self._nc, timeout=self._timeout, msg_id=self.msg_id)
        try:
            value = await perform(wire, op)
        except Empty:
            return op.replace(type="fail", error=refused("empty"), node=self.node)
        except (nerr.NoRespondersError, jserr.NoStreamResponseError, jserr.APIError) as e:
            # An answer from the server: a publish it refused (or no server took: nothing stored), a pull it
            # refused. Only a dequeue or drain that had already acked an element is left unknown.
            if isinstance(e, jserr.APIError) and not isinstance(e, jserr.ServiceUnavailableError):
                why = refused(f"{e.code} {e.err_code} {e.description}")
            else:
                why = f"no responders: {type(e).__name__}"
            definite = op.f in PUBLISHES or op.f in READS or not wire.effect_sent
            return op.replace(type="fail" if definite else "info", error=why, node=self.node)
        except (nerr.Error, OSError, asyncio.TimeoutError, NotDrained) as e:
            if not isinstance(e, nerr.TimeoutError | NotDrained):
                self._nc = None  # a broken connection: the next op connects afresh
            definite = op.f in READS or not wire.effect_sent
            return op.replace(type="fail" if definite else "info", error=f"{type(e).__name__}: {e}", node=self.node)
        return op.replace(type="ok", value=value, node=self.node)
