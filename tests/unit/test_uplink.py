"""The uplink through the in-process broker (devices.mqtt_fake): birth and will, sending only while the
collector is online, alarms first, delete on ack, resend after silence, max in flight, reconnect after a
dropped connection, forged acks refused. No sockets, no sleeping: time is a number the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from devices.contract import Birth, Command, Health
from devices.downlink_auth import BROADCAST, Signer, Verifier, generate_keys
from devices.mqtt_fake import FakeBroker
from devices.mqtt_transport import Message
from devices.protocol import COLLECTOR_STATE_TOPIC, decode, gateway_topic
from edge.outbox import Outbox
from edge.uplink import Uplink
from tests.support.keys import signer, trusted_keys
from tests.support.records import new_alarm, new_event, new_reading

pytestmark = pytest.mark.unit


async def until(condition: Callable[[], bool], turns: int = 5000) -> None:
    """Let the loop run (no clock involved) until `condition` holds."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


class Rig:
    def __init__(self, tmp: Path) -> None:
        self.broker = FakeBroker()
        self.outbox = Outbox(tmp / "outbox.sqlite")
        self.now = 100.0
        self.commands: list[Command] = []
        self.refusals: list[tuple[str, str]] = []
        self.uplink = Uplink(self.broker, "s1", "gw1", self.outbox, birth=lambda: Birth(boot="", site="s1"),
                             health=lambda: Health(outbox=0), on_command=self.commands.append,
                             verifier=Verifier(trusted_keys(), "gw1"),
                             on_refused=lambda kind, reason: self.refusals.append((kind, reason)),
                             reconnect_cap=0.001, monotonic=lambda: self.now, max_inflight=3)

    def sent(self, kind: str) -> list[dict[str, Any]]:
        return [decode(m.payload) for m in self.broker.messages_on(f"/gw1/{kind}")]

    def ids_sent(self, lane: str) -> list[str]:
        return [r["id"] for m in self.sent(lane) for r in m["records"]]

    def collector_online(self, online: bool = True, by: Signer | None = None) -> None:
        payload = (by or signer()).seal("state", BROADCAST, {"online": online}, ttl=100)
        self.broker.publish(Message(COLLECTOR_STATE_TOPIC, payload, retain=True))

    def ack(self, ids: list[str], by: Signer | None = None) -> None:
        payload = (by or signer()).seal("ack", "gw1", {"ids": ids})
        self.broker.publish(Message(gateway_topic("s1", "gw1", "ack"), payload))


@asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[Rig]:
    task = asyncio.create_task(rig.uplink.run())
    try:
        yield rig
    finally:
        rig.uplink.stop()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rig.outbox.close()


