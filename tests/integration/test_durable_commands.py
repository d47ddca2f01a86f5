"""Issue 10.4, reproduced on the old main: a command published while its gateway was offline was lost
(gateways connect with a clean session). Now commands are durable at the collector with an expiry: sent
again on the gateway's next birth while unexpired, `expired` otherwise, and run once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto import Mosquitto

SHED = SITES / "charging-shed.yaml"
SITE, GATEWAY = "shed-xixi-01", "gw-shed-xixi-01"


async def test_a_command_for_an_offline_gateway_waits_for_its_birth_or_expires(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = CollectorProcess(tmp_path / "cloud", broker.url)
    await collector.start()
    try:
        async with running_simulation([SHED], tmp_path / "run") as sim, httpx.AsyncClient(
                base_url=collector.url, timeout=10) as http:
            http.headers["Authorization"] = f"Bearer {await collector.token()}"
            box = sim.sim.device(SITE, "box1")
            box.set_signals({"port5.relay": True, "port6.relay": True})
            async with running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url):
                await eventually(lambda: box.value("port5.relay") is True, 5)

                async def known() -> bool:
                    return any(d["id"] == "box1" for d in (await http.get("/api/devices")).json())
                for _ in range(100):
                    if await known():
                        break
                    await asyncio.sleep(0.2)
            # the gateway is away now
            cut = {"site": SITE, "gateway": GATEWAY, "action": "write", "device": "box1", "value": False}
            kept = (await http.post("/api/commands", json={**cut, "point": "port5.relay"})).json()
            late = (await http.post("/api/commands", json={**cut, "point": "port6.relay", "expires_in": 5})).json()
            await asyncio.sleep(6)
            async with running_agent(SHED, sim, tmp_path / "data", broker_url=broker.url):
                async def state(cid: str) -> str:
                    return str((await http.get(f"/api/commands/{cid}")).json()["state"])
                for _ in range(150):
                    if await state(kept["id"]) == "successful":
                        break
                    await asyncio.sleep(0.2)
                assert await state(kept["id"]) == "successful"
                assert box.value("port5.relay") is False
                assert await state(late["id"]) == "expired"
                assert box.value("port6.relay") is True, "an expired power command was run late"
    finally:
        await collector.stop()
        broker.stop()
