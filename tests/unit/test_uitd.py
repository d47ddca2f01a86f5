"""firefleet as a GB/T 26875.3 transmission device (cloud/uitd.py) against the monitoring-centre simulator on a
loopback port, with the store in this process and the session's clock injected: a fire goes first and is
confirmed; a silent centre gets 3 retries 10 s apart, then the site's "监控中心链路中断"; clock syncs, duty
checks, reads and broken frames from the centre are answered as the standard says."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cloud.event_hub import EventHub
from cloud.store import Store
from cloud.uitd import RESEND_AFTER_S, SiteSession, Transfers
from cloud.uitd_mapping import load_uitd_mapping
from devices.errors import SiteConfigError
from devices.gb26875 import (
    CMD_ANSWER,
    CMD_CONFIRM,
    CMD_CONTROL,
    CMD_DENY,
    CMD_SEND,
    OP_DUTY_ANSWER,
    STATE_FAULT,
    STATE_FIRE,
    STATE_NORMAL,
    ComponentState,
    DeviceOperation,
    DeviceState,
    Frame,
    SystemState,
)
from simulators.monitoring_centre import Centre, running_centre
from tests.conftest import ROOT

MAPPING = ROOT / "deploy/examples/gb26875.yaml"
SHED = 0xC0A80A01


def test_an_unconfirmed_frame_goes_again_three_times_10_s_apart_then_is_given_up() -> None:
    transfers = Transfers()
    transfers.sent(7, b"frame", 1, now=100.0)
    assert transfers.due(109.9) == (None, None)
    times = []
    for now in (110.0, 115.0, 120.0, 130.0):
        again, given_up = transfers.due(now)
        if again is not None:
            times.append(now)
        assert given_up is None
    assert times == [110.0, 120.0, 130.0]
    assert transfers.due(139.9) == (None, None)
    again, given_up = transfers.due(140.0)
    assert again is None and given_up is not None and given_up.tries == 4 and transfers.pending is None
    transfers.sent(8, b"next", 2, now=200.0)
    assert transfers.answered(9) is None and transfers.answered(8) is not None  # the confirm names its serial


def test_the_mapping_is_checked_with_file_and_line(tmp_path: Path) -> None:
    text = MAPPING.read_text()
    for wrong, right, says in (("address: 0xC0A80B01", "address: 0xC0A80A01", "another site's"),
                               ("{device: sd1, zone: 1, position: 1}", "{device: sd1, zone: 1}", "position, or ports"),
                               ("port: 9000", "port: 90000", "port"),
                               ("address: 0xC0A80C01", "address: -1", "at most 6 bytes")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text.replace(wrong, right, 1))
        with pytest.raises(SiteConfigError, match=says) as caught:
            load_uitd_mapping(bad)
        assert str(caught.value).startswith(f"{bad}:")


class FakeClock:
    def __init__(self) -> None:
        self.mono = 1000.0

    def __call__(self) -> float:
        return self.mono


@dataclass
class Rig:
    centre: Centre
    session: SiteSession
    store: Store
    clock: FakeClock
    hub: EventHub

    async def until(self, what: Callable[[], Any], seconds: float = 10.0) -> Any:
        deadline = time.monotonic() + seconds
        while not (got := what()):
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)
        return got

    def fire(self, state: int = STATE_NORMAL | STATE_FIRE, address: int = 0x10001) -> None:
        self.session.component_state(ComponentState(1, 1, 42, address, state, "北侧烟感", self.session.now()),
                                     "sd1/smoke")

    def sends(self) -> list[ComponentState | DeviceOperation]:
        return [obj for r in self.centre.frames(SHED, CMD_SEND) for obj in (r.unit.objects if r.unit else ())
                if isinstance(obj, ComponentState | DeviceOperation)]


def sent_count(rig: Rig, count: int) -> bool:
    return len(rig.sends()) == count


def answers_to(rig: Rig, serial: int) -> list[Any]:
    return [r for r in rig.centre.frames(SHED, CMD_ANSWER) if isinstance(r.frame, Frame) and r.frame.serial == serial]


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = Store(f"{tmp_path}/s.db")
    hub = EventHub()
    clock = FakeClock()
    async with running_centre(Centre(address=1)) as centre:
        mapping = replace(load_uitd_mapping(MAPPING), port=centre.port)

        async def record(change: Callable[[Store], Any]) -> Any:
            return change(store)

        session = SiteSession(mapping, mapping.sites["shed-xixi-01"], record, hub, monotonic=clock)
        task = asyncio.get_running_loop().create_task(session.run())
        try:
            rig = Rig(centre, session, store, clock, hub)
            await rig.until(lambda: centre.frames(SHED, CMD_SEND) and session.transfers.pending is None)
            yield rig  # connected, its first frame (the device's own state) confirmed
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            store.close()


async def test_a_fire_pre_empts_every_other_transfer_and_each_is_confirmed(rig: Rig) -> None:
    rig.centre.silent = True  # hold the first send so the queue fills behind it
    rig.fire(STATE_NORMAL | STATE_FAULT, address=0x20003)
    await rig.until(lambda: rig.sends())
    rig.fire(STATE_NORMAL | STATE_FAULT, address=0x20004)
    rig.fire()  # goes at once, before the unconfirmed fault is tried again and before the fault queued earlier
    await rig.until(lambda: len(rig.sends()) == 2)
    rig.centre.silent = False
    rig.clock.mono += RESEND_AFTER_S  # the fire goes again and is confirmed, then the displaced fault, then the other
    await rig.until(lambda: len(rig.sends()) >= 5)
    got = [(s.state, s.component_address) for s in rig.sends() if isinstance(s, ComponentState)]
    assert got == [(0x05, 0x20003), (0x03, 0x10001), (0x03, 0x10001), (0x05, 0x20003), (0x05, 0x20004)]
    await rig.until(lambda: rig.session.transfers.pending is None)
    states = {f["detail"]: f["state"] for f in rig.store.uitd_frames("shed-xixi-01") if f["direction"] == "out"}
    assert set(states.values()) == {"confirmed"}


async def test_a_silent_centre_gets_three_retries_10_s_apart_then_the_link_fault(rig: Rig) -> None:
    rig.centre.silent = True
    rig.fire()
    await rig.until(lambda: len(rig.sends()) == 1)
    for tries in (2, 3, 4):
        rig.clock.mono += RESEND_AFTER_S - 0.1
        await asyncio.sleep(0.7)
        assert len(rig.sends()) == tries - 1  # not yet: 10 s have not passed
        rig.clock.mono += 0.1
        await rig.until(partial(sent_count, rig, tries))
    serials = {r.frame.serial for r in rig.centre.frames(SHED, CMD_SEND) if isinstance(r.frame, Frame)
               and r.unit is not None and isinstance(r.unit.objects[0], ComponentState)}
    assert len(serials) == 1  # the same frame each time
    assert rig.store.alarms() == []
    rig.clock.mono += RESEND_AFTER_S
    (alarm,) = await rig.until(lambda: rig.store.alarms())
    assert (alarm["key"], alarm["class"], alarm["text"]) == ("shed-xixi-01/centre-link", "fault", "监控中心链路中断")
    rig.centre.silent = False  # the centre is back: the fire goes again on the new connection and is confirmed
    await rig.until(lambda: not rig.session.link_lost, seconds=20)
    again = [r for r in rig.centre.frames(SHED, CMD_SEND) if isinstance(r.frame, Frame) and r.frame.serial in serials]
    assert len(again) == 5  # the first send, 3 retries, and once more on the new connection
    (fire_row,) = [f for f in rig.store.uitd_frames("shed-xixi-01") if f["type"] == 2]
    assert fire_row["state"] == "confirmed"
    assert rig.store.alarm(alarm["id"])["condition"] == "cleared"  # type: ignore[index]


async def test_clock_sync_duty_check_reads_and_broken_frames_from_the_centre(rig: Rig) -> None:
    rig.fire()  # the centre learns the device's address from its first frame
    await rig.until(lambda: SHED in rig.centre._writers)
    serial = await rig.centre.clock_sync(SHED, datetime(2030, 1, 1, 8, 0, 0))
    await rig.until(lambda: [r for r in rig.centre.frames(SHED, CMD_CONFIRM) if r.frame.serial == serial])
    rig.fire()
    await rig.until(lambda: [s for s in rig.sends() if s.time.year == 2030])  # the session keeps the centre's time

    await rig.centre.duty_check(SHED, minutes=5)
    (check,) = await rig.until(lambda: rig.store.duty_checks())
    assert check["sent_by"].startswith("监控中心")
    assert not [s for s in rig.sends() if isinstance(s, DeviceOperation)]  # nobody has answered yet
    rig.store.answer_duty_check(int(check["id"]), "duty")
    await rig.session.answered_duty_check(int(check["id"]))
    (answer,) = await rig.until(lambda: [s for s in rig.sends() if isinstance(s, DeviceOperation)])
    assert answer.operation & OP_DUTY_ANSWER

    for kind in (61, 81):
        serial = await rig.centre.read(SHED, kind)
        got = await rig.until(partial(answers_to, rig, serial))
        assert got[0].unit is not None
        assert isinstance(got[0].unit.objects[0], SystemState if kind == 61 else DeviceState)
    serial = await rig.centre.read(SHED, 65)
    await rig.until(lambda: [r for r in rig.centre.frames(SHED, CMD_DENY) if r.frame.serial == serial])

    before = len(rig.centre.frames(SHED, CMD_DENY))
    await rig.centre.mischief(SHED)
    await rig.until(lambda: len(rig.centre.frames(SHED, CMD_DENY)) == before + 2)  # both broken frames denied
    reasons = [f["detail"] for f in rig.store.uitd_frames("shed-xixi-01") if f["state"] == "denied"]
    assert any("checksum" in r for r in reasons) and any("'##'" in r for r in reasons)
    assert {f["command"] for f in rig.store.uitd_frames("shed-xixi-01") if f["direction"] == "in"} >= {CMD_CONTROL}


async def test_a_session_that_fails_is_started_again_and_its_fire_still_goes(rig: Rig) -> None:
    """Before: a store error inside a session ended the uitd task and, with it, the collector's task group."""
    from cloud.uitd import _kept

    calls = []

    async def broken_once(change: Callable[[Store], Any]) -> Any:
        calls.append(change)
        if len(calls) == 1:
            raise RuntimeError("the store is away for a moment")
        return change(rig.store)

    mapping = replace(rig.session.mapping)
    session = SiteSession(mapping, mapping.sites["station-wenxin-01"], broken_once, rig.hub, monotonic=rig.clock)
    task = asyncio.get_running_loop().create_task(_kept(session, pause=0.05))
    try:
        session.component_state(ComponentState(1, 1, 42, 0x10001, STATE_NORMAL | STATE_FIRE, "车库烟感", session.now()),
                                "sd-garage/smoke")
        station = 0xC0A80B01
        await rig.until(lambda: [r for r in rig.centre.frames(station, CMD_SEND) if r.unit is not None
                                 and isinstance(r.unit.objects[0], ComponentState)])
        assert not task.done()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