async def test_birth_then_records_only_while_the_collector_is_online_alarms_first(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    telemetry = rig.outbox.append(new_reading("d1", t=1.0))
    alarm = rig.outbox.append(new_alarm("d1/smoke"))
    async with running(rig):
        await until(lambda: bool(rig.sent("birth")))
        birth = rig.sent("birth")[0]
        assert birth["bdseq"] == 1 and birth["seq"] == 1
        assert rig.broker.sessions["ff-gw1"].will is not None
        assert decode(rig.broker.sessions["ff-gw1"].will.payload)["bdseq"] == 1  # the will names this session
        for _ in range(200):
            await asyncio.sleep(0)
        assert rig.sent("alarms") == [] and rig.sent("telemetry") == []  # nobody is there to store them

        rig.collector_online()
        await until(lambda: bool(rig.sent("telemetry")))
        order = [m.topic.rsplit("/", 1)[1] for m in rig.broker.published if m.topic.endswith(("alarms", "telemetry"))]
        assert order == ["alarms", "telemetry"]
        assert rig.ids_sent("alarms") == [alarm] and rig.ids_sent("telemetry") == [telemetry]
        seqs = [m["seq"] for kind in ("birth", "heartbeat", "alarms", "telemetry") for m in rig.sent(kind)]
        assert sorted(seqs) == list(range(1, len(seqs) + 1))  # numbered without a gap

        rig.ack([alarm, telemetry])
        await until(lambda: rig.outbox.depth()["alarm"]["records"] == 0)
        assert rig.outbox.depth()["telemetry"]["records"] == 0


async def test_an_unacknowledged_record_goes_again_after_resend_after_and_at_most_max_inflight(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    ids = [rig.outbox.append(new_event("k", n=i)) for i in range(5)]
    rig.collector_online()
    async with running(rig):
        await until(lambda: len(rig.ids_sent("events")) >= 3)
        for _ in range(200):
            await asyncio.sleep(0)
        assert rig.ids_sent("events") == ids[:3]  # three in flight, no more until acks come

        rig.ack(ids[:1])
        await until(lambda: len(rig.ids_sent("events")) >= 4)
        assert rig.ids_sent("events") == ids[:4]

        rig.now += 11.0  # the collector said nothing for longer than resend_after
        rig.uplink.kick()
        await until(lambda: len(rig.ids_sent("events")) >= 7)
        assert rig.ids_sent("events")[4:] == ids[1:4]  # the same ids again; the collector skips what it has


async def test_a_dropped_connection_fires_the_will_and_the_next_birth_counts_up(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    alarm = rig.outbox.append(new_alarm("d1/smoke"))
    rig.collector_online()
    async with running(rig):
        await until(lambda: len(rig.ids_sent("alarms")) == 1)
        rig.broker.drop("ff-gw1")
        await until(lambda: len(rig.sent("birth")) == 2)
        assert [d["bdseq"] for d in rig.sent("death")] == [1]
        assert rig.sent("birth")[1]["bdseq"] == 2
        await until(lambda: len(rig.ids_sent("alarms")) == 2)
        assert rig.ids_sent("alarms") == [alarm, alarm]  # unacknowledged: sent again on the new connection


async def test_a_forged_ack_and_an_unsigned_command_are_refused_and_counted(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    alarm = rig.outbox.append(new_alarm("d1/smoke"))
    rig.collector_online()
    stranger = Signer.from_file(generate_keys(tmp_path / "stranger")[0])
    async with running(rig):
        await until(lambda: len(rig.ids_sent("alarms")) == 1)
        rig.ack([alarm], by=stranger)
        rig.broker.publish(Message(gateway_topic("s1", "gw1", "command"), b"\x81\xa2id\xa1x"))
        await until(lambda: rig.uplink.rejected_downlink == 2)
        assert rig.outbox.depth()["alarm"]["records"] == 1  # still there: only the collector may delete it
        assert rig.commands == []
        assert [kind for kind, _ in rig.refusals] == ["ack", "command"]

        command = signer().seal("command", "gw1", {"id": "c1", "action": "rebirth"})
        rig.broker.publish(Message(gateway_topic("s1", "gw1", "command"), command))
        await until(lambda: bool(rig.commands))
        assert rig.commands == [Command(id="c1", action="rebirth")]
        for odd in ({"id": "c2", "action": "format_disk"}, {"id": "c3", "action": "write", "value": [[1]]},
                    {"id": "c4", "action": "rebirth", "extra": 1}):  # signed, but not the contract's
            rig.broker.publish(Message(gateway_topic("s1", "gw1", "command"), signer().seal("command", "gw1", odd)))
        await until(lambda: rig.uplink.rejected_downlink == 5)
        assert rig.commands == [Command(id="c1", action="rebirth")]


async def test_a_collector_that_says_offline_stops_the_drain(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.collector_online()
    async with running(rig):
        await until(lambda: rig.uplink.link_ok)
        rig.collector_online(False)
        await until(lambda: not rig.uplink.link_ok)
        rig.outbox.append(new_alarm("d1/smoke"))
        rig.uplink.kick()
        for _ in range(200):
            await asyncio.sleep(0)
        assert rig.sent("alarms") == []  # kept for when a collector is back
