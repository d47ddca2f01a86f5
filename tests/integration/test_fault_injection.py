"""Every fault kind injected through the control API and seen from a Modbus client, as a gateway would.

The faulty detector shares its RS-485 line with a charging box; the box must keep answering throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from simulators.harness import SimulationHandle

SITE = "shed-xixi-01"
DETECTOR = f"/sites/{SITE}/devices/sd1"


async def read_detector(client: AsyncModbusSerialClient) -> str:
    """'ok', 'exception N', or 'no answer' for one read of the detector's live registers."""
    try:
        reply = await client.read_input_registers(0, count=6, device_id=11)
    except ModbusException:
        return "no answer"
    if reply.isError():
        return f"exception {reply.exception_code}"
    return "ok"


async def box_answers(client: AsyncModbusSerialClient) -> bool:
    reply = await client.read_holding_registers(0x100, count=10, device_id=1)
    return not reply.isError() and len(reply.registers) == 10


@pytest.fixture
async def rtu(shed: SimulationHandle) -> AsyncIterator[AsyncModbusSerialClient]:
    client = AsyncModbusSerialClient(port=shed.endpoint(SITE, "rs485-1")["path"], baudrate=9600, timeout=0.4,
                                     retries=0)
    assert await client.connect()
    yield client
    client.close()


async def inject(control: httpx.AsyncClient, fault: dict[str, object]) -> None:
    response = await control.post(f"{DETECTOR}/faults", json=fault)
    assert response.status_code == 201, response.text


async def clear(control: httpx.AsyncClient) -> None:
    assert (await control.delete(f"{DETECTOR}/faults")).status_code == 200


@pytest.mark.parametrize("fault", [
    {"kind": "no_reply"},
    {"kind": "bad_crc"},
    {"kind": "garbage", "length": 9},
    {"kind": "wrong_slave_id"},
    {"kind": "slow_reply", "delay_ms": 900},  # beyond the client's 0.4 s timeout: as good as silence
])
async def test_faults_that_leave_the_master_without_a_valid_answer(
        rtu: AsyncModbusSerialClient, control: httpx.AsyncClient, fault: dict[str, object]) -> None:
    assert await read_detector(rtu) == "ok"
    await inject(control, fault)
    assert await read_detector(rtu) == "no answer"
    if fault["kind"] == "slow_reply":  # let the late answer pass before the box is asked
        await _drain(rtu)
    assert await box_answers(rtu), "a faulty detector must not take its line down"
    await clear(control)
    await _drain(rtu)
    assert await read_detector(rtu) == "ok"
    device = (await control.get(DETECTOR)).json()
    assert device["faults"] == []


async def _drain(client: AsyncModbusSerialClient) -> None:
    """Wait out a late reply still on its way, as a master flushes its line after a timeout."""
    await asyncio.sleep(1.0)
    with contextlib.suppress(ModbusException):
        await client.read_input_registers(0, count=1, device_id=13)


async def test_slow_reply_within_the_timeout_arrives_late(shed: SimulationHandle,
                                                          control: httpx.AsyncClient) -> None:
    slow = AsyncModbusSerialClient(port=shed.endpoint(SITE, "rs485-1")["path"], baudrate=9600, timeout=2.0,
                                   retries=0)
    assert await slow.connect()
    try:
        await inject(control, {"kind": "slow_reply", "delay_ms": 300})
        started = time.monotonic()
        assert await read_detector(slow) == "ok"
        assert time.monotonic() - started >= 0.3
    finally:
        slow.close()


async def test_exception_reply_carries_the_code(rtu: AsyncModbusSerialClient, control: httpx.AsyncClient) -> None:
    await inject(control, {"kind": "exception", "code": 6})
    assert await read_detector(rtu) == "exception 6"
    await inject(control, {"kind": "exception", "code": 4})
    assert await read_detector(rtu) == "exception 4"
    assert await box_answers(rtu)


async def test_flapping_alternates_between_answers_and_silence(rtu: AsyncModbusSerialClient,
                                                               control: httpx.AsyncClient) -> None:
    await inject(control, {"kind": "flapping", "period_s": 0.5})
    seen = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        seen.append(await read_detector(rtu))
    assert "ok" in seen and "no answer" in seen
    flips = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert flips >= 2


async def test_rate_makes_a_fault_intermittent(rtu: AsyncModbusSerialClient, control: httpx.AsyncClient) -> None:
    await inject(control, {"kind": "exception", "code": 6, "rate": 0.5})
    seen = [await read_detector(rtu) for _ in range(30)]
    assert 3 <= seen.count("exception 6") <= 27 and "ok" in seen


async def test_faults_over_modbus_tcp(shed: SimulationHandle, control: httpx.AsyncClient) -> None:
    where = shed.endpoint(SITE, "nvr")
    client = AsyncModbusTcpClient(where["host"], port=where["port"], timeout=0.4, retries=0)
    assert await client.connect()
    camera = f"/sites/{SITE}/devices/cam1"
    try:
        assert not (await client.read_discrete_inputs(0, count=4, device_id=1)).isError()
        await control.post(f"{camera}/faults", json={"kind": "exception", "code": 2})
        reply = await client.read_discrete_inputs(0, count=4, device_id=1)
        assert reply.isError() and reply.exception_code == 2
        await control.delete(f"{camera}/faults")
        await control.post(f"{camera}/faults", json={"kind": "no_reply"})
        with pytest.raises(ModbusException):
            await client.read_discrete_inputs(0, count=4, device_id=1)
        await control.delete(f"{camera}/faults")
        client.close()
        assert await client.connect()
        assert not (await client.read_discrete_inputs(0, count=4, device_id=1)).isError()
    finally:
        client.close()


async def test_bad_fault_requests_are_refused_clearly(control: httpx.AsyncClient) -> None:
    bad_kind = await control.post(f"{DETECTOR}/faults", json={"kind": "meltdown"})
    assert bad_kind.status_code == 400 and "fault kind must be one of" in bad_kind.json()["error"]
    unknown = await control.post(f"/sites/{SITE}/devices/nope/faults", json={"kind": "no_reply"})
    assert unknown.status_code == 404 and "no device 'nope'" in unknown.json()["error"]
    not_json = await control.post(f"{DETECTOR}/faults", content=b"{kind")
    assert not_json.status_code == 400 and not_json.json() == {"error": "body is not JSON"}
