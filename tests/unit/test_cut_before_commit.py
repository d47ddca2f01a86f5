"""Issue 18.3: the cut never waits for the alarm's outbox commit (synchronous=FULL: tens of ms on an SD
card), and both are still done. The agent runs on a FakeRegisterLink (its I/O seam) whose relay write looks
into the outbox file from another connection at the moment the cut goes out."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from edge.agent import EdgeAgent
from edge.register_link import FakeRegisterLink
from tests.unit.test_bus_worker import identity

PROFILES = load_profile_dir()
SITE = """site: {id: s1, name: shed, kind: charging_shed, street: x, location: {lat: 30, lon: 120}}
gateway: {id: gw1}
buses:
  - {id: line, type: modbus_rtu, port: /dev/null, baud: 9600}
devices:
  - {id: box1, profile: xingdian-cb10, bus: line, unit: 1}
rules:
  - {rule: port-overheat-cut, device: box1, for: 0s}
"""
KEY = "box1/port-overheat-cut/port3"


def alarms_in(outbox: Path, key: str) -> list[str]:
    with sqlite3.connect(outbox) as db:
        rows = db.execute("SELECT body FROM records WHERE lane = 'alarm'").fetchall()
    return [r["state"] for r in (msgpack.unpackb(body) for (body,) in rows) if r["key"] == key]


@dataclass
class WatchedLine(FakeRegisterLink):
    """The line, noting what the outbox file held when each coil write went out."""

    outbox: Path = Path()
    seen_at_cut: list[list[str]] = field(default_factory=list)

    async def write(self, table: str, address: int, values: list[int], unit: int, timeout: float,
                    function: str = "single") -> None:
        if table == "coil" and address == 2 and values == [0]:
            self.seen_at_cut.append(alarms_in(self.outbox, KEY))
        await super().write(table, address, values, unit, timeout, function)


async def test_the_port_is_cut_before_its_alarm_is_committed_and_the_alarm_is_committed_after(tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(SITE)
    box = PROFILES["xingdian-cb10"]
    tables = identity(box)
    tables.setdefault("coil", {}).update({n: 1 for n in range(10)})  # every port powered
    tables.setdefault("holding_register", {})[0x100 + 16 * 2 + 6] = 715  # port 3 at 71.5 C
    line = WatchedLine(tables={1: tables}, outbox=tmp_path / "data" / "outbox.sqlite")
    agent = EdgeAgent(load_site(site_file, PROFILES), PROFILES, tmp_path / "data", links={"line": line})
    task = asyncio.get_running_loop().create_task(agent.run())
    try:
        async with asyncio.timeout(10):
            while not line.seen_at_cut or not alarms_in(line.outbox, KEY):
                await asyncio.sleep(0.01)
    finally:
        agent.stopping.set()
        await asyncio.wait_for(task, 10)
    assert line.seen_at_cut[0] == []  # the relay was written before the alarm's commit...
    assert alarms_in(line.outbox, KEY) == ["active"]  # ...and the alarm was committed all the same
    assert line.tables[1]["coil"][2] == 0
