"""Issue 18.3: `firefleet edge` killed with SIGKILL right after it cut a hot port (as a Pi losing power):
the alarm is in its outbox, or the restarted agent raises it again, with the port still cut."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import msgpack

from simulators.harness import running_simulation

ROOT = Path(__file__).resolve().parents[2]
SITE = "shed-xixi-01"
KEY = "box1/port-overheat-cut/port3"


def active_alarms(outbox: Path) -> int:
    if not outbox.exists():
        return 0
    try:
        with sqlite3.connect(outbox, timeout=1) as db:
            rows = db.execute("SELECT body FROM records WHERE lane = 'alarm'").fetchall()
    except sqlite3.OperationalError:  # created but not yet laid out by the agent
        return 0
    return sum(1 for (body,) in rows if (r := msgpack.unpackb(body))["key"] == KEY and r["state"] == "active")


async def agent(site: Path, folder: Path) -> asyncio.subprocess.Process:
    log = open(folder / "agent.log", "ab")  # noqa: SIM115 - the process writes to it
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devices.cli", "edge", "--config", str(site), "--data-dir", str(folder / "data"),
        "--bus-map", str(folder / "run" / "served.json"), cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log)


async def test_a_kill_right_after_the_cut_leaves_the_alarm_or_raises_it_again(tmp_path: Path) -> None:
    site = tmp_path / "shed.yaml"
    shed = (ROOT / "deploy/examples/sites/charging-shed.yaml").read_text()
    site.write_text(shed.replace("device: box1, for: 3s}", "device: box1, for: 0s}"))
    outbox = tmp_path / "data" / "outbox.sqlite"
    async with running_simulation([site], tmp_path / "run", pace=True) as sim:
        box = sim.sim.device(SITE, "box1")
        box.set_signals({f"port{n}.relay": True for n in range(1, 11)})
        box.set_signals({f"port{n}.temperature": 30.0 for n in range(1, 11)}, hold=True)
        first = await agent(site, tmp_path)
        try:
            async with asyncio.timeout(30):
                while not (tmp_path / "data" / "state.sqlite").exists():
                    await asyncio.sleep(0.05)
                await asyncio.sleep(3)  # identified and polling
                box.set_signals({"port3.temperature": 71.5}, hold=True)
                while box.value("port3.relay") is not False:
                    await asyncio.sleep(0.002)
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        committed_before_kill = active_alarms(outbox)
        second = await agent(site, tmp_path)
        try:
            async with asyncio.timeout(30):
                while active_alarms(outbox) == 0:
                    await asyncio.sleep(0.1)
        finally:
            second.terminate()
            await second.wait()
        print(f"alarm committed before the kill: {bool(committed_before_kill)}; after the restart: "
              f"{active_alarms(outbox)} active record(s)")
        assert active_alarms(outbox) >= 1
        assert box.value("port3.relay") is False  # and the port stays cut
