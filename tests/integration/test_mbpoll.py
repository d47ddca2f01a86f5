"""A third-party master (mbpoll, libmodbus) reads the simulators over TCP and over RTU on the
pseudo-terminal; its raw values, decoded with the profile, are what the simulator's state says."""

from __future__ import annotations

import asyncio

import httpx

from devices.decode import decode_point
from devices.profile_loader import load_profile_dir
from simulators.harness import SimulationHandle
from tests.conftest import PROFILES
from tests.integration.conftest import need

SITE = "shed-xixi-01"
PROFILE_SET = load_profile_dir(PROFILES)


async def mbpoll(*args: str) -> dict[int, int]:
    """Run mbpoll once (-1 -q) and return {reference: raw value}."""
    proc = await asyncio.create_subprocess_exec(need("mbpoll"), "-1", "-q", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, err.decode()
    values = {}
    for line in out.decode().splitlines():
        if line.startswith("["):
            ref, value = line.split(":", 1)
            values[int(ref.strip("[]"))] = int(value.split()[0])  # "65535 (-1)" above 32767
    return values


async def hold(control: httpx.AsyncClient, device: str, values: dict[str, object]) -> dict[str, object]:
    response = await control.post(f"/sites/{SITE}/devices/{device}/signals", json={"values": values, "hold": True})
    assert response.status_code == 200, response.text
    signals: dict[str, object] = response.json()["signals"]
    return signals


async def test_mbpoll_reads_a_charging_port_over_rtu(shed: SimulationHandle, control: httpx.AsyncClient) -> None:
    profile = PROFILE_SET["xingdian-cb10"]
    held = {"port3.state": "charging", "port3.voltage": 41.7, "port3.current": 2.35, "port3.power": 98,
            "port3.energy": 1310.71, "port3.temperature": -3.4, "port3.charge_minutes": 141}
    await hold(control, "box1", held)
    path = shed.endpoint(SITE, "rs485-1")["path"]
    # port 3 starts at holding register 0x0120 (0-based); mbpoll references are 1-based
    raw = await mbpoll("-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-t", "4", "-r", str(0x0120 + 1),
                       "-c", "10", path)
    words = [raw[0x0120 + 1 + i] for i in range(10)]
    for name, expected in held.items():
        point = profile.point(name)
        i = point.address - 0x0120
        assert decode_point(point, words[i:i + point.width]) == expected, name
    state = (await control.get(f"/sites/{SITE}/devices/box1")).json()["signals"]
    assert {k: state[k] for k in held} == held


async def test_mbpoll_reads_two_firmwares_on_one_line(shed: SimulationHandle, control: httpx.AsyncClient) -> None:
    path = shed.endpoint(SITE, "rs485-1")["path"]
    await hold(control, "sd1", {"smoke_alarm": True, "low_battery": True, "temperature": 23.4})
    fw1 = await mbpoll("-m", "rtu", "-b", "9600", "-P", "none", "-a", "11", "-t", "3", "-r", "1", "-c", "3", path)
    v1 = PROFILE_SET["hengan-sd100-fw1"]
    assert decode_point(v1.point("smoke_alarm"), [fw1[1]]) is True
    assert decode_point(v1.point("low_battery"), [fw1[1]]) is True
    assert decode_point(v1.point("fault"), [fw1[1]]) is False
    assert decode_point(v1.point("temperature"), [fw1[3]]) == 23.4
    # the identity block tells the two firmwares apart on the same line
    ident1 = await mbpoll("-m", "rtu", "-b", "9600", "-P", "none", "-a", "11", "-t", "4", "-r", str(0xF000 + 1),
                          "-c", "2", path)
    ident2 = await mbpoll("-m", "rtu", "-b", "9600", "-P", "none", "-a", "12", "-t", "4", "-r", str(0xF000 + 1),
                          "-c", "2", path)
    assert ident1[0xF001] == ident2[0xF001] == 0x5D10
    assert ident1[0xF002] >> 8 == 1 and ident2[0xF002] >> 8 == 2


async def test_mbpoll_reads_the_camera_over_tcp(shed: SimulationHandle, control: httpx.AsyncClient) -> None:
    where = shed.endpoint(SITE, "nvr")
    await hold(control, "cam1", {"channel2.ebike_in_lift": True, "channel2.flame": False, "channel1.tamper": True,
                                 "disk_used": 73})
    inputs = await mbpoll("-m", "tcp", "-p", str(where["port"]), "-a", "1", "-t", "1", "-r", "1", "-c", "4",
                          where["host"])
    assert [inputs[i] for i in range(1, 5)] == [1, 1, 0, 1]  # channel 1: online, recording, no loss, tamper
    registers = await mbpoll("-m", "tcp", "-p", str(where["port"]), "-a", "1", "-t", "3", "-r", str(0x0100 + 1),
                             "-c", "2", where["host"])
    nvr = PROFILE_SET["shishi-nvr8"]
    assert decode_point(nvr.point("channel2.ebike_in_lift"), [registers[0x0102]]) is True
    assert decode_point(nvr.point("channel2.flame"), [registers[0x0102]]) is False
    disk = await mbpoll("-m", "tcp", "-p", str(where["port"]), "-a", "1", "-t", "3", "-r", "1", "-c", "1",
                        where["host"])
    assert disk[1] == 73


async def test_mbpoll_sees_an_exception_for_a_forbidden_range(shed: SimulationHandle) -> None:
    path = shed.endpoint(SITE, "rs485-1")["path"]
    proc = await asyncio.create_subprocess_exec(
        need("mbpoll"), "-1", "-q", "-m", "rtu", "-b", "9600", "-P", "none", "-a", "1", "-t", "4",
        "-r", str(0x0200 + 1), "-c", "4", path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1
    assert "Illegal data address" in err.decode()
