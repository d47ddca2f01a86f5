"""A gateway's brokers, primary then backups (Sparkplug's rule): it stays on a broker while it works and
moves to the next when it fails (issue 13.4)."""

from __future__ import annotations

import pytest

from devices.broker_failover import FailoverConnector
from devices.errors import BrokerUnavailable
from devices.mqtt_fake import FakeBroker


async def test_a_failed_broker_sends_the_next_connection_to_the_next_broker_and_no_further() -> None:
    primary, backup = FakeBroker(), FakeBroker()
    brokers = FailoverConnector([primary, backup])
    async with brokers.connect("gw1") as session:
        await session.publish("ff/v1/s1/gw1/alarms", b"one")
    async with brokers.connect("gw1") as session:  # a clean reconnect stays where it was
        await session.publish("ff/v1/s1/gw1/alarms", b"two")
    assert [m.payload for m in primary.messages_on("/alarms")] == [b"one", b"two"]

    primary.down = True
    with pytest.raises(BrokerUnavailable):
        async with brokers.connect("gw1"):
            pass
    async with brokers.connect("gw1") as session:
        await session.publish("ff/v1/s1/gw1/alarms", b"three")
    assert [m.payload for m in backup.messages_on("/alarms")] == [b"three"] and brokers.moves == 1

    primary.down = False  # the primary is back: the gateway stays on the backup while it works
    async with brokers.connect("gw1") as session:
        await session.publish("ff/v1/s1/gw1/alarms", b"four")
    assert [m.payload for m in backup.messages_on("/alarms")] == [b"three", b"four"]


async def test_a_session_that_ends_with_its_broker_gone_moves_on_too() -> None:
    primary, backup = FakeBroker(), FakeBroker()
    brokers = FailoverConnector([primary, backup])
    with pytest.raises(ExceptionGroup):
        async with brokers.connect("gw1"):
            raise ExceptionGroup("session tasks", [BrokerUnavailable("connection lost")])
    assert brokers.index == 1 and brokers.moves == 1
    with pytest.raises(ValueError, match="at least one"):
        FailoverConnector([])
