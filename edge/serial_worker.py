"""A worker for a plain serial (non-Modbus) device: the binary-protocol charging box, or a fire panel
that prints event lines. Same duties as the Modbus worker: writes first, then polls; garbage counted and
dropped; a missing serial device logged once and retried with backoff."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import structlog

from devices.backoff import next_delay
from devices.decode import decode_frame_points
from devices.episodes import Episodes
from devices.errors import LinkDown
from devices.profile import BinaryFraming, LineEvent, LineFraming, Profile
from devices.serial_frames import BinaryFrame, BinaryFramer, LineFramer, encode_binary, parse_line_event
from devices.site_config import BusConfig, DeviceConfig
from devices.write_check import WriteRefused, check_write
from edge.bus_worker import BusCounters, Sink, WriteRequest, finish, submit
from edge.byte_link import ByteLink
from edge.device_health import DeviceHealth

__all__ = ["LineSink", "SerialWorker"]

log = structlog.get_logger("firefleet.edge.serial")


class LineSink(Sink, Protocol):
    def on_line_event(self, device: str, event: LineEvent, fields: dict[str, Any]) -> None: ...


class SerialWorker:
    def __init__(self, bus: BusConfig, device: DeviceConfig, profile: Profile, link: ByteLink,
                 sink: LineSink) -> None:
        self.bus = bus
        self.device = device
        self.profile = profile
        self.link = link
        self.sink = sink
        self.health = DeviceHealth()
        self.counters = BusCounters()
        self.garbage_bytes = 0
        self.unmatched_lines = 0
        self.writes: asyncio.Queue[WriteRequest] = asyncio.Queue(maxsize=256)
        self._episodes = Episodes(log.bind(bus=bus.id, device=device.id))
        self._wake = asyncio.Event()
        self._stopped = False
        self.cycle_times: list[float] = []
        self._last_start: float | None = None

    def submit(self, request: WriteRequest) -> None:
        submit(self.writes, request)
        self._wake.set()

    def stop(self) -> None:
        """Leave the loop at the next turn (see ModbusBusWorker.stop)."""
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        attempt = 0
        try:
            while not self._stopped:
                if not self.link.is_open:
                    try:
                        self.link.open()
                    except LinkDown as exc:
                        attempt += 1
                        self.counters.link_errors += 1
                        self._episodes.problem("link", "serial device missing", reason=exc.reason)
                        self._missed("serial device missing")
                        await asyncio.sleep(next_delay(attempt, cap=10.0))
                        continue
                    attempt = 0
                    self._episodes.resolved("link", "serial device present", path=self.link.path)
                try:
                    if self.profile.binary is not None:
                        await self._binary_pass(self.profile.binary)
                    elif self.profile.lines is not None:
                        await self._line_pass(self.profile.lines)
                except LinkDown as exc:
                    self.counters.link_errors += 1
                    self._episodes.problem("link", "serial device lost", reason=exc.reason)
        finally:
            self.link.close()

    # -- binary request / reply --------------------------------------------------------------------
    async def _binary_pass(self, framing: BinaryFraming) -> None:
        while not self.writes.empty():
            await self._binary_write(framing, self.writes.get_nowait())
        loop = asyncio.get_running_loop()
        started = loop.time()
        if self.health.available(started):
            status = next(iter(framing.commands.values()))
            frame = await self._exchange(framing, status.code, b"", status.reply)
            if frame is not None:
                points = [p for p in self.profile.points if p.frame == status.name]
                self.sink.on_values(self.device.id, decode_frame_points(points, frame.payload))
            if self._last_start is not None:
                self.cycle_times.append(started - self._last_start)
                del self.cycle_times[:-500]
            self._last_start = started
        period = min(self.profile.polling.values(), default=1.0)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, started + period - loop.time())):
                await self._wake.wait()

    async def _exchange(self, framing: BinaryFraming, code: int, payload: bytes, reply: int) -> BinaryFrame | None:
        """Send one request, wait for its reply frame; None (and a miss) on timeout or garbage."""
        self.link.discard_input()
        framer = BinaryFramer(framing)
        self.counters.requests += 1
        await self.link.write(encode_binary(framing, code, payload, self.device.unit))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.profile.quirks.timeout_ms / 1000
        while (remaining := deadline - loop.time()) > 0:
            framer.feed(await self.link.read(remaining))
            while (frame := framer.next_frame()) is not None:
                if frame.command == reply and (not framing.has_address or frame.address == self.device.unit):
                    self.garbage_bytes += framer.garbage_bytes
                    self._answered()
                    return frame
                self.counters.frame_errors += 1  # a frame from another address or for another request
        self.garbage_bytes += framer.garbage_bytes
        if framer.garbage_bytes:
            self.counters.frame_errors += 1
        else:
            self.counters.timeouts += 1
        self._missed("no valid reply" if framer.garbage_bytes else "no reply")
        return None

    async def _binary_write(self, framing: BinaryFraming, request: WriteRequest) -> None:
        try:
            point = check_write(self.profile, request.point, request.value)
        except WriteRefused as exc:
            finish(request, f"refused: {exc}")
            return
        if not point.command or point.instance is None:
            finish(request, f"refused: {request.point!r} has no write command")
            return
        command = framing.commands[point.command]
        reason = "no reply"
        for _ in range(3):
            self.counters.writes += 1
            frame = await self._exchange(framing, command.code, bytes((point.instance, int(bool(request.value)))),
                                         command.reply)
            if frame is not None and len(frame.payload) >= 2:
                if frame.payload[1] != 0:
                    reason = "refused by the device"
                    continue
                status = next(iter(framing.commands.values()))
                check = await self._exchange(framing, status.code, b"", status.reply)
                if check is not None:
                    points = [p for p in self.profile.points if p.frame == status.name]
                    values = decode_frame_points(points, check.payload)
                    self.sink.on_values(self.device.id, values)
                    if values.get(point.name) == bool(request.value):
                        finish(request, "verified")
                        return
                    reason = f"read back {values.get(point.name)!r}"
        finish(request, f"failed: {reason}")

    # -- event lines -------------------------------------------------------------------------------
    async def _line_pass(self, framing: LineFraming) -> None:
        framer = LineFramer(framing)
        while not self._stopped:
            while not self.writes.empty():
                finish(self.writes.get_nowait(), "failed: this device takes no writes")
            framer.feed(await self.link.read(1.0))
            self.garbage_bytes = framer.garbage_bytes
            while (line := framer.next_line()) is not None:
                parsed = parse_line_event(framing, line)
                if parsed is None:
                    self.unmatched_lines += 1
                    continue
                self._answered()
                self.sink.on_line_event(self.device.id, *parsed)

    def _answered(self) -> None:
        if self.health.answered_at(0.0) == "online":
            self._episodes.resolved("device", "device online")
            self.sink.on_health(self.device.id, True, "")

    def _missed(self, reason: str) -> None:
        now = asyncio.get_running_loop().time()
        if self.health.missed_at(now, reason) == "offline":
            self._episodes.problem("device", "device offline", reason=reason)
            self.sink.on_health(self.device.id, False, reason)
