"""Running the agent as an operator does: systemd notifications, a clean SIGTERM, link supervision."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from pathlib import Path
from typing import Any

from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.collector_standin import running_standin
from tests.support.mosquitto import Mosquitto

STATION = SITES / "micro-station.yaml"


async def test_systemd_watchdog_and_a_clean_sigterm_that_flushes_telemetry(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify_path))
    sock.setblocking(False)
    messages: list[str] = []
    async with running_simulation([STATION], tmp_path / "run"):
        env = {"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "1000000", "PATH": "/usr/bin:/bin"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devices.cli", "edge", "--config", str(STATION), "--data-dir", str(tmp_path / "d"),
            "--bus-map", str(tmp_path / "run" / "served.json"), env=env, stderr=asyncio.subprocess.PIPE)

        def drain() -> bool:
            try:
                while True:
                    messages.append(sock.recv(256).decode())
            except BlockingIOError:
                return "READY=1" in messages and messages.count("WATCHDOG=1") >= 3
        try:
            await eventually(drain, 30, "READY=1 and three WATCHDOG=1 notifications")
            await asyncio.sleep(1.5)  # let some readings wait in the one-second telemetry buffer
            proc.terminate()
            _, err = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
    drain()
    sock.close()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "STOPPING=1" in messages
    assert b"Traceback" not in err and b"edge agent stopped" in err
    db = sqlite3.connect(tmp_path / "d" / "outbox.sqlite")
    readings = db.execute("SELECT COUNT(*) FROM records WHERE lane = 'telemetry'").fetchone()[0]
    db.close()
    assert readings > 0


async def test_losing_the_collector_raises_a_local_fault_and_drives_the_indicator(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    try:
        async with (running_simulation([STATION], tmp_path / "run") as sim,
                    running_standin(broker.port) as collector,
                    running_agent(STATION, sim, tmp_path / "data", broker_url=broker.url,
                                  link_fault_after=3.0) as agent):
            sounder = sim.sim.device("station-wenxin-01", "sd-garage")
            await collector.wait_for(lambda r: r.births, 20)
            assert sounder.value("sounder") is False
            broker.stop()
            lost = asyncio.get_running_loop().time()
            key = "gw-station-wenxin-01/collector-link"

            def link_alarms() -> list[dict[str, Any]]:
                return [r.record for r in agent.outbox.next_batch(100, lane="alarm") if r.record["key"] == key]
            await eventually(lambda: any(a["state"] == "active" for a in link_alarms()), 30, "a local link fault")
            assert asyncio.get_running_loop().time() - lost <= 30
            assert link_alarms()[0]["class"] == "fault"
            await eventually(lambda: sounder.value("sounder") is True, 10, "the indicator output switched on")
            broker.start()
            await collector.wait_for(lambda r: any(a["state"] == "cleared" for a in r.alarms(key)), 40)
            await eventually(lambda: sounder.value("sounder") is False, 10, "the indicator switched off again")
    finally:
        broker.stop()
