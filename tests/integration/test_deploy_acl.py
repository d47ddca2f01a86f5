"""The shipped broker setup (deploy/mosquitto: dynamic-security accounts, size limit), on a real mosquitto:
a gateway's credentials cannot publish under another gateway's topics nor read its commands, cannot take
another gateway's client id, cannot join the collectors' shared subscription, and cannot send a packet
over the size limit; a wrong password is refused.

Issue 11.4 and 11.5, reproduced with the old acl_file: `$share/ff-collectors/ff/v1/+/+/+` from a gateway
account was granted, and the broker then routed messages to it and dropped them (8 of 30 reached the
collector with three such connections); gateway credentials with another gateway's client id kicked it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.conftest import ROOT
from tests.support.mosquitto import Mosquitto

DEPLOY = ROOT / "deploy" / "mosquitto"


def shipped_security(dynsec: Path) -> str:
    """The security lines of the shipped config, with the accounts file moved into the test's folder."""
    keep = ("per_listener_settings", "allow_anonymous", "plugin", "max_packet_size")
    lines = [line for line in (DEPLOY / "firefleet.conf").read_text().splitlines() if line.startswith(keep)]
    return "\n".join(f"plugin_opt_config_file {dynsec}" if line.startswith("plugin_opt_config_file") else line
                     for line in lines) + "\n"


def account(dynsec: Path, name: str, *, collector: bool = False) -> str:
    if collector:
        command = ["python3", str(DEPLOY / "dynsec_users.py"), "add-collector", name, "--file", str(dynsec)]
    else:
        command = [str(DEPLOY / "add-gateway.sh"), name, str(dynsec)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    user, _, password = out.strip().partition(":")
    assert user == name and len(password) >= 20
    return password


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, dict[str, str]]]:
    dynsec = tmp_path / "dynamic-security.json"
    secret = {name: account(dynsec, name) for name in ("gw-a", "gw-b", "gw-z")}
    secret["collector"] = account(dynsec, "collector", collector=True)
    mosquitto = Mosquitto(tmp_path / "mq", extra_config=shipped_security(dynsec))
    mosquitto.start()
    yield mosquitto, secret
    mosquitto.stop()


def gateway(broker: Mosquitto, secret: dict[str, str], user: str, client_id: str | None = None) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, username=user, password=secret[user],
                          identifier=client_id or f"ff-{user}")


async def listen(client: aiomqtt.Client, into: list[str]) -> None:
    async for message in client.messages:
        into.append(f"{message.topic} {message.payload!r}")


async def test_a_gateway_can_only_publish_and_read_under_its_own_id(broker: tuple[Mosquitto, dict[str, str]]) -> None:
    mq, secret = broker
    seen: list[str] = []
    commands_at_a: list[str] = []
    async with (aiomqtt.Client("127.0.0.1", mq.port, username="collector", password=secret["collector"],
                               identifier="collector-1") as collector,
                gateway(mq, secret, "gw-a") as gw_a):
        await collector.subscribe("ff/v1/#", qos=1)
        await gw_a.subscribe("ff/v1/s1/gw-a/command", qos=1)
        refused = await gw_a.subscribe("ff/v1/s1/gw-b/command", qos=1)
        assert [code.is_failure for code in refused] == [True]  # type: ignore[union-attr]
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
        async with aiomqtt.Client("127.0.0.1", mq.port, username="gw-a", password="wrong", identifier="ff-gw-a"):
            pass


async def test_gateway_credentials_cannot_join_the_collectors_shared_subscription(
        broker: tuple[Mosquitto, dict[str, str]]) -> None:
    mq, secret = broker
    got: list[str] = []
    async with aiomqtt.Client("127.0.0.1", mq.port, username="collector", password=secret["collector"],
                              identifier="collector-1") as collector:
        granted = await collector.subscribe("$share/ff-collectors/ff/v1/+/+/+", qos=1)
        assert [code.is_failure for code in granted] == [False]  # type: ignore[union-attr]
        reader = asyncio.get_running_loop().create_task(listen(collector, got))
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(3):
                hijacker = await stack.enter_async_context(gateway(mq, secret, "gw-a"))
                answer = await hijacker.subscribe("$share/ff-collectors/ff/v1/+/+/+", qos=1)
                assert [code.is_failure for code in answer] == [True]  # type: ignore[union-attr]
                await stack.aclose()  # one session per client id: the next attempt reconnects
            async with gateway(mq, secret, "gw-z") as gw_z:
                for _ in range(30):
                    await gw_z.publish("ff/v1/s1/gw-z/alarms", b"x", qos=1)
            await asyncio.sleep(1.0)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    assert len(got) == 30, f"the collector got {len(got)} of 30 messages"


async def test_gateway_credentials_cannot_take_another_gateways_client_id(
        broker: tuple[Mosquitto, dict[str, str]]) -> None:
    mq, secret = broker
    async with gateway(mq, secret, "gw-b") as gw_b:
        for _ in range(3):
            with pytest.raises(aiomqtt.MqttError):
                async with gateway(mq, secret, "gw-a", client_id="ff-gw-b"):
                    pass
        await gw_b.publish("ff/v1/s1/gw-b/heartbeat", b"still here", qos=1)  # not kicked


async def test_a_packet_over_the_size_limit_disconnects_its_sender(broker: tuple[Mosquitto, dict[str, str]]) -> None:
    mq, secret = broker
    got: list[str] = []
    async with aiomqtt.Client("127.0.0.1", mq.port, username="collector", password=secret["collector"],
                              identifier="collector-1") as collector:
        await collector.subscribe("ff/v1/#", qos=1)
        reader = asyncio.get_running_loop().create_task(listen(collector, got))
        with pytest.raises(aiomqtt.MqttError):
            async with gateway(mq, secret, "gw-a") as gw_a:
                await gw_a.publish("ff/v1/s1/gw-a/telemetry", b"x" * 300_000, qos=1, timeout=5)
                await asyncio.sleep(1.0)
                await gw_a.publish("ff/v1/s1/gw-a/telemetry", b"after", qos=1, timeout=5)
        async with gateway(mq, secret, "gw-a") as gw_a:
            await gw_a.publish("ff/v1/s1/gw-a/telemetry", b"y" * 200_000, qos=1)  # under the limit: fine
        await asyncio.sleep(0.5)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    assert len(got) == 1 and got[0].startswith("ff/v1/s1/gw-a/telemetry b'yyy")
