"""The plain-serial worker through its port seam (edge.byte_link.FakeByteLink), against the charging box's
own device model (simulators.device.SimDevice): values decoded, a relay write read back, an unplugged
adapter and a silent box reported once each (issue 12.2: the serial worker had no unit tests)."""

from __future__ import annotations

import asyncio
from typing import Any

from devices.profile import LineEvent
from devices.profile_loader import load_profile_dir
from devices.serial_frames import BinaryFramer, encode_binary
from devices.site_config import BusConfig, DeviceConfig
from edge.bus_worker import WriteRequest
from edge.byte_link import FakeByteLink
from edge.serial_worker import SerialWorker
from simulators.device import SimDevice
from tests.support.sinks import EventSink

PROFILE = load_profile_dir()["lvneng-ln20s"]
assert PROFILE.binary is not None
FRAMING = PROFILE.binary
CONFIG = DeviceConfig(id="box2", profile="lvneng-ln20s", bus="box2-serial", unit=1)


class Sink(EventSink):
    def __init__(self) -> None:
        super().__init__()
        self.values: list[dict[str, Any]] = []
        self.health: list[bool] = []

    def on_values(self, device: str, values: dict[str, Any]) -> None:
        self.values.append(values)
        self.changed.set()

    def on_health(self, device: str, online: bool, reason: str) -> None:
        self.health.append(online)
        self.changed.set()

    def on_event(self, device: str, kind: str, details: dict[str, Any]) -> None:
        self.changed.set()

    def on_line_event(self, device: str, event: LineEvent, fields: dict[str, Any]) -> None:
        self.changed.set()


def box() -> tuple[SimDevice, FakeByteLink, dict[str, bool]]:
    """The box's model behind a fake port: status requests answered, relay commands applied."""
    device = SimDevice(CONFIG, PROFILE, "shed")
    silent = {"now": False}

    def answer(request: bytes) -> bytes:
        framer = BinaryFramer(FRAMING)
        framer.feed(request)
        frame = framer.next_frame()
        if frame is None or silent["now"]:
            return b""
        command = next(c for c in FRAMING.commands.values() if c.code == frame.command)
        if command.payload:
            instance, value = frame.payload[0], frame.payload[1]
            device.signals[f"port{instance}.relay"] = bool(value)
            return encode_binary(FRAMING, command.reply, bytes((instance, 0)), CONFIG.unit)
        return encode_binary(FRAMING, command.reply, device.frame_payload(command.name), CONFIG.unit)
    return device, FakeByteLink(answer), silent


async def test_values_writes_and_faults_through_the_port_seam() -> None:
    device, link, silent = box()
    device.set_signals({"port4.relay": True, "box_temperature": 31})
    sink = Sink()
    worker = SerialWorker(BusConfig(id="box2-serial", type="serial", port="/dev/null"), CONFIG, PROFILE, link, sink)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        await sink.until(lambda: any(v.get("port4.relay") is True for v in sink.values))
        assert sink.values[-1]["box_temperature"] == 31
        cut = WriteRequest("box2", "port4.relay", False)
        worker.submit(cut)
        assert await asyncio.wait_for(cut.done, 5) == "verified"
        assert device.value("port4.relay") is False
        refused = WriteRequest("box2", "total_power", 5)
        worker.submit(refused)
        assert (await asyncio.wait_for(refused.done, 5)).startswith("refused: total_power is read-only")
        silent["now"] = True
        await sink.until(lambda: False in sink.health)
        silent["now"] = False
        await sink.until(lambda: sink.health[-1] is True)
        assert sink.health.count(False) == 1  # once per episode
    finally:
        worker.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
