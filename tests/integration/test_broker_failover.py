"""Issue 13.4: a gateway with a primary and a backup broker, a collector consuming from both. The primary
dies in the middle of a stream of alarms: the gateway moves to the backup within 30 s, and every alarm
record reaches the store once."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from devices.broker_failover import FailoverConnector
from simulators.harness import running_simulation
from tests.conftest import SITES
from tests.support.agents import eventually, running_agent
from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto import Mosquitto

SHED = SITES / "charging-shed.yaml"
SITE = "shed-xixi-01"
INVENTORY = ("sites:\n  - {id: shed-xixi-01, name: 西溪路1号充电棚, kind: charging_shed, street: 西溪街道, "
             "gateway: gw-shed-xixi-01}\n")


def stored_alarm_records(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM records WHERE type = 'alarm'").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


async def test_the_gateway_moves_to_the_backup_broker_and_nothing_is_lost_or_doubled(tmp_path: Path) -> None:
    primary, backup = Mosquitto(tmp_path / "mq1"), Mosquitto(tmp_path / "mq2")
    primary.start()
    backup.start()
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(INVENTORY)
    collector = CollectorProcess(tmp_path / "cloud", primary.url, inventory=inventory,
                                 extra=["--broker", backup.url])
    await collector.start()
    try:
        async with (running_simulation([SHED], tmp_path / "run") as sim,
                    running_agent(SHED, sim, tmp_path / "data", broker_url=primary.url,
                                  backup_brokers=[backup.url]) as agent):
            brokers = agent.uplink.connector if agent.uplink else None
            assert isinstance(brokers, FailoverConnector)
            await eventually(lambda: agent.uplink is not None and agent.uplink.connected, 30, "on the primary")
            tamper = sim.sim.device(SITE, "sd3")
            for step in range(10):
                tamper.set_signals({"tamper": step % 2 == 0}, hold=True)
                await asyncio.sleep(1.6)
                if step == 3:
                    primary.stop()
                    died = time.monotonic()
                    await eventually(lambda: brokers.index == 1 and agent.uplink is not None
                                     and agent.uplink.connected, 30, "the gateway on the backup within 30 s")
                    print(f"on the backup {time.monotonic() - died:.1f} s after the primary died")
            await eventually(lambda: agent.outbox.depth()["alarm"]["records"] == 0, 40, "every alarm acknowledged")
            db = tmp_path / "cloud" / "cloud.sqlite"
            assert stored_alarm_records(db) == agent.alarms_recorded, "an alarm record lost or stored twice"
            assert agent.alarms_recorded >= 5
    finally:
        await collector.stop()
        primary.stop()
        backup.stop()
