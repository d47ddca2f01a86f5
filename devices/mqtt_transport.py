"""The one module of firefleet that imports aiomqtt: an MQTT connection as a small seam, for edge and cloud.

The edge's uplink, the collector and the lightweight gateways need the same few things of a broker:
connect with a client id and a will, subscribe, publish, read what arrives. `Connector` and `Session`
say exactly that; `MqttConnector` is the real one (aiomqtt over TCP or TLS) and `devices.mqtt_fake`
holds an in-process broker beside it for unit tests, as httpx keeps `MockTransport` beside its
transports. Every aiomqtt error becomes `BrokerUnavailable`; nothing above this module knows the
library's names. Cancellation passes through untouched, even where Python 3.11 would lose it: aiomqtt
waits for a publish's acknowledgement with `asyncio.wait_for`, which on 3.11 swallows a cancel that
arrives in the same loop turn as the acknowledgement (CPython gh-86296, fixed in 3.12), and a task
that lost its cancel runs on forever and holds up whatever task group waits for it; `keep_cancel`
gives the cancel back.

This is the one module in `devices` that does I/O: it is the shared boundary of a dependency that all
three processes use (DESIGN section 4 keeps `devices` the only package they share), and keeping it in
one place is what lets the other modules stay free of aiomqtt.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Protocol, TypeVar

import aiomqtt

from devices.broker_url import BrokerConfig
from devices.errors import BrokerUnavailable

__all__ = ["Connector", "Message", "MqttConnector", "Session", "Will", "keep_cancel"]

T = TypeVar("T")


async def keep_cancel(operation: Awaitable[T]) -> T:
    """Await `operation`; if the task was cancelled meanwhile and the cancel was swallowed, raise it."""
    task = asyncio.current_task()
    asked = task.cancelling() if task is not None else 0
    result = await operation
    if task is not None and task.cancelling() > asked:
        raise asyncio.CancelledError  # the operation finished as the cancel came, and 3.11's wait_for dropped it
    return result


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    retain: bool = False


class Session(Protocol):
    """One connection to the broker, open for as long as its context manager."""

    async def subscribe(self, topic: str, qos: int = 1) -> None: ...
    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None: ...
    def messages(self) -> AsyncIterator[Message]: ...
    def backlog(self) -> int:
        """Messages received and not taken yet (the client's incoming queue)."""
        ...


class Connector(Protocol):
    """Opens sessions: `async with connector.connect(client_id, will) as session: ...`."""

    @property
    def describe(self) -> str: ...
    def connect(self, client_id: str, will: Will | None = None) -> AbstractAsyncContextManager[Session]: ...


class MqttConnector:
    """A real broker. Clean sessions only: everything durable lives in our own stores, not the broker's."""

    def __init__(self, broker: BrokerConfig, *, keepalive: int = 15, timeout: float = 10.0,
                 max_queued_incoming: int = 0, pending_calls_threshold: int = 1000) -> None:
        self.broker = broker
        self.keepalive = keepalive
        self.timeout = timeout
        self.max_queued_incoming = max_queued_incoming  # 0: unbounded (aiomqtt's default)
        self.pending_calls_threshold = pending_calls_threshold  # aiomqtt warns on each publish past this many

    @property
    def describe(self) -> str:
        return f"{'mqtts' if self.broker.tls else 'mqtt'}://{self.broker.host}:{self.broker.port}"

    @asynccontextmanager
    async def connect(self, client_id: str, will: Will | None = None) -> AsyncIterator[Session]:
        tls = ssl.create_default_context(cafile=self.broker.ca_file) if self.broker.tls else None
        client = aiomqtt.Client(
            self.broker.host, self.broker.port, username=self.broker.username, password=self.broker.password,
            identifier=client_id, clean_session=True, keepalive=self.keepalive, timeout=self.timeout,
            tls_context=tls, max_queued_incoming_messages=self.max_queued_incoming or None,
            will=aiomqtt.Will(will.topic, will.payload, qos=will.qos, retain=will.retain) if will else None)
        client.pending_calls_threshold = self.pending_calls_threshold  # publishes in flight keep the wire busy
        try:
            async with client:
                yield _AiomqttSession(client)
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from None


class _QueueFullOnce(logging.Filter):
    """aiomqtt says "Message queue is full" for every message it drops: under load that is thousands of
    lines a second, and their writing slows the collector further. Said once a minute, with the count."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0
        self._said = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if "queue is full" not in record.getMessage():
            return True
        self.dropped += 1
        now = time.monotonic()
        if now - self._said < 60.0:
            return False
        self._said = now
        record.msg = f"incoming queue full: {self.dropped} messages dropped unread so far (their gateways resend)"
        record.args = ()
        return True


DROPPED = _QueueFullOnce()
logging.getLogger("mqtt").addFilter(DROPPED)


class _AiomqttSession:
    def __init__(self, client: aiomqtt.Client) -> None:
        self._client = client

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        try:
            await keep_cancel(self._client.subscribe(topic, qos=qos))
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from None

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        try:
            await keep_cancel(self._client.publish(topic, payload, qos=qos, retain=retain))
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from None

    def backlog(self) -> int:
        return len(self._client.messages)

    async def messages(self) -> AsyncIterator[Message]:
        try:
            async for message in self._client.messages:
                payload = message.payload
                yield Message(str(message.topic), bytes(payload) if isinstance(payload, (bytes, bytearray)) else b"",
                              bool(message.retain))
        except aiomqtt.MqttError as exc:
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from None
