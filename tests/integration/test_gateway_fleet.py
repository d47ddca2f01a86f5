"""Lightweight simulated gateways (the district demo's) against a real mosquitto and the collector process:
they come online with their places and devices, their readings are acknowledged, and a command is
answered with a reason instead of hanging."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from cloud.demo.district import district_plan, inventory_lines
from tests.support.collector_process import CollectorProcess
from tests.support.keys import public_key
from tests.support.mosquitto import Mosquitto


async def until(fetch: Any, done: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        await asyncio.sleep(0.5)


async def test_lightweight_gateways_come_online_where_they_are_and_answer_commands(tmp_path: Path) -> None:
    whole = district_plan(seed=3, existing={})
    plan = whole[:3] + whole[70:73] + whole[160:170]  # stations, sheds and cabinets
    (tmp_path / "plan.json").write_text(json.dumps(plan, ensure_ascii=False))
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("\n".join(["sites:", *[line for s in plan for line in inventory_lines(s)]]) + "\n")
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = CollectorProcess(tmp_path / "cloud", broker.url, inventory=inventory)
    await collector.start()
    log = open(tmp_path / "fleet.log", "ab")  # noqa: SIM115 - the process writes to it
    fleet = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devices.cli", "fleet", "--plan", str(tmp_path / "plan.json"), "--broker", broker.url,
        "--per-connection", "5", "--report-every", "5", "--collector-key", str(public_key()),
        stdout=asyncio.subprocess.DEVNULL, stderr=log)
    try:
        async with httpx.AsyncClient(base_url=collector.url, timeout=10,
                                     headers={"Authorization": f"Bearer {await collector.token()}"}) as api:
            async def get(path: str) -> Any:
                return (await api.get(path)).json()

            gateways = await until(lambda: get("/api/gateways"),
                                   lambda gws: sum(1 for g in gws if g["online"]) == len(plan), "every gateway online")
            assert {g["id"] for g in gateways} == {s["gateway"] for s in plan}
            sites = {s["id"]: s for s in await get("/api/sites")}
            for planned in plan:
                shown = sites[planned["id"]]
                assert (shown["lat"], shown["lon"], shown["street"]) == (planned["lat"], planned["lon"],
                                                                         planned["street"])
            devices = await get("/api/devices")
            assert len(devices) == sum(len(s["devices"]) for s in plan)
            readiness = await get("/api/readiness")
            assert {s["site"] for s in readiness["stations"]} == {s["id"] for s in plan[:3]}

            shed = plan[3]
            sent = await api.post("/api/commands", json={"site": shed["id"], "gateway": shed["gateway"],
                                                         "action": "write", "device": "box1", "point": "port1.relay",
                                                         "value": False})
            assert sent.status_code == 202, sent.text
            done = await until(lambda: get(f"/api/commands/{sent.json()['id']}"),
                               lambda c: c["state"] in ("successful", "failed"), "the command's answer")
            assert done["state"] == "failed" and "lightweight" in done["reason"]

            # Readings flow and are acknowledged: the gateways' reported backlog stays small.
            health = await until(lambda: get("/api/health"),
                                 lambda h: all("outbox" in g["health"] for g in h["gateways"]), "heartbeats", 30)
            assert max(g["health"]["outbox"] for g in health["gateways"]) <= 3
    finally:
        fleet.terminate()
        await asyncio.wait_for(fleet.wait(), 15)
        await collector.stop()
        broker.stop()
        log.close()
