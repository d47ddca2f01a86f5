"""Issue 17 through the real path: a simulated smoke detector, its edge agent, mosquitto, the collector as
a process with `--uitd`, and the monitoring-centre simulator on a loopback port. Smoke becomes a
component-state frame with the fire bit at the centre (confirmed, and shown in /api/uitd/frames); a duty
check from the centre is answered by an officer through the API and reaches the centre as 查岗应答; a
clock sync puts the following frames on the centre's time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devices.gb26875 import CMD_SEND, OP_DUTY_ANSWER, STATE_FIRE, ComponentState, DeviceOperation
from simulators.harness import running_simulation
from simulators.monitoring_centre import Centre, running_centre
from tests.conftest import ROOT, SITES
from tests.support.agents import running_agent
from tests.support.centre import centre_mapping
from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto import Mosquitto

SHED = 0xC0A80A01


async def until(what: Callable[[], Any], seconds: float = 60.0, why: str = "") -> Any:
    deadline = time.monotonic() + seconds
    while not (got := what()):
        assert time.monotonic() < deadline, f"timed out: {why}"
        await asyncio.sleep(0.1)
    return got


def sent(centre: Centre, kind: type) -> list[Any]:
    return [obj for r in centre.frames(SHED, CMD_SEND) for obj in (r.unit.objects if r.unit else ())
            if isinstance(obj, kind)]


@pytest.mark.timeout(240)
async def test_smoke_reaches_the_centre_as_a_fire_and_the_centre_duty_check_and_clock_are_answered(
        tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    async with running_centre(Centre(address=1)) as centre:
        mapping = centre_mapping(tmp_path / "gb26875.yaml", centre.port)
        collector = CollectorProcess(tmp_path / "cloud", broker.url, inventory=ROOT / "deploy/examples/inventory.yaml",
                                     extra=["--uitd", str(mapping)])
        await collector.start()
        try:
            async with (running_simulation([SITES / "charging-shed.yaml"], tmp_path / "run") as sim,
                        running_agent(SITES / "charging-shed.yaml", sim, tmp_path / "agent", broker_url=broker.url),
                        httpx.AsyncClient(base_url=collector.url, timeout=10) as api):
                api.headers["Authorization"] = f"Bearer {await collector.token()}"
                await until(lambda: SHED in centre._writers or None, why="the shed's session")
                sim.sim.device("shed-xixi-01", "sd2").set_signals({"alarm_state": "alarm"}, hold=True)
                fires = await until(lambda: [s for s in sent(centre, ComponentState) if s.state & STATE_FIRE],
                                    why="a fire frame at the centre")
                assert (fires[0].component_type, fires[0].component_address) == (42, (1 << 16) | 2)  # 南侧烟感
                assert fires[0].description == "南侧烟感" and fires[0].system_type == 1
                frames = (await api.get("/api/uitd/frames?site=shed-xixi-01")).json()
                assert any(f["command_name"] == "send" and f["state"] == "confirmed" for f in frames)

                await centre.duty_check(SHED, minutes=5)
                deadline = time.monotonic() + 30
                while not (checks := [c for c in (await api.get("/api/duty-checks")).json()
                                      if c["sent_by"].startswith("监控中心") and not c.get("answered_at")]):
                    assert time.monotonic() < deadline, "the centre's duty check never reached the consoles"
                    await asyncio.sleep(0.2)
                assert not sent(centre, DeviceOperation)  # nobody has answered yet: nothing is said for them
                answered = await api.post(f"/api/duty-checks/{checks[0]['id']}/answer", json={})
                assert answered.status_code == 200, answered.text
                (answer,) = await until(lambda: sent(centre, DeviceOperation), why="查岗应答 at the centre")
                assert answer.operation & OP_DUTY_ANSWER

                await centre.clock_sync(SHED, datetime(2031, 5, 1, 9, 30, 0))
                await asyncio.sleep(0.5)
                sim.sim.device("shed-xixi-01", "sd1").set_signals({"smoke_alarm": True}, hold=True)
                north = await until(lambda: [s for s in sent(centre, ComponentState) if s.state & STATE_FIRE
                                             and s.component_address == (1 << 16) | 1], why="sd1's fire")
                assert north[-1].time.year == 2031  # on the centre's clock since its sync
        finally:
            await collector.stop()
            broker.stop()
