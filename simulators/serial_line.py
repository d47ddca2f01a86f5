"""A plain serial (non-Modbus) device on a pseudo-terminal: a binary-protocol charging box that answers
requests, or a fire panel that prints event lines on its own.

Faults mean the same as on Modbus: silence, a late answer, a spoiled checksum, random bytes, a refusal
(the box's NAK result), an answer from the wrong address. Pacing holds each answer or line for its time
on the wire at the line's baud rate.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import structlog

from devices.profile import BinaryFraming, LineFraming
from devices.serial_frames import BinaryFrame, BinaryFramer, encode_binary
from devices.site_config import BusConfig
from simulators.device import SimDevice
from simulators.pty_link import PtyLink
from simulators.rtu_line import wire_seconds

__all__ = ["SerialDeviceLine"]

log = structlog.get_logger("firefleet.sim.serial")

RESULT_DONE, RESULT_REFUSED = 0, 1


class SerialDeviceLine:
    def __init__(self, bus: BusConfig, device: SimDevice, link: Path, *, pace: bool = True) -> None:
        self.bus = bus
        self.device = device
        self.link_path = link
        self.pace = pace
        self.pty: PtyLink | None = None
        self._lines_ready = asyncio.Event()

    def _wire(self, n: int) -> float:
        return wire_seconds(n, self.bus.baud, self.bus.parity, self.bus.stop_bits) if self.pace else 0.0

    def notify_lines(self) -> None:
        """Wake the printer loop: `device.pending_lines` has something to print."""
        self._lines_ready.set()

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        self.pty = PtyLink(self.link_path)
        log.info("serial device ready", bus=self.bus.id, path=str(self.link_path), device=self.device.id)
        if ready is not None:
            ready.set()
        try:
            profile = self.device.profile
            if profile.binary is not None:
                await self._serve_binary(profile.binary)
            elif profile.lines is not None:
                await self._serve_lines(profile.lines)
        finally:
            self.pty.close()

    async def _serve_binary(self, framing: BinaryFraming) -> None:
        assert self.pty is not None
        framer = BinaryFramer(framing)
        while True:
            framer.feed(await self.pty.read())
            while (frame := framer.next_frame()) is not None:
                request_bytes = len(frame.payload) + 8
                reply, delay = self._binary_reply(framing, frame)
                if reply:
                    await asyncio.sleep(delay + self._wire(request_bytes + len(reply)))
                    await self.pty.write(reply)

    def _binary_reply(self, framing: BinaryFraming, frame: BinaryFrame) -> tuple[bytes, float]:
        """The bytes to answer with (empty: silence) and the extra delay of a slow_reply fault."""
        dev = self.device
        if framing.has_address and frame.address != dev.config.unit:
            return b"", 0.0
        dev.requests += 1
        faults = dev.faults
        if faults.silent(time.monotonic()):
            return b"", 0.0
        slow = faults.hits("slow_reply")
        delay = slow.delay_ms / 1000 if slow else 0.0
        garbage = faults.hits("garbage")
        if garbage:
            return faults.random_bytes(garbage.length), delay
        command = next((c for c in framing.commands.values() if c.code == frame.command), None)
        if command is None:
            return b"", 0.0
        if command.payload == ("instance", "value") and len(frame.payload) >= 2:
            instance, value = frame.payload[0], frame.payload[1]
            target = next((p for p in dev.profile.points if p.command == command.name and p.instance == instance),
                          None)
            refused = target is None or faults.hits("exception") is not None
            if not refused and target is not None:
                dev.signals[target.name] = bool(value)
            payload = bytes((instance, RESULT_REFUSED if refused else RESULT_DONE))
        elif faults.hits("exception"):
            return b"", 0.0
        else:
            payload = dev.frame_payload(command.name)
        address = dev.config.unit + (1 if faults.hits("wrong_slave_id") else 0)
        out = encode_binary(framing, command.reply, payload, address & 0xFF)
        dev.answered += 1
        if faults.hits("bad_crc"):
            out = out[:-1] + bytes((out[-1] ^ 0x5A,))
        return out, delay

    async def _serve_lines(self, framing: LineFraming) -> None:
        assert self.pty is not None
        dev = self.device
        while True:
            await self._lines_ready.wait()
            self._lines_ready.clear()
            while dev.pending_lines:
                line = dev.pending_lines.pop(0)
                faults = dev.faults
                if faults.silent(time.monotonic()):
                    continue
                data = line.encode("latin-1", "replace") + framing.terminator
                garbage = faults.hits("garbage")
                if garbage:
                    data = faults.random_bytes(garbage.length) + data
                if faults.hits("bad_crc"):  # no checksum on a printer line: noise flips a character
                    data = data[:3] + bytes((data[3] ^ 0x20,)) + data[4:]
                slow = faults.hits("slow_reply")
                await asyncio.sleep(self._wire(len(data)) + (slow.delay_ms / 1000 if slow else 0.0))
                await self.pty.write(data)
                dev.answered += 1
