"""The shipped mosquitto ACL and credential script, on a real mosquitto: a gateway's credentials cannot
publish under another gateway's topics nor read its commands; a wrong password is refused."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import ROOT
from tests.support.mosquitto import Mosquitto

ADD = ROOT / "deploy" / "mosquitto" / "add-gateway.sh"
ACL = ROOT / "deploy" / "mosquitto" / "acl"


def credentials(passwd: Path, user: str) -> str:
    out = subprocess.run([str(ADD), user, str(passwd)], check=True, capture_output=True, text=True).stdout
    name, _, password = out.strip().partition(":")
    assert name == user and len(password) >= 20
    return password


async def test_a_gateway_can_only_publish_and_read_under_its_own_id(tmp_path: Path) -> None:
    passwd = tmp_path / "firefleet.passwd"
    secret = {user: credentials(passwd, user) for user in ("gw-a", "gw-b", "collector")}
    broker = Mosquitto(tmp_path / "mq", extra_config=f"password_file {passwd}\nacl_file {ACL}\n")
    broker.start()
    seen: list[str] = []
    commands_at_a: list[str] = []
    try:
        async with (aiomqtt.Client("127.0.0.1", broker.port, username="collector", password=secret["collector"],
                                   identifier="collector") as collector,
                    aiomqtt.Client("127.0.0.1", broker.port, username="gw-a", password=secret["gw-a"],
                                   identifier="gw-a") as gw_a):
            await collector.subscribe("ff/v1/#", qos=1)
            await gw_a.subscribe("ff/v1/s1/gw-a/command", qos=1)
            await gw_a.subscribe("ff/v1/s1/gw-b/command", qos=1)  # accepted by MQTT 3.1.1, but nothing comes

            async def listen(client: aiomqtt.Client, into: list[str]) -> None:
                async for message in client.messages:
                    into.append(f"{message.topic} {message.payload!r}")
            tasks = [asyncio.get_running_loop().create_task(listen(collector, seen)),
                     asyncio.get_running_loop().create_task(listen(gw_a, commands_at_a))]
            await gw_a.publish("ff/v1/s1/gw-a/alarms", b"own", qos=1)
            await gw_a.publish("ff/v1/s1/gw-b/alarms", b"forged", qos=1)  # the broker drops it
            await gw_a.publish("ff/v1/s1/gw-b/ack", b"forged ack", qos=1)
            await collector.publish("ff/v1/s1/gw-b/command", b"for b", qos=1)
            await collector.publish("ff/v1/s1/gw-a/command", b"for a", qos=1)
            await asyncio.sleep(1.0)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert [s for s in seen if "alarms" in s] == ["ff/v1/s1/gw-a/alarms b'own'"]
        assert not any("forged" in s for s in seen)
        assert commands_at_a == ["ff/v1/s1/gw-a/command b'for a'"]
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", broker.port, username="gw-a", password="wrong", identifier="x"):
                pass
    finally:
        broker.stop()
