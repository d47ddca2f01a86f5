"""A paced RS-485 line takes the time a real wire takes; a pty alone would answer at once.

Only lower bounds are asserted (a slow machine cannot make a reply early); the throughput figures
against the wire's ceiling belong to bench/, not here.
"""

from __future__ import annotations

import time
from pathlib import Path

from pymodbus.client import AsyncModbusSerialClient

from simulators.harness import running_simulation
from simulators.rtu_line import wire_seconds
from tests.conftest import SITES

READS = 12


async def timed_reads(path: str) -> float:
    client = AsyncModbusSerialClient(port=path, baudrate=9600, timeout=1, retries=0)
    assert await client.connect()
    try:
        started = time.monotonic()
        for _ in range(READS):
            reply = await client.read_holding_registers(0x100, count=10, device_id=1)
            assert not reply.isError()
        return time.monotonic() - started
    finally:
        client.close()


async def test_a_paced_9600_baud_line_is_no_faster_than_its_wire(tmp_path: Path) -> None:
    # request 8 bytes, reply 5 + 2 * 10 = 25 bytes, and 3.5 characters of silence before each frame
    per_read = wire_seconds(8 + 25, 9600) + 2 * wire_seconds(3.5, 9600)
    async with running_simulation([SITES / "charging-shed.yaml"], tmp_path / "paced", pace=True) as sim:
        paced = await timed_reads(sim.endpoint("shed-xixi-01", "rs485-1")["path"])
    assert paced >= READS * per_read * 0.98
