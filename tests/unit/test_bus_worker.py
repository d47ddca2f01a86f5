"""The bus worker through its link seam (edge.register_link.FakeRegisterLink): what it reports, how it
writes, how a dead unit is handled, and that cancelling a poll mid-request really cancels it (issue 12.2:
the bus worker had no unit tests, because it could only be built on a real Modbus line)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from devices.profile import Profile
from devices.profile_loader import load_profile_dir
from devices.site_config import BusConfig, DeviceConfig
from edge.bus_worker import ModbusBusWorker, WriteRequest
from edge.polled_device import CUT, PolledDevice, candidates_for
from edge.register_link import FakeRegisterLink
from tests.support.sinks import EventSink

PROFILES = load_profile_dir()
BUS = BusConfig(id="rs485-1", type="modbus_rtu", port="/dev/null")


class Sink(EventSink):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, dict[str, Any]]] = []
        self.health: list[tuple[str, bool]] = []
        self.events: list[tuple[str, str]] = []

    def on_values(self, device: str, values: dict[str, Any]) -> None:
        self.values.append((device, values))
        self.changed.set()

    def on_health(self, device: str, online: bool, reason: str) -> None:
        self.health.append((device, online))
        self.changed.set()

    def on_event(self, device: str, kind: str, details: dict[str, Any]) -> None:
        self.events.append((device, kind))
        self.changed.set()


def identity(profile: Profile) -> dict[str, dict[int, int]]:
    """Register words that make the worker identify this firmware."""
    tables: dict[str, dict[int, int]] = {}
    for probe in profile.probe:
        point = profile.point(probe.point)
        tables.setdefault(point.table, {})[point.address] = int(probe.equals if probe.equals is not None
                                                                else probe.min or 0)
    return tables


def device(dev_id: str, unit: int, profile_id: str) -> PolledDevice:
    profile = PROFILES[profile_id]
    return PolledDevice(DeviceConfig(id=dev_id, profile=profile_id, bus=BUS.id, unit=unit), profile,
                        candidates_for(profile, PROFILES))


@pytest.fixture
async def line() -> AsyncIterator[tuple[FakeRegisterLink, Sink, ModbusBusWorker]]:
    link = FakeRegisterLink(tables={11: identity(PROFILES["hengan-sd100-fw1"]),
                                    12: identity(PROFILES["hengan-sd100-fw2"])})
    sink = Sink()
    worker = ModbusBusWorker(BUS, [device("sd1", 11, "hengan-sd100-fw1"), device("sd2", 12, "hengan-sd100-fw2")],
                             link, sink)
    task = asyncio.get_running_loop().create_task(worker.run())
    yield link, sink, worker
    worker.stop()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_silent_unit_goes_offline_once_while_its_neighbour_keeps_being_polled(
        line: tuple[FakeRegisterLink, Sink, ModbusBusWorker]) -> None:
    link, sink, _ = line
    await sink.until(lambda: sum(d == "sd2" for d, _ in sink.values) >= 2)
    link.silent.add(12)
    await sink.until(lambda: ("sd2", False) in sink.health)
    before = sum(d == "sd1" for d, _ in sink.values)
    await sink.until(lambda: sum(d == "sd1" for d, _ in sink.values) >= before + 3)  # sd1 is not stalled
    assert sink.health.count(("sd2", False)) == 1  # logged and reported once, not per poll
    link.silent.clear()
    await sink.until(lambda: ("sd2", True) in sink.health)


async def test_a_write_goes_out_with_the_profiles_function_and_is_read_back(
        line: tuple[FakeRegisterLink, Sink, ModbusBusWorker]) -> None:
    link, sink, worker = line
    await sink.until(lambda: any(d == "sd2" for d, _ in sink.values))
    request = WriteRequest("sd2", "sounder", True)
    worker.submit(request)
    assert await asyncio.wait_for(request.done, 5) == "verified"
    sounder = PROFILES["hengan-sd100-fw2"].point("sounder")
    assert (12, "coil", sounder.address, [1], "single") in link.writes
    refused = WriteRequest("sd2", "sounder", 7)  # the agent checks again: a relay takes true or false
    worker.submit(refused)
    assert (await asyncio.wait_for(refused.done, 5)).startswith("refused: sounder takes true or false")
    assert len(link.writes) == 1


async def test_cancelling_a_poll_mid_request_really_cancels_it() -> None:
    gate = asyncio.Event()  # never set: the first read hangs as on a dead line
    link = FakeRegisterLink(tables={11: identity(PROFILES["hengan-sd100-fw1"])}, gate=gate)
    sink = Sink()
    worker = ModbusBusWorker(BUS, [device("sd1", 11, "hengan-sd100-fw1")], link, sink)
    task = asyncio.get_running_loop().create_task(worker.run())
    async with asyncio.timeout(5):
        while not link.reads:
            await asyncio.sleep(0)  # let the worker reach its first read (yields, no wall time)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert link.closed == 1 and not link.connected  # the line is released in `finally`


async def run_until(worker: ModbusBusWorker, done: Callable[[], bool], timeout: float, step: float) -> None:
    """Run a worker until `done()` holds (looking every `step` s; 0: every turn of the loop), then stop it."""
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(step)
    finally:
        worker.stop()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_the_points_that_can_cut_are_read_first_and_the_rest_still_get_the_line() -> None:
    """Issue 18: a charging box's port temperatures and currents (the inputs of its cut rules) are their own
    poll class, served before everything else, in the frames the register map needs and no more: four
    ports a frame, reading across the registers of the ports' other points (cheaper than a frame each)."""
    from edge.polled_device import CUT

    box = PROFILES["xingdian-cb10"]
    urgent = frozenset(f"port{n}.{p}" for n in range(1, 11) for p in ("temperature", "current"))
    polled = PolledDevice(DeviceConfig(id="box1", profile=box.id, bus=BUS.id, unit=1), box, [box], urgent=urgent)
    cut_starts = [0x100, 0x140, 0x180]  # ports 1-4, 5-8, 9-10 (64 registers at most a read)
    assert [b.start for b, _ in polled.plan[CUT]] == cut_starts
    assert all(b.count <= box.quirks.max_registers for b, _ in polled.plan[CUT])
    assert all(b.table != "holding_register" for b, _ in polled.plan["alarm"])  # nothing read twice
    link = FakeRegisterLink(tables={1: identity(box)})
    await run_until(ModbusBusWorker(BUS, [polled], link, Sink()), lambda: len(link.reads) >= 2 + 3 + 2, 5, 0)
    polls = [(table, address) for _, table, address, _ in link.reads[2:]]  # after the identity probe
    assert polls[:3] == [("holding_register", start) for start in cut_starts]
    assert polls[3][0] != "holding_register"  # then the rest of the alarm class: the line is not theirs alone


