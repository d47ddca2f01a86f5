"""Bus workers against simulated lines: a dead slave does not stall its line, garbage and faults are
counted and logged once per episode, a missing serial device is survived, a cancelled poll cancels."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from devices.errors import DeviceTimeout
from edge.rtu_link import RtuLink
from edge.serial_link import SerialLink
from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent

SHED = SITES / "charging-shed.yaml"
SITE = "shed-xixi-01"

EIGHT_DETECTORS = """\
site: {id: line-test, name: 8 detectors, kind: charging_shed, street: 测试街道, location: {lat: 30.0, lon: 120.0}}
gateway: {id: gw-line-test}
buses:
  - {id: rs485-1, type: modbus_rtu, port: /dev/ttyUSB0, baud: 9600}
devices:
"""


def eight_detector_site(tmp_path: Path) -> Path:
    path = tmp_path / "line-test.yaml"
    path.write_text(EIGHT_DETECTORS + "".join(
        f"  - {{id: sd{n}, profile: hengan-sd100-fw1, bus: rs485-1, unit: {n}}}\n" for n in range(1, 9)))
    return path


def mean_cycle(agent: object, devices: list[str], since: dict[str, int]) -> float:
    worker = next(iter(agent.workers.values()))  # type: ignore[attr-defined]
    samples = [c for d in devices for c in worker.devices[d].cycle_times[since[d]:]]
    assert len(samples) >= 5 * len(devices), "too few polls measured"
    return statistics.fmean(samples)


async def test_one_dead_slave_among_eight_barely_slows_the_others(tmp_path: Path) -> None:
    site = eight_detector_site(tmp_path)
    others = [f"sd{n}" for n in range(1, 8)]
    async with (running_simulation([site], tmp_path / "run", pace=True) as sim,
                running_agent(site, sim, tmp_path / "data") as agent):
        worker = next(iter(agent.workers.values()))
        assert isinstance(worker, object)
        await asyncio.sleep(4)  # identify everyone, settle the schedule
        mark = {d: len(worker.devices[d].cycle_times) for d in others}  # type: ignore[union-attr]
        await asyncio.sleep(10)
        healthy = mean_cycle(agent, others, mark)
        sim.sim.inject_fault("line-test", "sd8", {"kind": "no_reply"})
        await eventually(lambda: not worker.devices["sd8"].health.online, 20, "sd8 reported offline")  # type: ignore[union-attr]
        mark = {d: len(worker.devices[d].cycle_times) for d in others}  # type: ignore[union-attr]
        await asyncio.sleep(10)
        with_dead = mean_cycle(agent, others, mark)
        assert all(worker.devices[d].health.online for d in others)  # type: ignore[union-attr]
    print(f"alarm-class cycle of 7 healthy detectors: {healthy:.3f} s; with a dead 8th: {with_dead:.3f} s "
          f"({with_dead / healthy:.3f}x)")
    assert with_dead <= healthy * 1.10


async def test_garbage_faults_and_a_missing_serial_device_are_counted_logged_once_and_survived(
        tmp_path: Path) -> None:
    async with running_simulation([SHED], tmp_path / "run") as sim:
        sim.sim.inject_fault(SITE, "sd2", {"kind": "garbage", "length": 11})
        sim.sim.inject_fault(SITE, "sd3", {"kind": "wrong_slave_id"})
        sim.sim.inject_fault(SITE, "spr1", {"kind": "exception", "code": 4})
        # box2's serial line points at a device that does not exist
        real = sim.sim.sites[SITE].servers["box2-serial"]
        real.link_path = tmp_path / "no-such-tty"  # type: ignore[union-attr]
        with capture_logs() as logs:
            async with running_agent(SHED, sim, tmp_path / "data") as agent:
                box1 = agent.workers["rs485-1"].devices["box1"]  # type: ignore[union-attr]
                await eventually(lambda: box1.health.answered > 20, 30, "box1 polled throughout")
                await asyncio.sleep(6)
                counters = agent.workers["rs485-1"].counters
                serial = agent.workers["box2-serial"]
                assert counters.frame_errors >= 4 and counters.exceptions >= 4
                assert serial.counters.link_errors >= 2
                answered = box1.health.answered
                await asyncio.sleep(2)
                assert box1.health.answered > answered, "the agent kept polling"
    offline = [e for e in logs if e["event"] == "device offline"]
    assert sorted(e["device"] for e in offline) == ["box2", "sd2", "sd3"]  # once each, not once per poll
    missing = [e for e in logs if e["event"] == "serial device missing"]
    assert len(missing) == 1 and "no-such-tty" in missing[0]["reason"]
    assert not any(e["event"] == "device offline" and e["device"] == "spr1" for e in logs), \
        "a device that answers with exceptions is alive"


async def test_a_cancelled_poll_frees_the_line_at_once(tmp_path: Path) -> None:
    async with running_simulation([SHED], tmp_path / "run") as sim:
        sim.sim.inject_fault(SITE, "sd1", {"kind": "slow_reply", "delay_ms": 3000})
        link = RtuLink(SerialLink(sim.endpoint(SITE, "rs485-1")["path"], 9600), 9600)
        await link.connect()
        try:
            slow = asyncio.get_running_loop().create_task(link.read("input_register", 0, 6, 11, timeout=10))
            await asyncio.sleep(0.2)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            started = time.monotonic()
            words = await link.read("holding_register", 0x100, 10, 1, timeout=2)
            assert len(words) == 10 and time.monotonic() - started < 1.0
            with pytest.raises(DeviceTimeout):
                await link.read("input_register", 0, 6, 11, timeout=0.3)
        finally:
            link.close()
