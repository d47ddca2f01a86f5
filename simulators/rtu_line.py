"""One RS-485 line on a pseudo-terminal, shared by several Modbus RTU slaves.

As on a real line, every slave hears every request and only the addressed one answers; a request for
a unit nobody hosts is met with silence, and a broadcast (unit 0) write is applied by all with no reply.
A pty delivers bytes instantly whatever the baud rate, so with pacing on, each answer waits for the
time the request and the reply would take on the wire at the line's baud rate, plus the 3.5-character
silence that separates RTU frames, timed on a timerfd (devices.precise_timer) as a device's own timer
would be, not to the event loop's millisecond. Requests are handled one at a time, as on a half-duplex line.
"""

from __future__ import annotations

import asyncio
import struct
import time
from pathlib import Path

import structlog

from devices.modbus_frames import Request, RtuRequestFramer, rtu_frame
from devices.precise_timer import PreciseTimer
from devices.site_config import BusConfig
from simulators.device import SimDevice
from simulators.modbus_slave import Reply, answer_pdu, plan_reply
from simulators.pty_link import PtyLink

__all__ = ["RtuLine", "wire_seconds"]

log = structlog.get_logger("firefleet.sim.rtu")


def wire_seconds(n_bytes: float, baud: int, parity: str = "N", stop_bits: int = 1) -> float:
    """Time n bytes take on a serial wire: start bit, 8 data bits, parity if any, stop bits."""
    bits = 1 + 8 + (0 if parity == "N" else 1) + stop_bits
    return n_bytes * bits / baud


class RtuLine:
    def __init__(self, bus: BusConfig, devices: list[SimDevice], link: Path, *, pace: bool = True) -> None:
        self.bus = bus
        self.by_unit = {d.config.unit: d for d in devices}
        self.pace = pace
        self.link_path = link
        self.pty: PtyLink | None = None
        self.framer = RtuRequestFramer()
        self.ignored = 0  # frames for units nobody on this line hosts
        self._late: asyncio.TaskGroup | None = None
        self._quiet_from = 0.0  # when the line fell silent after our last reply
        self._timer = PreciseTimer()

    def _gap(self) -> float:
        # 3.5 characters of silence; the standard fixes it at 1.75 ms above 19200 baud
        return max(wire_seconds(3.5, self.bus.baud, self.bus.parity, self.bus.stop_bits), 0.00175)

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        self.pty = PtyLink(self.link_path)
        log.info("rtu line ready", bus=self.bus.id, path=str(self.link_path), baud=self.bus.baud,
                 units=sorted(self.by_unit))
        if ready is not None:
            ready.set()
        try:
            async with asyncio.TaskGroup() as late_replies:
                self._late = late_replies
                while True:
                    self.framer.feed(await self.pty.read())
                    while (item := self.framer.next_request()) is not None:
                        await self._handle(item)
        finally:
            self.pty.close()
            self._timer.close()

    async def _handle(self, item: Request | tuple[int, bytes]) -> None:
        assert self.pty is not None
        unit, request = (item.unit, item) if isinstance(item, Request) else item
        started = time.monotonic()
        request_bytes = (len(item.raw_pdu) if isinstance(item, Request) else len(item[1])) + 3
        if unit == 0 and isinstance(request, Request):  # broadcast write: everyone applies, nobody answers
            for device in self.by_unit.values():
                answer_pdu(device, request)
            return
        target = self.by_unit.get(unit)
        if target is None:
            self.ignored += 1
            return
        reply = plan_reply(target, request, unit, time.monotonic())
        data = _encode(reply)
        if not data:
            return
        wait = reply.delay_s
        if self.pace:
            # On a pty the request arrives at once. On a wire it could not have begun before the line had
            # been silent for a gap after our last reply (a master that sends sooner is held to it; one that
            # waited already is not charged again), then it takes its wire time, the turnaround gap, and
            # the reply's own wire time.
            began = max(started, self._quiet_from + self._gap())
            wait += began - started
            wait += wire_seconds(request_bytes + len(data), self.bus.baud, self.bus.parity, self.bus.stop_bits)
            wait += self._gap()
        if reply.delay_s and self._late is not None:
            # A slow slave is busy thinking, not holding the wire: others may answer meanwhile, and its
            # late reply then lands on the line whenever it is ready, as on a real bus.
            remaining = wait - (time.monotonic() - started)
            self._late.create_task(self._write_later(data, remaining), name=f"late-reply:{self.bus.id}:{unit}")
            return
        await self._timer.sleep_until(started + wait)
        await self.pty.write(data)
        self._quiet_from = time.monotonic()

    async def _write_later(self, data: bytes, delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        assert self.pty is not None
        await self.pty.write(data)


def _encode(reply: Reply) -> bytes:
    if reply.garbage:
        return reply.garbage
    if reply.pdu is None:
        return b""
    frame = rtu_frame(reply.unit, reply.pdu)
    if reply.corrupt:
        crc = struct.unpack("<H", frame[-2:])[0] ^ 0xA5A5
        frame = frame[:-2] + struct.pack("<H", crc)
    return frame