async def test_on_a_line_the_cut_inputs_would_fill_the_other_alarm_points_are_still_read() -> None:
    """Found by bench/alarm_latency.py: with a box's cut inputs due again before they were all read (a
    saturated line), its relays and fault bits (its alarm class) were never read again, and neither were
    its neighbours'. Now a poll a whole period late goes before the cut inputs."""
    box = PROFILES["xingdian-cb10"]
    urgent = frozenset(f"port{n}.temperature" for n in range(1, 11))
    polled = PolledDevice(DeviceConfig(id="box1", profile=box.id, bus=BUS.id, unit=1), box, [box], urgent=urgent)
    link = FakeRegisterLink(tables={1: identity(box)}, wire_s=0.06)  # ten cut frames: 600 ms > the 500 ms period

    def relays_read_again() -> bool:
        return sum(table == "coil" for _, table, _, _ in link.reads) >= 2

    await run_until(ModbusBusWorker(BUS, [polled], link, Sink()), relays_read_again, 10, 0.05)
    cut_frames = sum(table == "holding_register" for _, table, _, _ in link.reads)
    assert cut_frames >= 10  # the cut inputs were read all the while


async def test_a_due_cut_read_goes_between_the_blocks_of_a_long_poll() -> None:
    """Found by bench/interlock_latency.py at 19200 baud: one port in ten waited ~700 ms for its cut, the
    cut inputs queued behind the whole of the box's status poll (eleven frames). Now the due cut inputs
    are read between two blocks of any other poll."""
    box = PROFILES["xingdian-cb10"]
    urgent = frozenset(f"port{n}.temperature" for n in range(1, 11))
    polled = PolledDevice(DeviceConfig(id="box1", profile=box.id, bus=BUS.id, unit=1), box, [box], urgent=urgent)
    status_starts = {b.start for b, _ in polled.plan["status"] if b.table == "holding_register"}
    cut_starts = {b.start for b, _ in polled.plan[CUT]}
    assert len(status_starts) == 3 and not status_starts & cut_starts  # the classes differ by first register
    # 70 ms a frame: the identity probe (2 frames), the cut round (3) and the alarm class (2) take 490 ms, so
    # the cut inputs fall due again (at 500 ms) while the status poll (3 frames of ports, then one more) is
    # under way
    link = FakeRegisterLink(tables={1: identity(box)}, wire_s=0.07)

    def status_reads() -> list[int]:
        return [i for i, (_, table, address, _) in enumerate(link.reads)
                if table == "holding_register" and address in status_starts]

    await run_until(ModbusBusWorker(BUS, [polled], link, Sink()), lambda: len(status_reads()) >= 3, 10, 0.05)
    first, last = status_reads()[0], status_reads()[2]
    during = [address for _, table, address, _ in link.reads[first:last] if table == "holding_register"]
    assert any(address in cut_starts for address in during), "the cut inputs waited for the whole status poll"
