"""The collector-link fault as a pure supervisor, and report-on-change telemetry with its flush timer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devices.profile_loader import load_profile_dir
from edge.clock import FakeClock
from edge.link_supervisor import LinkSupervisor
from edge.outbox import Outbox
from edge.records import RecordMaker
from edge.telemetry import Telemetry


def test_the_link_fault_comes_after_its_delay_once_and_clears_once() -> None:
    link = LinkSupervisor(fault_after=20.0)
    assert link.update(True, 0.0) is None and link.due_in(0.0) is None
    assert link.update(False, 10.0) is None
    assert link.due_in(15.0) == 15.0  # when the agent looks again, without polling
    assert link.update(False, 29.9) is None
    assert link.update(False, 30.0) == "active"
    assert link.update(False, 60.0) is None and link.due_in(60.0) is None
    assert link.update(True, 61.0) == "cleared"
    assert link.update(True, 62.0) is None


async def test_readings_go_up_on_change_past_the_deadband_and_are_flushed_by_a_timer(tmp_path: Path) -> None:
    profiles = load_profile_dir(Path("firmware-profiles"))
    box = next(p for p in profiles.values() if p.kind == "charging_box" and any(
        pt.deadband > 0 for pt in p.points))
    point = next(pt for pt in box.points if pt.deadband > 0)
    outbox = Outbox(tmp_path / "o.sqlite")
    stored = asyncio.Event()
    telemetry = Telemetry(outbox, RecordMaker("s1", FakeClock()), {"box1": box}, on_stored=stored.set,
                          flush_after=0.01)
    telemetry.observe("box1", {point.name: 10.0})
    telemetry.observe("box1", {point.name: 10.0 + point.deadband / 2})  # inside the deadband: not news
    telemetry.observe("box1", {point.name: 10.0 + point.deadband * 2})
    assert outbox.depth()["telemetry"]["records"] == 0  # buffered, not one transaction per reading
    await asyncio.wait_for(stored.wait(), 5)
    values = [r.record["values"][point.name] for r in outbox.next_batch(10, lane="telemetry")]
    assert values == [10.0, 10.0 + point.deadband * 2]
    telemetry.forget("box1")  # back from offline: reported afresh
    telemetry.observe("box1", {point.name: 10.0 + point.deadband * 2})
    telemetry.flush()
    assert outbox.depth()["telemetry"]["records"] == 3
    outbox.close()
