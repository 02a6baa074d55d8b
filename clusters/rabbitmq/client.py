"""The RabbitMQ client of a worker: one AMQP 0-9-1 connection (pika) to the worker's node, one channel in
publisher-confirm mode, the test's one durable queue. Implements the `queue` workload's vocabulary.

Owns the connection, the queue's declaration (`setup`), and the mapping from broker outcomes to ok / fail /
info. Every message is persistent (delivery mode 2), published to the default exchange with `mandatory` set.
Dequeues use basic.get without auto-ack and then ack; AMQP's ack has no reply, so after it the client makes one
round trip on the same channel (a passive queue.declare): the channel processes commands in order, so a reply
means the broker's channel has taken the ack.

Outcomes:
    enqueue  ok     the broker confirmed the publish (basic.ack under publisher confirms).
             fail   nothing was sent: the connection could not be made; or the broker answered no: a nack
                    (`refused("nack")`) or the message came back unroutable (`refused("unroutable")`).
             info   anything else once the publish may have been sent: the connection broke, or no confirm
                    came within the op's deadline (the message may be queued, now or later).
    dequeue  ok     a message was taken and its ack went through (value: the element).
             fail   the queue was empty (`refused("empty")`) or does not exist (`refused("no queue")`: the
                    broker lost its declaration, e.g. after a power loss), both the broker's answers; or no
                    message reached us
                    (connection or basic.get failed: a message delivered to a channel that dies unacked goes
                    back to the queue, so nothing was taken).
             info   a message reached us but the ack's round trip failed or timed out: the broker may have
                    taken the ack (the element is gone) or not (it will be delivered again).
    drain    ok     [element, ...]: basic.get (no ack) until the queue had nothing ready, then one ack of them
                    all (multiple) and its round trip; [] when the broker answers that the queue does not exist
                    (whatever it held is gone: the checker then finds the confirmed messages lost).
             fail   any failure before that ack: the channel dies with the messages unacked, so they go back.
             info   the ack's round trip failed or timed out (the checker then judges no element lost).
The op's deadline is 0.9 of the harness's op timeout: the client gives up itself, shuts its connection and
answers info (or fail), rather than be abandoned by the interpreter with a connection that holds unacked
messages.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import pika
import pika.exceptions as px

from harness.client import refused
from harness.errors import BadInput, ClusterError
from harness.op import Op

if TYPE_CHECKING:
    from harness.test import Test

# pika logs every failed connection attempt and every broken connection at ERROR, with a traceback; under faults
# these are expected outcomes that the history already records (fail / info), so its log stays quiet.
logging.getLogger("pika").setLevel(logging.CRITICAL)

WORKLOADS = frozenset({"queue"})
QUEUE = "harness.queue"
USER = "harness"


class _Deadline(Exception):
    """The op's deadline passed while pika waited for the broker."""


class _NoMessage(Exception):
    """basic.get or the connection failed before any message reached us."""


class _NoQueue(_NoMessage):
    """The broker answered that the queue does not exist (404): it lost the queue's declaration."""


