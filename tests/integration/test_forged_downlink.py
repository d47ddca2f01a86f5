"""Issue 11.3, reproduced on the old main: on a broker without the shipped ACL, anyone who could publish
removed a waiting alarm from the outbox with a forged ack, re-powered a port and silenced the sounder with
forged writes, and stopped every alarm with a forged retained collector state. Now the agent believes
only what the collector's key signed for it, in time, once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt

from devices.downlink_auth import Signer, generate_keys
from devices.protocol import COLLECTOR_STATE_TOPIC, encode, gateway_topic
from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.collector_standin import running_standin
from tests.support.keys import signer
from tests.support.mosquitto import Mosquitto

SHED = SITES / "charging-shed.yaml"
SITE, GATEWAY = "shed-xixi-01", "gw-shed-xixi-01"


async def test_forged_acks_commands_and_collector_state_are_refused_by_the_agent(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")  # anonymous, no ACL at all
    broker.start()
    try:
        async with (running_simulation([SHED], tmp_path / "run") as sim,
                    running_standin(broker.port) as collector,
                    running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url) as agent):
            box1 = sim.sim.device(SITE, "box1")
            box1.set_signals({"port4.relay": False})
            await collector.wait_for(lambda r: r.births, 20)
            collector.acking = False
            sim.sim.device(SITE, "sd3").set_signals({"tamper": True}, hold=True)
            await collector.wait_for(lambda r: r.alarms("sd3/tamper"), 20)
            waiting = collector.received.alarms("sd3/tamper")[0]["id"]
            other_key, _ = generate_keys(tmp_path / "attacker")
            attacker_signer = Signer.from_file(other_key)
            write = {"id": "evil-1", "action": "write", "device": "box1", "point": "port4.relay", "value": True}
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="attacker") as attacker:
                await attacker.publish(gateway_topic(SITE, GATEWAY, "ack"), encode({"ids": [waiting]}), qos=1)
                await attacker.publish(gateway_topic(SITE, GATEWAY, "ack"),
                                       attacker_signer.seal("ack", GATEWAY, {"ids": [waiting]}), qos=1)
                await attacker.publish(gateway_topic(SITE, GATEWAY, "command"), encode(write), qos=1)
                await attacker.publish(gateway_topic(SITE, GATEWAY, "command"),
                                       attacker_signer.seal("command", GATEWAY, write), qos=1)
                # a real signed ack for another gateway, replayed on this one's topic
                await attacker.publish(gateway_topic(SITE, GATEWAY, "ack"),
                                       signer().seal("ack", "gw-station-wenxin-01", {"ids": [waiting]}), qos=1)
                await attacker.publish(COLLECTOR_STATE_TOPIC, encode({"online": False}), qos=1, retain=True)
                await asyncio.sleep(3)
            assert agent.uplink is not None
            assert agent.uplink.rejected_downlink >= 6
            assert agent.uplink.link_ok, "a forged collector state stopped the uplink"
            assert waiting in _outbox_ids(tmp_path / "data" / "outbox.sqlite"), "a forged ack deleted an alarm"
            assert box1.value("port4.relay") is False, "a forged write switched power on"
            # a real command, captured off the broker and replayed, runs once
            captured: list[bytes] = []
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="listener") as listener:
                await listener.subscribe(gateway_topic(SITE, GATEWAY, "command"), qos=1)
                await collector.send_command(SITE, GATEWAY, {"id": "c-real", "action": "rebirth"})
                async with asyncio.timeout(10):
                    async for message in listener.messages:
                        captured.append(bytes(message.payload))
                        break
                await listener.publish(gateway_topic(SITE, GATEWAY, "command"), captured[0], qos=1)
            collector.acking = True
            await collector.ack_pending()

            def states() -> list[str]:
                return [r["state"] for r in collector.received.records.values()
                        if r.get("type") == "command" and r["command"] == "c-real"]
            await collector.wait_for(lambda r: states() == ["executing", "successful"], 20)
            await asyncio.sleep(2)
            assert states() == ["executing", "successful"], "a replayed command ran twice"
            refused = [r for r in collector.received.records.values() if r.get("kind") == "downlink_refused"]
            assert {r["details"]["kind"] for r in refused} >= {"ack", "command", "state"}, refused
            await eventually(lambda: waiting not in _outbox_ids(tmp_path / "data" / "outbox.sqlite"), 20,
                             "the real ack deletes the alarm")
    finally:
        broker.stop()


def _outbox_ids(path: Path) -> set[str]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        outbox_id = db.execute("SELECT value FROM meta WHERE key = 'outbox_id'").fetchone()
        rows = db.execute("SELECT row FROM records").fetchall()
    finally:
        db.close()
    prefix = outbox_id[0] if outbox_id else ""
    return {f"{prefix}:{row}" for (row,) in rows}

