"""The collector's MQTT side through the in-process broker (devices.mqtt_fake): its signed state and will,
store-then-ack, a gap asks for a rebirth, a stale death is ignored, a command with no broker is a
ConnectionError (the API's 202 'queued'), and an agent's uplink and a collector end to end in one loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud.collector import Collector
from cloud.ingest import Ingest
from cloud.store import Store
from devices.contract import Birth, BirthDevice, Command, Health, as_birth
from devices.downlink_auth import Verifier
from devices.mqtt_fake import FakeBroker
from devices.mqtt_transport import Message
from devices.protocol import COLLECTOR_STATE_TOPIC, encode, gateway_topic
from edge.outbox import Outbox
from edge.uplink import Uplink
from tests.support.keys import signer, trusted_keys
from tests.support.records import new_alarm
from tests.unit.test_uplink import until

pytestmark = pytest.mark.unit

ALARM = {"type": "alarm", "id": "o:1", "key": "sd1/smoke", "state": "active", "class": "fire", "severity": 1,
         "site": "s1", "device": "sd1", "t": 1_800_000_000.0, "mono": 5.0, "trusted": True}


class Gateway:
    """What a gateway says, by hand, and what it is told (opened with the gateway's own verifier)."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.seq = 0

    def send(self, kind: str, body: dict[str, Any], *, seq: int | None = None) -> None:
        self.seq = self.seq + 1 if seq is None else seq
        payload = encode({"boot": "b1", "seq": self.seq, **body})
        self.broker.publish(Message(gateway_topic("s1", "gw1", kind), payload))

    def told(self, kind: str) -> list[dict[str, Any]]:
        verifier = Verifier(trusted_keys(), "gw1")  # afresh: reading the list again is no replay
        return [verifier.open(kind, m.payload) for m in self.broker.messages_on(f"/gw1/{kind}")]


@asynccontextmanager
async def collector(tmp: Path, broker: FakeBroker, hole_s: float = 10.0) -> AsyncIterator[Collector]:
    store = Store(tmp / "cloud.sqlite")
    coll = Collector(broker, store, Ingest({"gw1": "s1"}), signer(), reconnect_cap=0.001, hole_s=hole_s)
    task = asyncio.create_task(coll.run())
    try:
        await until(lambda: coll.connected)
        yield coll
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        store.close()


async def test_state_is_signed_and_retained_and_its_will_says_offline(tmp_path: Path) -> None:
    broker = FakeBroker()
    async with collector(tmp_path, broker):
        state = broker.retained[COLLECTOR_STATE_TOPIC]
        assert Verifier(trusted_keys(), "gw1").open("state", state.payload) == {"online": True}
        broker.drop_all()  # the collector's connection is lost: its will speaks for it
        assert Verifier(trusted_keys(), "gw1").open("state", broker.published[-1].payload) == {"online": False}
        await until(lambda: broker.connects == 2, turns=100_000)  # and it comes back by itself
        await until(lambda: Verifier(trusted_keys(), "gw1").open(
            "state", broker.retained[COLLECTOR_STATE_TOPIC].payload) == {"online": True})


async def test_records_are_stored_then_acked_once_each_and_a_resend_is_acked_again(tmp_path: Path) -> None:
    broker = FakeBroker()
    gw = Gateway(broker)
    async with collector(tmp_path, broker) as coll:
        gw.send("birth", {"bdseq": 1, "site": "s1", "devices": [{"id": "sd1"}]})
        gw.send("alarms", {"records": [ALARM]})
        await until(lambda: len(gw.told("ack")) == 1)
        assert gw.told("ack") == [{"ids": ["o:1"]}]
        assert [a["key"] for a in coll.store.alarms()] == ["sd1/smoke"]

        gw.send("alarms", {"records": [ALARM]})  # the gateway missed the ack and sends it again
        await until(lambda: len(gw.told("ack")) == 2)
        assert len(coll.store.alarms()) == 1 and coll.store.alarms()[0]["count"] == 1


async def test_a_sequence_gap_asks_for_a_rebirth_and_a_stale_death_is_ignored(tmp_path: Path) -> None:
    broker = FakeBroker()
    gw = Gateway(broker)
    async with collector(tmp_path, broker, hole_s=0.0) as coll:  # a hole is a gap at once
        gw.send("birth", {"bdseq": 2, "site": "s1", "devices": []})
        gw.send("heartbeat", {"health": {}}, seq=5)  # 2, 3 and 4 never came
        await until(lambda: len(gw.told("command")) == 1)
        assert gw.told("command")[0]["action"] == "rebirth" and coll.gaps == 1

        gw.send("death", {"bdseq": 1})  # the will of an older connection, delivered late
        for _ in range(100):
            await asyncio.sleep(0)
        assert coll.store.alarms() == []
        gw.send("death", {"bdseq": 2})
        await until(lambda: bool(coll.store.alarms()))
        assert coll.store.alarms()[0]["key"] == "gw1/comm-lost"


async def test_a_birth_another_collector_stored_is_followed_without_asking_for_another(tmp_path: Path) -> None:
    """Several collectors split a gateway's messages: the birth reached the other one, which stored it."""
    broker = FakeBroker()
    gw = Gateway(broker)
    other = Store(tmp_path / "cloud.sqlite")
    other.save_birth("s1", "gw1", as_birth({"boot": "b1", "seq": 1, "bdseq": 2, "devices": []}))  # the other one
    other.close()
    async with collector(tmp_path, broker, hole_s=0.0) as coll:
        gw.send("heartbeat", {"health": {}}, seq=7)
        gw.send("heartbeat", {"health": {}}, seq=8)
        await until(lambda: coll.sessions.get("gw1") is not None and coll.sessions["gw1"].seq == 8)
        assert gw.told("command") == [] and coll.gaps == 0
        gw.send("death", {"bdseq": 2})  # and its death is believed: the birth's bdseq was adopted too
        await until(lambda: bool(coll.store.alarms()))
        gw.send("heartbeat", {"health": {}, "boot": "b2"}, seq=1)  # a boot nobody has a birth for
        await until(lambda: len(gw.told("command")) >= 1)
        assert {c["action"] for c in gw.told("command")} == {"rebirth"}


async def test_a_command_with_no_broker_is_a_connection_error_not_a_crash(tmp_path: Path) -> None:
    broker = FakeBroker()
    broker.down = True
    coll = Collector(broker, Store(tmp_path / "cloud.sqlite"), Ingest({"gw1": "s1"}), signer())
    with pytest.raises(ConnectionError):
        await coll.send_command("s1", "gw1", Command(id="c1", action="rebirth"))
    coll.store.close()


async def test_an_alarm_from_an_agents_outbox_reaches_the_store_and_leaves_the_outbox(tmp_path: Path) -> None:
    broker = FakeBroker()
    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox.append(new_alarm("sd1/smoke", device="sd1"))
    uplink = Uplink(broker, "s1", "gw1", outbox, birth=lambda: Birth(boot="", site="s1", devices=[BirthDevice("sd1")]),
                    health=Health, on_command=lambda command: None, verifier=Verifier(trusted_keys(), "gw1"))
    async with collector(tmp_path, broker) as coll:
        task = asyncio.create_task(uplink.run())
        try:
            await until(lambda: outbox.depth()["alarm"]["records"] == 0, turns=20000)
            assert [(a["key"], a["class"]) for a in coll.store.alarms()] == [("sd1/smoke", "fire")]
        finally:
            uplink.stop()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            outbox.close()


async def test_a_fire_alarm_does_not_wait_behind_a_telemetry_backlog(tmp_path: Path) -> None:
    """Issue 13.3: 400 telemetry messages are queued when a fire alarm arrives; the alarm has its own
    subscription and worker, so it is stored while most of the telemetry still waits."""
    broker = FakeBroker()
    gw = Gateway(broker)
    async with collector(tmp_path, broker) as coll:
        gw.send("birth", {"bdseq": 1, "site": "s1", "devices": [{"id": "sd1", "profile": "p", "values": {}}]})
        await until(lambda: coll.store.gateway("gw1") is not None)
        for n in range(400):
            gw.send("telemetry", {"records": [{"type": "reading", "id": f"r:{n}", "site": "s1", "device": "sd1",
                                               "values": {"obscuration": n}, "t": 1_800_000_000.0, "mono": 1.0,
                                               "trusted": True}]})
        gw.send("alarms", {"records": [ALARM]})
        await until(lambda: bool(coll.store.alarms()), turns=100_000)
        readings_then = coll.store.count("readings")
        await until(lambda: coll.store.count("readings") == 400, turns=100_000)
    assert readings_then < 100, f"the fire waited for {readings_then} of 400 telemetry messages"
