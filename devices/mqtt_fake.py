"""An in-process MQTT broker for unit tests, beside the real connector (devices.mqtt_transport).

It keeps what the tests of the uplink and the collector need of a broker and nothing more: topic
filters with `+` and `#`, retained messages (an empty payload clears one), shared subscriptions
(`$share/group/filter`: each message to one member of the group, in turn), wills published when a
connection is lost but not when it is closed, and client-id takeover (a second connection with the
same id drops the first). Everything published is kept in `published` for assertions. `drop(id)` loses
a connection as a broker restart would; `down = True` refuses new ones. Delivery is in order and
immediate; QoS is accepted and ignored (nothing is lost here unless a test drops it).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from devices.errors import BrokerUnavailable
from devices.mqtt_transport import Message, Session, Will

__all__ = ["FakeBroker", "topic_matches"]


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT topic filter matching (`+` one level, `#` the rest); `$` topics only match explicit filters."""
    want, have = pattern.split("/"), topic.split("/")
    if topic.startswith("$") and not pattern.startswith("$"):
        return False
    for i, part in enumerate(want):
        if part == "#":
            return True
        if i >= len(have) or (part != "+" and part != have[i]):
            return False
    return len(want) == len(have)


class FakeBroker:
    def __init__(self) -> None:
        self.retained: dict[str, Message] = {}
        self.published: list[Message] = []
        self.sessions: dict[str, _FakeSession] = {}
        self.down = False
        self.connects = 0
        self._turns: dict[str, itertools.count[int]] = {}

    @property
    def describe(self) -> str:
        return "fake://broker"

    def connector(self) -> FakeBroker:
        return self

    @asynccontextmanager
    async def connect(self, client_id: str, will: Will | None = None) -> AsyncIterator[Session]:
        if self.down:
            raise BrokerUnavailable("connection refused (fake broker down)")
        old = self.sessions.get(client_id)
        if old is not None:
            self._lose(old)  # takeover: the older connection is dropped, and its will fires
        session = _FakeSession(self, client_id, will)
        self.sessions[client_id] = session
        self.connects += 1
        try:
            yield session
        finally:
            if self.sessions.get(client_id) is session:
                del self.sessions[client_id]  # closed by its owner: no will
            session.closed = True

    def drop(self, client_id: str) -> None:
        """Lose one connection as a broker restart or a cut cable would: its will is published."""
        session = self.sessions.get(client_id)
        if session is not None:
            self._lose(session)

    def drop_all(self) -> None:
        for session in list(self.sessions.values()):
            self._lose(session)

    def messages_on(self, suffix: str) -> list[Message]:
        """What was published on topics ending with `suffix`, oldest first."""
        return [m for m in self.published if m.topic.endswith(suffix)]

    def publish(self, message: Message) -> None:
        self.published.append(message)
        if message.retain:
            if message.payload:
                self.retained[message.topic] = message
            else:
                self.retained.pop(message.topic, None)
        groups: dict[str, list[_FakeSession]] = {}
        for session in list(self.sessions.values()):
            for pattern in session.subscriptions:
                if pattern.startswith("$share/"):
                    _, group, flt = pattern.split("/", 2)
                    if topic_matches(flt, message.topic):
                        groups.setdefault(f"{group}|{flt}", []).append(session)
                elif topic_matches(pattern, message.topic):
                    session.deliver(Message(message.topic, message.payload, False))
                    break
        for key, members in groups.items():
            turn = next(self._turns.setdefault(key, itertools.count()))
            members[turn % len(members)].deliver(Message(message.topic, message.payload, False))

    def _lose(self, session: _FakeSession) -> None:
        if self.sessions.get(session.client_id) is session:
            del self.sessions[session.client_id]
        session.lost = True
        session.queue.put_nowait(None)
        if session.will is not None:
            self.publish(Message(session.will.topic, session.will.payload, session.will.retain))


class _FakeSession:
    def __init__(self, broker: FakeBroker, client_id: str, will: Will | None) -> None:
        self.broker = broker
        self.client_id = client_id
        self.will = will
        self.subscriptions: list[str] = []
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self.lost = False
        self.closed = False

    def deliver(self, message: Message) -> None:
        if not self.lost:
            self.queue.put_nowait(message)

    def _check(self) -> None:
        if self.lost or self.closed:
            raise BrokerUnavailable("the connection was lost")

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        self._check()
        self.subscriptions.append(topic)
        plain = topic.split("/", 2)[2] if topic.startswith("$share/") else topic
        for message in list(self.broker.retained.values()):
            if topic_matches(plain, message.topic):
                self.deliver(Message(message.topic, message.payload, True))

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        self._check()
        await asyncio.sleep(0)  # a real publish yields to the loop while it waits for its PUBACK
        self._check()
        self.broker.publish(Message(topic, payload, retain))

    def backlog(self) -> int:
        return self.queue.qsize()

    async def messages(self) -> AsyncIterator[Message]:
        while True:
            message = await self.queue.get()
            if message is None:
                raise BrokerUnavailable("the connection was lost")
            yield message
