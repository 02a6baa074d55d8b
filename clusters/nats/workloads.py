"""Every workload's op vocabulary on NATS JetStream: which stream holds what, and which requests each op sends.

Owns the streams' names and configurations (`create_streams`), the `Wire` of one op (notes when a request that
may change data went out) and one coroutine per op. A coroutine returns the completed value in the shape its
workload documents (`workloads/stream.py`, `workloads/queue.py`), raises `Empty` for a queue the server says is
empty and lets nats-py's errors through: classifying them is `clusters.nats.client`'s. Does not choose the node.

Streams, one per workload (file storage, replicas=`replicas`, the stream's Raft group spread over the nodes):
    stream  STREAM, subject `harness.stream`, limits retention; append = JetStream publish (the ack's `seq` is the
            offset); read [from, limit] = up to `limit` STREAM.MSG.GET requests with next_by_subj (the first
            message at or after an offset, served by the stream leader), from `from`, each from the last seq + 1,
            until "no message found"; read-all = the stream's info (first and last seq), then exact gets of every
            seq in between, many in flight at once, then on as a read until the end. A stream JetStream says
            does not exist ("stream not found", from the meta leader) reads as empty: its messages are gone
    queue   QUEUE, subject `harness.queue`, work-queue retention, one durable pull consumer `workers` (explicit
            acks, replicas as the stream); enqueue = publish; dequeue = one pull with no_wait (404/408: empty), then
            the ack as a request (the server answers it: a "double ack"); drain = dequeue until the consumer has
            nothing undelivered nor unacknowledged
With `msg_id=true` every publish carries `Nats-Msg-Id: <element>` and the stream a 2-minute duplicate window.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import nats.errors as nerr
import nats.js.api as api
import nats.js.errors as jserr
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from harness.op import Op

STREAM, STREAM_SUBJECT = "STREAM", "harness.stream"
QUEUE, QUEUE_SUBJECT, CONSUMER = "QUEUE", "harness.queue", "workers"
WORKLOADS = frozenset({"stream", "queue"})
READ_ALL_BATCH = 100  # message gets in flight at once in a read-all
NO_MESSAGE, STREAM_NOT_FOUND = 10037, 10059  # JetStream's error codes (err_code) of a 404 to a message get
STREAM_OF = {"stream": STREAM, "queue": QUEUE}
DUPLICATE_WINDOW_S = 120.0
# An element delivered and not acked is redelivered after this; short, so that one delivered to a pull whose
# client had given up is soon back for the final drains (each client drains until ok, about a second apart).
ACK_WAIT_S = 3.0


class Empty(Exception):
    """The server answered a pull: no message is available."""


class RequestTimeout(nerr.TimeoutError):
    """No reply in time to a request; says which (nats-py's own says only "nats: timeout")."""

    def __init__(self, subject: str) -> None:
        super().__init__()
        self.subject = subject

    def __str__(self) -> str:
        what = "ack" if self.subject.startswith("$JS.ACK.") else self.subject
        return f"no reply to {what} in time"


class NotDrained(Exception):
    """A drain ran out of time while the consumer still had elements in flight."""


@dataclass
class Wire:
    """One op's requests on one connection; `effect_sent` turns true just before a request that may change data."""

    nc: NATS
    timeout: float  # seconds for one request
    msg_id: bool
    effect_sent: bool = False
    taken: list[object] | None = None  # a drain's elements taken and acknowledged so far
    started: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    @property
    def deadline(self) -> float:
        """The loop time by which the op should be done (a request's timeout after the op began)."""
        return self.started + self.timeout

    async def request(self, subject: str, payload: bytes, *, effect: bool = False,
                      headers: dict[str, str] | None = None) -> Msg:
        if effect:
            self.effect_sent = True
        try:
            return await self.nc.request(subject, payload, timeout=self.timeout, headers=headers)
        except nerr.TimeoutError:
            raise RequestTimeout(subject) from None

    async def api(self, subject: str, body: dict[str, object]) -> dict[str, Any]:
        """A JetStream API request: its JSON reply; APIError for an error reply."""
        resp: dict[str, Any] = json.loads((await self.request(subject, json.dumps(body).encode())).data)
        if "error" in resp:
            raise jserr.APIError.from_error(resp["error"])
        return resp


async def create_streams(nc: NATS, workload: str, replicas: int, msg_id: bool, timeout: float) -> None:
    """The workload's stream (and the queue's consumer); an existing one with the same configuration is kept."""
    js = nc.jetstream(timeout=timeout)
    window = DUPLICATE_WINDOW_S if msg_id else None
    if workload == "stream":
        await js.add_stream(name=STREAM, subjects=[STREAM_SUBJECT], num_replicas=replicas,
                            storage=api.StorageType.FILE, duplicate_window=window)
    else:
        await js.add_stream(name=QUEUE, subjects=[QUEUE_SUBJECT], num_replicas=replicas,
                            storage=api.StorageType.FILE, retention=api.RetentionPolicy.WORK_QUEUE,
                            duplicate_window=window)
        await js.add_consumer(QUEUE, durable_name=CONSUMER, ack_policy=api.AckPolicy.EXPLICIT,
                              ack_wait=ACK_WAIT_S, num_replicas=replicas, max_ack_pending=-1)


async def _publish(w: Wire, subject: str, element: int) -> int:
    """Publish `element`; its sequence number in the stream (PubAck.seq)."""
    headers = {"Nats-Msg-Id": str(element)} if w.msg_id else None
    msg = await w.request(subject, json.dumps(element).encode(), effect=True, headers=headers)
    ack = json.loads(msg.data)
    if "error" in ack:
        raise jserr.APIError.from_error(ack["error"])
    return int(ack["seq"])


async def append(w: Wire, op: Op) -> object:
    return [await _publish(w, STREAM_SUBJECT, op.value), op.value]


async def _read(w: Wire, start: int, limit: int | None) -> list[list[object]]:
    out: list[list[object]] = []
    seq = max(1, start)
    while limit is None or len(out) < limit:
        try:
            resp = await w.api(f"$JS.API.STREAM.MSG.GET.{STREAM}", {"seq": seq, "next_by_subj": STREAM_SUBJECT})
        except jserr.APIError as e:
            if e.err_code in (NO_MESSAGE, STREAM_NOT_FOUND):
                break  # past the end; or no such stream (JetStream lost it: seen after power loss on every node)
            raise
        m = resp["message"]  # {"seq": n, "data": base64 of the payload, ...}
        seq = int(m["seq"])
        out.append([seq, json.loads(base64.b64decode(m.get("data") or ""))])
        seq += 1
    return out


async def read(w: Wire, op: Op) -> object:
    start, limit = op.value
    return await _read(w, int(start), int(limit))


async def _get(w: Wire, seq: int) -> list[object] | None:
    """[seq, element] of the message at exactly `seq`, None if there is none."""
    try:
        resp = await w.api(f"$JS.API.STREAM.MSG.GET.{STREAM}", {"seq": seq})
    except jserr.APIError as e:
        if e.err_code == NO_MESSAGE:
            return None
        raise
    return [int(resp["message"]["seq"]), json.loads(base64.b64decode(resp["message"].get("data") or ""))]


async def read_all(w: Wire, op: Op) -> object:
    """Every message: the stream's first to last sequence as its info states them, fetched READ_ALL_BATCH at a time
    in parallel (one at a time, a long run's stream outlasts the op timeout), then on from there one by one in
    case the stream grew meanwhile."""
    try:
        state = (await w.api(f"$JS.API.STREAM.INFO.{STREAM}", {}))["state"]
    except jserr.APIError as e:
        if e.err_code == STREAM_NOT_FOUND:
            return []
        raise
    first, last = max(1, int(state.get("first_seq") or 1)), int(state.get("last_seq") or 0)
    out: list[list[object]] = []
    for lo in range(first, last + 1, READ_ALL_BATCH):
        got = await asyncio.gather(*(_get(w, seq) for seq in range(lo, min(lo + READ_ALL_BATCH, last + 1))))
        out += [m for m in got if m is not None]
    return out + await _read(w, last + 1, None)


async def enqueue(w: Wire, op: Op) -> object:
    await _publish(w, QUEUE_SUBJECT, op.value)
    return op.value


async def _take(w: Wire, pull_timeout: float | None = None) -> object:
    """Pull one message (no_wait) and ack it, waiting for the server's confirmation; Empty if there is none."""
    # A subscription of our own, not nats-py's request(): JetStream delivers the message under its stream subject,
    # which nats-py's shared request inbox cannot match to the request, so request() would time out.
    sub = await w.nc.subscribe(w.nc.new_inbox())
    try:
        await w.nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{QUEUE}.{CONSUMER}", b'{"batch":1,"no_wait":true}',
                           reply=sub.subject)
        try:
            msg = await sub.next_msg(timeout=pull_timeout or w.timeout)
        except nerr.TimeoutError:
            raise RequestTimeout("pull") from None
    finally:
        await sub.unsubscribe()
    status = (msg.headers or {}).get("Status")
    if status in ("404", "408"):
        raise Empty(status)
    if status is not None:
        raise jserr.APIError(code=int(status), description=(msg.headers or {}).get("Description"))
    element = json.loads(msg.data)
    await _ack(w, msg.reply)
    return element


