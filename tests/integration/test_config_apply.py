"""Issue 16.1 at one gateway: a configuration set applied in place by a real agent on simulated lines.

Only the bus whose devices' profile changed restarts; the charging box on its own serial line keeps being
polled (gaps measured at the simulated box) and its overheat interlock, whose 5 s timer started before the
apply, cuts the hot port during it. A detector whose firmware the new profile no longer covers fails verify
and the gateway goes back to its last good set on its own. The operation's steps are command states."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import msgpack
import pytest

from edge.agent import EdgeAgent
from edge.bus_worker import ModbusBusWorker
from edge.config_sets import OperationRolledBack, PrepareRefused
from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.rollout import NEWER_FIRMWARE, bundle


def steps(agent: EdgeAgent, command: str) -> list[tuple[str, str]]:
    rows = agent.outbox._db.execute("SELECT body FROM records WHERE lane = 'event'").fetchall()
    states = [msgpack.unpackb(body) for (body,) in rows]
    return [(r["state"], r.get("reason", "")) for r in states if r.get("type") == "command" and r["command"] == command]


async def watch_requests(device: object, gaps: list[float], stop: asyncio.Event) -> None:
    """The longest time the simulated device went without a request, sampled every 10 ms."""
    last_count, last_at = device.requests, time.monotonic()  # type: ignore[attr-defined]
    while not stop.is_set():
        await asyncio.sleep(0.01)
        now = time.monotonic()
        if device.requests != last_count:  # type: ignore[attr-defined]
            gaps.append(now - last_at)
            last_count, last_at = device.requests, now  # type: ignore[attr-defined]
    gaps.append(time.monotonic() - last_at)


@pytest.mark.timeout(120)
async def test_a_profile_change_restarts_only_its_bus_and_the_interlock_on_the_other_cuts_meanwhile(
        tmp_path: Path) -> None:
    async with running_simulation([SITES / "charging-shed.yaml"], tmp_path / "run") as sim:
        box2 = sim.sim.device("shed-xixi-01", "box2")
        box2.set_signals({"port3.relay": True, "port3.state": "charging"})
        async with running_agent(SITES / "charging-shed.yaml", sim, tmp_path / "agent") as agent:
            await eventually(lambda: all(agent._online(d.id) for d in agent.site.devices), 30, "every device online")
            serial_worker = agent.workers["box2-serial"]
            gaps: list[float] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(watch_requests(box2, gaps, stop))
            await asyncio.sleep(1.0)
            box2.set_signals({"port3.temperature": 70}, hold=True)  # the cut's 5 s timer starts now
            heated = time.monotonic()
            await asyncio.sleep(4.0)
            outcome = await agent.configure(bundle(), "cmd-apply-1")
            await eventually(lambda: box2.value("port3.relay") is False, 10, "the hot port cut")
            cut_after = time.monotonic() - heated
            stop.set()
            await watcher

            assert "set " in outcome and "rs485-1" in outcome and "box2-serial" not in outcome
            assert [s for s, _ in steps(agent, "cmd-apply-1")] == ["prepare", "apply", "verify"]
            assert agent.workers["box2-serial"] is serial_worker  # the same worker: never stopped
            assert max(gaps) < 2.0, f"box2's line went {max(gaps):.2f} s without a poll"
            assert cut_after < 8.0, f"the port was cut {cut_after:.1f} s after it got hot (timer 5 s)"
            assert agent.profiles["hengan-sd100-fw1"].probe[1].max == 0x010F
            assert agent.config_sets is not None and agent.config_sets.current() == bundle().sha256
            operation = json.loads((tmp_path / "agent" / "config" / "operation.json").read_text())
            assert operation["state"] == "successful" and operation["previous"] == ""
            print(f"\nbox2 poll gaps during the apply: max {max(gaps) * 1000:.0f} ms over {len(gaps)} polls; "
                  f"port cut {cut_after:.1f} s after it got hot")


@pytest.mark.timeout(120)
async def test_a_detector_the_new_profile_does_not_fit_rolls_the_gateway_back(tmp_path: Path) -> None:
    site = SITES / "fire-cabinets.yaml"
    async with running_simulation([site], tmp_path / "run") as sim:
        sim.sim.device("cabinets-cuiyuan-01", "sd-guard").set_signals({"firmware_version": NEWER_FIRMWARE}, hold=True)
        async with running_agent(site, sim, tmp_path / "agent") as agent:
            await eventually(lambda: all(agent._online(d.id) for d in agent.site.devices), 30, "every device online")
            with pytest.raises(OperationRolledBack) as rolled:
                await agent.configure(bundle(), "cmd-apply-2")
            assert "sd-guard" in str(rolled.value) and "identity" in str(rolled.value)
            assert "the installed files" in str(rolled.value)
            assert agent.config_sets is not None and agent.config_sets.current() == ""
            assert agent.profiles["hengan-sd100-fw1"].probe[1].max == 0x01FF
            worker = agent.workers["rs485-1"]
            assert isinstance(worker, ModbusBusWorker)
            await eventually(lambda: worker.devices["sd-guard"].identified, 20, "sd-guard identified again")

            refused_site = site.read_text().replace("unit: 11}", "unit: 300}")
            with pytest.raises(PrepareRefused) as refused:
                await agent.configure(bundle(site=refused_site, profiles={}), "cmd-apply-3")
            assert "site.yaml:" in str(refused.value) and "unit" in str(refused.value)
            assert agent.config_sets.current() == ""
