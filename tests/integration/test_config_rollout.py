"""Issue 16.1 end to end: three real agents on simulated lines, mosquitto, the collector as a process, and
rollouts made through its API as an admin does in the console.

One detector (the cabinets' guard-room one) runs firmware 1.18, which the narrowed profile no longer
covers. A rollout with the cabinets gateway as its canary and no failure allowed stops there: the
cabinets gateway rolls back on its own, the other two never get the step. A second rollout, the shed as
canary and one failure allowed, completes: the shed and the station keep the new set, the cabinets
gateway rolls back again, and the station's gateway, away when it was made, gets its step when it is back
and keeps the new set. During the shed's apply its serial charging box keeps being polled and its
overheat interlock cuts a hot port. A gateway killed in the middle of its operation comes back on its
last good set and says so."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.harness import running_simulation
from tests.conftest import ROOT, SITES
from tests.integration.test_config_apply import watch_requests
from tests.support.agents import running_agent
from tests.support.collector_process import PASSWORD, CollectorProcess
from tests.support.keys import public_key
from tests.support.mosquitto import Mosquitto
from tests.support.rollout import NEWER_FIRMWARE, PROFILE, narrowed_profile

SHED, STATION, CABINETS = "gw-shed-xixi-01", "gw-station-wenxin-01", "gw-cabinets-cuiyuan-01"
SITE_FILES = [SITES / "charging-shed.yaml", SITES / "micro-station.yaml", SITES / "fire-cabinets.yaml"]


async def until(what: Callable[[], Any], seconds: float, why: str) -> Any:
    deadline = time.monotonic() + seconds
    while not (got := await what()):
        assert time.monotonic() < deadline, f"timed out after {seconds} s: {why}"
        await asyncio.sleep(0.2)
    return got


@contextlib.asynccontextmanager
async def collector_and_broker(tmp_path: Path) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = CollectorProcess(tmp_path / "cloud", broker.url, inventory=ROOT / "deploy/examples/inventory.yaml",
                                 users=[f"duty:admin:{PASSWORD}"])
    await collector.start()
    try:
        async with httpx.AsyncClient(base_url=collector.url, timeout=10) as api:
            api.headers["Authorization"] = f"Bearer {await collector.token()}"
            yield broker.url, api
    finally:
        await collector.stop()
        broker.stop()


async def rollout_ended(api: httpx.AsyncClient, rid: int) -> dict[str, Any] | None:
    found: dict[str, Any] = (await api.get(f"/api/rollouts/{rid}")).json()
    return found if found["state"] != "running" else None


@pytest.mark.timeout(300)
async def test_a_canary_failure_stops_a_rollout_and_a_second_one_completes_with_one_gateway_rolled_back(
        tmp_path: Path) -> None:
    async with collector_and_broker(tmp_path) as (broker_url, api), \
            running_simulation(SITE_FILES, tmp_path / "run") as sim:
        sim.sim.device("cabinets-cuiyuan-01", "sd-guard").set_signals({"firmware_version": NEWER_FIRMWARE}, hold=True)
        box2 = sim.sim.device("shed-xixi-01", "box2")
        box2.set_signals({"port3.relay": True, "port3.state": "charging"})
        async with running_agent(SITE_FILES[0], sim, tmp_path / "shed", broker_url=broker_url) as shed, \
                running_agent(SITE_FILES[2], sim, tmp_path / "cabinets", broker_url=broker_url) as cabinets, \
                contextlib.AsyncExitStack() as station_runs:
            station = await station_runs.enter_async_context(
                running_agent(SITE_FILES[1], sim, tmp_path / "station", broker_url=broker_url))

            async def online() -> set[str]:
                return {g["id"] for g in (await api.get("/api/fleet")).json()["gateways"] if g["online"]}
            await until(lambda: _all(online, {SHED, STATION, CABINETS}), 60, "three gateways online at the collector")
            before = {g["id"]: g["profiles_version"] for g in (await api.get("/api/fleet")).json()["gateways"]}
            new_set = {"target": {"all": True}, "profiles": {PROFILE: narrowed_profile()}, "verify_s": 20}

            refused = await api.post("/api/rollouts", json={**new_set, "profiles": {PROFILE: "id: [broken"}})
            assert refused.status_code == 422 and refused.json()["code"] == "config_refused", refused.text

            first = await api.post("/api/rollouts", json={**new_set, "canary": [CABINETS], "max_failures": 0})
            assert first.status_code == 201, first.text
            stopped = await until(lambda: rollout_ended(api, first.json()["id"]), 60, "the first rollout to stop")
            assert stopped["state"] == "stopped" and "sd-guard" in stopped["reason"]
            states = {g["gateway"]: g for g in stopped["gateways"]}
            assert states[CABINETS]["state"] == "rolled_back" and "identity" in states[CABINETS]["reason"]
            assert states[SHED]["state"] == states[STATION]["state"] == ""  # never sent
            assert shed.profiles["hengan-sd100-fw1"].probe[1].max == 0x01FF

            await station_runs.aclose()  # the station's gateway goes away before the second rollout
            await until(lambda: _gone(online, STATION), 30, "the station's gateway offline at the collector")
            gaps: list[float] = []
            stop_watching = asyncio.Event()
            watcher = asyncio.create_task(watch_requests(box2, gaps, stop_watching))
            box2.set_signals({"port3.temperature": 70}, hold=True)  # the interlock's 5 s timer starts
            await asyncio.sleep(3.5)
            second = await api.post("/api/rollouts", json={**new_set, "canary": [SHED], "canary_share": 0,
                                                           "max_failures": 1})
            assert second.status_code == 201, second.text
            rid = second.json()["id"]

            async def settled_without_the_station() -> dict[str, Any] | None:
                found: dict[str, Any] = (await api.get(f"/api/rollouts/{rid}")).json()
                states = {g["gateway"]: g["state"] for g in found["gateways"]}
                return found if states[SHED] == "successful" and states[CABINETS] == "rolled_back" else None
            waiting = await until(settled_without_the_station, 90, "the shed and the cabinets to finish")
            stop_watching.set()
            await watcher
            assert box2.value("port3.relay") is False, "the hot port was not cut during the shed's apply"
            assert max(gaps) < 2.0, f"box2's line went {max(gaps):.2f} s without a poll"
            assert waiting["state"] == "running"  # the station has not had its step: it is away
            station_row = next(g for g in waiting["gateways"] if g["gateway"] == STATION)
            assert station_row["state"] == "init" and not station_row["online"]

            station = await station_runs.enter_async_context(  # back: its step is waiting for it
                running_agent(SITE_FILES[1], sim, tmp_path / "station", broker_url=broker_url))
            done = await until(lambda: rollout_ended(api, rid), 90, "the second rollout to end")
            assert done["state"] == "completed", done
            states = {g["gateway"]: g for g in done["gateways"]}
            assert states[SHED]["state"] == states[STATION]["state"] == "successful"
            assert states[CABINETS]["state"] == "rolled_back" and states[SHED]["stage"] == 0
            assert "rs485-1" in states[SHED]["reason"] and "box2-serial" not in states[SHED]["reason"]
            for agent, narrowed in ((shed, True), (station, True), (cabinets, False)):
                assert (agent.profiles["hengan-sd100-fw1"].probe[1].max == 0x010F) is narrowed, agent.site.id

            async def versions_reported() -> dict[str, str] | None:
                now = {g["id"]: g["profiles_version"] for g in (await api.get("/api/fleet")).json()["gateways"]}
                return now if now[SHED] != before[SHED] and now[STATION] != before[STATION] else None
            now = await until(versions_reported, 20, "the new profile versions on the fleet page")
            assert now[CABINETS] == before[CABINETS]
            audit = (await api.get("/api/audit?limit=200")).json()
            actions = [a["action"] for a in (audit if isinstance(audit, list) else audit["entries"])]
            assert actions.count("rollout created") == 2 and "rollout stopped" in actions
            assert "rollout completed" in actions
            print(f"\nbox2 poll gaps through the shed's apply and verify: max {max(gaps) * 1000:.0f} ms "
                  f"over {len(gaps)} polls")


async def _all(read: Callable[[], Any], wanted: set[str]) -> bool:
    return bool(wanted <= await read())


async def _gone(read: Callable[[], Any], gateway: str) -> bool:
    return gateway not in await read()


@pytest.mark.timeout(240)
async def test_a_gateway_killed_during_its_operation_comes_back_on_its_last_good_set(tmp_path: Path) -> None:
    site = SITE_FILES[2]
    wrong_unit = site.read_text().replace("profile: hengan-sd100-fw1, bus: rs485-1, unit: 11}",
                                          "profile: hengan-sd100-fw1, bus: rs485-1, unit: 19}")
    assert wrong_unit != site.read_text()
    async with collector_and_broker(tmp_path) as (broker_url, api), \
            running_simulation([site], tmp_path / "run") as _:
        args = [sys.executable, "-m", "devices.cli", "edge", "--config", str(site), "--data-dir",
                str(tmp_path / "data"), "--bus-map", str(tmp_path / "run" / "served.json"), "--broker", broker_url,
                "--collector-key", str(public_key()), "--heartbeat", "2", "--metrics", "off"]

        async def start() -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=open(tmp_path / "agent.log", "ab"))

        async def device_online() -> bool:
            found = (await api.get("/api/sites/cabinets-cuiyuan-01")).json()
            return any(d["id"] == "sd-guard" and d["online"] for d in found.get("device_list", []))
        agent = await start()
        try:
            await until(device_online, 60, "sd-guard online at the collector")
            made = await api.post("/api/rollouts", json={"target": {"gateway": CABINETS}, "site": wrong_unit,
                                                         "verify_s": 120})
            assert made.status_code == 201, made.text
            rid = made.json()["id"]

            async def in_verify() -> bool:
                (gateway,) = (await api.get(f"/api/rollouts/{rid}")).json()["gateways"]
                return bool(gateway["state"] == "verify")
            await until(in_verify, 60, "the operation in verify (sd-guard at unit 19 does not answer)")
            agent.send_signal(signal.SIGKILL)  # a power cut in the middle of the operation
            await agent.wait()
            assert (tmp_path / "data" / "config" / "current").is_symlink()  # it was on the new set when killed
            agent = await start()
            ended = await until(lambda: rollout_ended(api, rid), 60, "the operation reported")
            (gateway,) = ended["gateways"]
            assert gateway["state"] == "rolled_back" and "stopped during verify" in gateway["reason"]
            assert not (tmp_path / "data" / "config" / "current").exists()  # back on the installed files
            await until(device_online, 60, "sd-guard answering again at unit 11")
        finally:
            if agent.returncode is None:
                agent.terminate()
                await agent.wait()
