"""Plain serial devices on pseudo-terminals: the 20-port box's binary protocol and the fire panel's lines."""

from __future__ import annotations

import asyncio

import httpx
import serial

from devices.decode import decode_frame_points
from devices.profile_loader import load_profile_dir
from devices.serial_frames import BinaryFrame, BinaryFramer, LineFramer, encode_binary, parse_line_event
from simulators.harness import SimulationHandle
from tests.conftest import PROFILES

PROFILE_SET = load_profile_dir(PROFILES)
LN20 = PROFILE_SET["lvneng-ln20s"]
PANEL = PROFILE_SET["beida-jbqb-rs232"]
SHED, STATION = "shed-xixi-01", "station-wenxin-01"


def exchange(path: str, request: bytes, timeout: float = 1.0) -> BinaryFrame | None:
    """Send one request frame and read back one reply frame, as a gateway's serial worker would."""
    assert LN20.binary is not None
    framer = BinaryFramer(LN20.binary)
    with serial.Serial(path, 9600, timeout=timeout) as port:
        port.reset_input_buffer()
        port.write(request)
        while chunk := port.read(64):
            framer.feed(chunk)
            if (frame := framer.next_frame()) is not None:
                return frame
    return None


async def test_status_frame_decodes_to_the_simulators_state(shed: SimulationHandle,
                                                            control: httpx.AsyncClient) -> None:
    assert LN20.binary is not None
    held = {"port7.temperature": 66, "port7.current": 2.1, "port7.state": "charging", "port7.relay": True,
            "box_temperature": 31, "door_open": True}
    await control.post(f"/sites/{SHED}/devices/box2/signals", json={"values": held, "hold": True})
    path = shed.endpoint(SHED, "box2-serial")["path"]
    frame = await asyncio.to_thread(exchange, path, encode_binary(LN20.binary, 0x01, b"", address=1))
    assert frame is not None and frame.command == 0x81
    values = decode_frame_points([p for p in LN20.points if p.frame == "read_status"], frame.payload)
    assert {k: values[k] for k in held} == held
    assert len([k for k in values if k.endswith(".relay")]) == 20


async def test_relay_command_switches_a_port_and_is_acknowledged(shed: SimulationHandle,
                                                                 control: httpx.AsyncClient) -> None:
    assert LN20.binary is not None
    path = shed.endpoint(SHED, "box2-serial")["path"]
    await control.post(f"/sites/{SHED}/devices/box2/signals", json={"values": {"port5.relay": True}, "hold": False})
    reply = await asyncio.to_thread(exchange, path, encode_binary(LN20.binary, 0x02, bytes((5, 0)), address=1))
    assert reply is not None and (reply.command, reply.payload) == (0x82, bytes((5, 0)))
    state = (await control.get(f"/sites/{SHED}/devices/box2")).json()["signals"]
    assert state["port5.relay"] is False
    # another address on the line is not this box: silence
    assert await asyncio.to_thread(exchange, path, encode_binary(LN20.binary, 0x01, b"", address=9), 0.3) is None


async def test_fire_panel_prints_an_event_line(shed: SimulationHandle, control: httpx.AsyncClient) -> None:
    assert PANEL.lines is not None
    path = shed.endpoint(STATION, "panel-rs232")["path"]
    port = serial.Serial(path, 9600, timeout=2)
    try:
        response = await control.post(f"/sites/{STATION}/devices/panel/events",
                                      json={"event": "fire", "fields": {"loop": 2, "zone": 17, "address": 5,
                                                                        "text": "B1 garage"}})
        assert response.status_code == 201, response.text
        data = await asyncio.to_thread(port.read_until, b"\r\n")
    finally:
        port.close()
    framer = LineFramer(PANEL.lines)
    framer.feed(data)
    line = framer.next_line()
    assert line is not None
    parsed = parse_line_event(PANEL.lines, line)
    assert parsed is not None
    event, fields = parsed
    assert (event.cls, event.condition) == ("fire", "active")
    assert (fields["loop"], fields["zone"], fields["address"], fields["text"]) == (2, 17, 5, "B1 garage")
    bad = await control.post(f"/sites/{STATION}/devices/panel/events", json={"event": "earthquake"})
    assert bad.status_code == 400 and "unknown event 'earthquake'" in bad.json()["error"]