class RabbitMQClient:
    """Unopened it is a factory; `open(test, node)` returns a client for that node (connected on first use)."""

    def __init__(self, *, workload: str, queue_args: dict[str, str], password: str, port: int,
                 node: str | None = None) -> None:
        if workload not in WORKLOADS:
            raise BadInput(f"the rabbitmq client has no workload {workload!r} (it has: {', '.join(sorted(WORKLOADS))})")
        self.workload = workload
        self.queue_args = dict(queue_args)
        self._password = password
        self.port = port
        self.node = node
        self.conn: pika.BlockingConnection | None = None
        self.channel: Any = None

    def open(self, test: Test, node: str) -> RabbitMQClient:
        return RabbitMQClient(workload=self.workload, queue_args=self.queue_args, password=self._password,
                              port=self.port, node=node)

    # connection ----------------------------------------------------------------------------------
    def _connect(self, test: Test, seconds: float) -> None:
        """The connection (its handshake bounded by `seconds`); the channel is opened under the op's deadline."""
        params = pika.ConnectionParameters(
            host=test.node_host(self.node or test.nodes[0]), port=self.port,
            credentials=pika.PlainCredentials(USER, self._password), connection_attempts=1,
            socket_timeout=seconds, stack_timeout=seconds, blocked_connection_timeout=seconds,
            heartbeat=max(2, int(seconds)))
        self.conn = pika.BlockingConnection(params)

    def _open_channel(self) -> None:
        assert self.conn is not None
        ch = self.conn.channel()
        ch.confirm_delivery()
        self.channel = ch

    def _deadline(self, seconds: float) -> object:
        """Arm a timer that raises _Deadline inside pika's wait. A hack: BlockingConnection's own call_later
        runs its callbacks only between blocking calls, so the timer goes on the underlying ioloop (pika's
        private `_impl`), whose timeouts run inside every wait of the blocking adapter."""
        assert self.conn is not None

        def fire() -> None:
            raise _Deadline(f"no answer within {seconds:.1f} s")

        return self.conn._impl.ioloop.call_later(seconds, fire)

    def _disarm(self, timer: object) -> None:
        if self.conn is not None and timer is not None:
            try:
                self.conn._impl.ioloop.remove_timeout(timer)
            except Exception:  # noqa: BLE001, S110 - the connection may be gone; then so is its timer
                pass

    @staticmethod
    def _sever(conn: Any) -> None:
        """Shut the connection's socket at once, without AMQP's close handshake. A hack: pika's blocking close
        waits for the broker's close-ok with no timeout (a paused or cut-off broker never sends it, and ops
        outlived their deadline there), so the socket is reached through pika's private transport. The broker
        sees the connection end and requeues whatever it held unacked."""
        try:
            sock = conn._impl._transport._sock
            sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        except Exception:  # noqa: BLE001, S110 - already closed or never opened: nothing to shut
            pass

    def _drop(self) -> None:
        """Forget the connection after a failure: its socket is shut at once (see `_sever`)."""
        conn, self.conn, self.channel = self.conn, None, None
        if conn is not None:
            self._sever(conn)

    def _close(self) -> None:
        """Close the connection politely within a second, else shut it (see `_sever`)."""
        conn = self.conn
        if conn is None:
            return
        self._deadline(1.0)
        try:
            if conn.is_open:
                conn.close()
            self.conn, self.channel = None, None
        except Exception:  # noqa: BLE001 - any failure of a polite close ends in the hard one
            self._drop()

    # Client ----------------------------------------------------------------------------------------
    def setup(self, test: Test) -> None:
        """Declare the test's durable queue (quorum or classic, by the system's `queue` option)."""
        try:
            self._connect(test, max(5.0, test.op_timeout))
            self._open_channel()
            self.channel.queue_declare(QUEUE, durable=True, arguments=dict(self.queue_args))
        except (px.AMQPError, OSError) as e:
            raise ClusterError(f"cannot declare {QUEUE} on {self.node}: {type(e).__name__}: {e}") from e
        finally:
            self._close()

    def teardown(self, test: Test) -> None:
        pass

    def close(self, test: Test) -> None:
        self._close()

    def invoke(self, test: Test, op: Op) -> Op:
        node = self.node
        budget = max(0.5, test.op_timeout * 0.9)
        began = time.monotonic()
        if self.conn is None:
            try:
                self._connect(test, budget)
            except (px.AMQPError, OSError) as e:
                self._drop()
                return op.replace(type="fail", node=node, error=f"connect: {type(e).__name__}: {e}")
        timer = self._deadline(max(0.1, budget - (time.monotonic() - began)))
        try:
            if self.channel is None:
                try:
                    self._open_channel()
                except (_Deadline, px.AMQPError, OSError) as e:
                    self._drop()
                    return op.replace(type="fail", node=node, error=f"channel: {type(e).__name__}: {e}")
            if op.f == "enqueue":
                return self._enqueue(op)
            if op.f == "dequeue":
                return self._dequeue(op)
            if op.f == "drain":
                return self._drain(op)
            return op.replace(type="fail", node=node, error=f"unknown op {op.f}")
        finally:
            self._disarm(timer)

    # ops -------------------------------------------------------------------------------------------
    def _enqueue(self, op: Op) -> Op:
        try:
            self.channel.basic_publish("", QUEUE, str(op.value).encode(), mandatory=True,
                                       properties=pika.BasicProperties(delivery_mode=2))
        except px.NackError:
            return op.replace(type="fail", node=self.node, error=refused("nack"))
        except px.UnroutableError:
            return op.replace(type="fail", node=self.node, error=refused("unroutable"))
        except (_Deadline, px.AMQPError, OSError) as e:
            self._drop()
            return op.replace(type="info", node=self.node, error=f"{type(e).__name__}: {e}")
        return op.replace(type="ok", node=self.node)

    def _get(self) -> tuple[int, int] | None:
        """basic.get without ack: (delivery tag, element), or None when the queue had no message ready. Raises
        _NoMessage when it failed (a message delivered to a channel that then dies unacked is requeued)."""
        try:
            method, _, body = self.channel.basic_get(QUEUE, auto_ack=False)
        except px.ChannelClosedByBroker as e:
            raise (_NoQueue if e.reply_code == 404 else _NoMessage)(f"{type(e).__name__}: {e}") from e
        except (_Deadline, px.AMQPError, OSError) as e:
            raise _NoMessage(f"{type(e).__name__}: {e}") from e
        return None if method is None else (method.delivery_tag, int(body.decode()))

    def _ack(self, tag: int) -> None:
        """Ack every message up to `tag`, then a round trip (see the module): raises if its fate is unknown."""
        self.channel.basic_ack(tag, multiple=True)
        self.channel.queue_declare(QUEUE, passive=True)

    def _dequeue(self, op: Op) -> Op:
        try:
            got = self._get()
            if got is None:
                return op.replace(type="fail", node=self.node, error=refused("empty"))
        except _NoQueue:
            self._drop()
            return op.replace(type="fail", node=self.node, error=refused("no queue"))
        except _NoMessage as e:
            self._drop()
            return op.replace(type="fail", node=self.node, error=str(e))
        try:
            self._ack(got[0])
        except (_Deadline, px.AMQPError, OSError) as e:
            self._drop()
            return op.replace(type="info", node=self.node, error=f"ack: {type(e).__name__}: {e}")
        return op.replace(type="ok", value=got[1], node=self.node)

    def _drain(self, op: Op) -> Op:
        """Take every ready message unacked, then ack them all at once: a failure before the ack takes nothing
        (the broker requeues what this channel held)."""
        taken: list[int] = []
        last = None
        try:
            while (got := self._get()) is not None:
                last = got[0]
                taken.append(got[1])
        except _NoQueue as e:
            self._drop()
            if not taken:  # the broker's answer: there is no such queue, so nothing is left in it
                return op.replace(type="ok", value=[], node=self.node)
            return op.replace(type="fail", node=self.node, error=f"after {len(taken)} unacked elements: {e}")
        except _NoMessage as e:
            self._drop()
            return op.replace(type="fail", node=self.node, error=f"after {len(taken)} unacked elements: {e}")
        try:
            if last is not None:
                self._ack(last)
        except (_Deadline, px.AMQPError, OSError) as e:
            self._drop()
            return op.replace(type="info", node=self.node, error=f"ack of {len(taken)} elements: "
                              f"{type(e).__name__}: {e}")
        return op.replace(type="ok", value=taken, node=self.node)