async def _ack(w: Wire, reply: str) -> None:
    """Ack as a request: the element is ours once the server answers. Sent once: the server answers an ack of a
    message it does not hold as delivered too (tried: a second ack of an acked message is answered), so a resent
    ack's answer would not show that the first one took effect."""
    await w.request(reply, b"+ACK", effect=True)


async def dequeue(w: Wire, op: Op) -> object:
    return await _take(w)


async def drain(w: Wire, op: Op) -> object:
    """Take until the queue is empty: a pull answered "no messages" while the consumer has nothing undelivered
    and nothing delivered but unacknowledged (an element delivered to a pull whose client gave up is redelivered
    after the ack wait: until then the queue is not empty, only out of reach). Gives up with NotDrained before
    the op's deadline."""
    w.taken = []
    loop = asyncio.get_running_loop()
    while True:
        try:
            w.taken.append(await _take(w, pull_timeout=min(0.5, w.timeout / 2)))
            continue
        except RequestTimeout as e:
            # A pull now and then gets no answer at all (around a change of the consumer's leader, it seems): it
            # took nothing, so pull again while there is time (an element delivered to the abandoned pull comes
            # back after the ack wait).
            if e.subject == "pull" and loop.time() < w.deadline - 0.3:
                continue
            raise
        except Empty:
            pass
        info = await w.api(f"$JS.API.CONSUMER.INFO.{QUEUE}.{CONSUMER}", {})
        if not info.get("num_pending") and not info.get("num_ack_pending"):
            return list(w.taken)
        if loop.time() > w.deadline - 0.3:
            raise NotDrained(f"{info.get('num_pending')} undelivered, {info.get('num_ack_pending')} awaiting an ack "
                             f"after taking {len(w.taken)}")
        await asyncio.sleep(0.1)


Performer = Callable[[Wire, Op], Awaitable[object]]
PERFORMERS: dict[str, dict[str, Performer]] = {
    "stream": {"append": append, "read": read, "read-all": read_all},
    "queue": {"enqueue": enqueue, "dequeue": dequeue, "drain": drain},
}
