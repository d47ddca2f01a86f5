"""One worker per physical bus: the only code that talks on it, one request at a time.

Each pass serves queued writes first (interlocks and commands must not wait behind polls), then the
most urgent due poll: the fastest poll class of any device before slower classes, so alarm points are
read before inventory. Errors are handled by kind:

    illegal function / address   a configuration fault: split a coalesced read into single points once
                                 (remembered); a single point refused is dropped and reported, no retry
    busy (exception 6)           wait 50 ms, retry once
    timeout, garbled or wrong-unit answer
                                 counts against the device: it is parked with backoff (re-probed within
                                 seconds) and reported offline after 3 misses in a row, so one dead
                                 detector costs its line a timeout every few seconds, not every poll
    link down                    (serial device missing, TCP refused) every device on it misses; the
                                 worker reconnects with capped backoff

A device's firmware is identified (identity probe) before its first poll and after it comes back
online, so a swapped or re-flashed device is noticed instead of mis-decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from devices.backoff import next_delay
from devices.decode import ReadBlock, decode_point, encode_point
from devices.episodes import Episodes
from devices.errors import DeviceTimeout, ExceptionReply, FrameError, LinkDown
from devices.identity import match_profile, probe_points
from devices.profile import BIT_TABLES, Point
from devices.site_config import BusConfig
from devices.write_check import WriteRefused, check_write
from edge.polled_device import CUT, PolledDevice
from edge.register_link import RegisterLink

__all__ = ["BusCounters", "ModbusBusWorker", "Sink", "WriteRequest", "finish", "submit"]

log = structlog.get_logger("firefleet.edge.bus")
BUSY = 6
CONFIG_FAULTS = (1, 2)
UNKNOWN_FIRMWARE_RETRY_S = 60.0
IDENTIFY_RETRY_S = 2.0
LATE_SHARE = 1.0  # of its period: how late another poll may run before it goes ahead of the cut inputs


class Sink(Protocol):
    """Where a bus worker reports what it learns (the agent)."""

    def on_values(self, device: str, values: dict[str, Any]) -> None: ...
    def on_health(self, device: str, online: bool, reason: str) -> None: ...
    def on_event(self, device: str, kind: str, details: dict[str, Any]) -> None: ...


@dataclass
class WriteRequest:
    device: str
    point: str
    value: Any
    done: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def submit(queue: asyncio.Queue[WriteRequest], request: WriteRequest) -> None:
    try:
        queue.put_nowait(request)
    except asyncio.QueueFull:
        finish(request, f"refused: {queue.maxsize} writes already wait on this bus")


def finish(request: WriteRequest, result: str) -> None:
    """Report a write's outcome, unless its requester has given up on it (cancelled the future)."""
    if not request.done.done():
        request.done.set_result(result)


@dataclass
class BusCounters:
    requests: int = 0
    timeouts: int = 0
    exceptions: int = 0
    frame_errors: int = 0
    link_errors: int = 0
    writes: int = 0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class ModbusBusWorker:
    def __init__(self, bus: BusConfig, devices: list[PolledDevice], link: RegisterLink, sink: Sink, *,
                 write_attempts: int = 3) -> None:
        self.bus = bus
        self.devices = {d.id: d for d in devices}
        self.link = link
        self.sink = sink
        self.writes: asyncio.Queue[WriteRequest] = asyncio.Queue(maxsize=256)
        self.counters = BusCounters()
        self.write_attempts = write_attempts
        self._episodes = Episodes(log.bind(bus=bus.id))
        self._wake = asyncio.Event()
        self._stopped = False

    def stop(self) -> None:
        """Leave the loop at the next turn. Cancellation also ends it; this flag is for the cancellation
        Python 3.11's wait_for (inside the Modbus library) can swallow when a reply lands at that moment."""
        self._stopped = True
        self._wake.set()

    def submit(self, request: WriteRequest) -> None:
        """Queue a write. The queue holds 256, far beyond a site's writable points; should it ever be full
        (a line dead for minutes while commands pile up), the new write is refused with the reason, and the
        bus goes on: an overflow never ends the agent."""
        submit(self.writes, request)
        self._wake.set()

    async def run(self) -> None:
        attempt = 0
        try:
            while not self._stopped:
                if not self.link.connected:
                    try:
                        await self.link.connect()
                    except LinkDown as exc:
                        attempt += 1
                        self.counters.link_errors += 1
                        self._episodes.problem("link", "bus link down", reason=exc.reason)
                        now = asyncio.get_running_loop().time()
                        for dev in self.devices.values():
                            self._missed(dev, now, "bus link down")
                        await asyncio.sleep(next_delay(attempt, cap=10.0))
                        continue
                    attempt = 0
                    self._episodes.resolved("link", "bus link up", link=self.link.describe)
                await self._pass()
        finally:
            self.link.close()

    async def _serve_writes(self) -> None:
        while not self.writes.empty():
            await self._write(self.writes.get_nowait())

    async def _pass(self) -> None:
        await self._serve_writes()
        loop = asyncio.get_running_loop()
        now = loop.time()
        job = self._next_job(now)
        if job is None:
            wake_at = min((d.earliest_due() if d.health.available(now) else max(d.earliest_due(),
                           d.health.parked_until) for d in self.devices.values()), default=now + 1.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, min(wake_at - now, 1.0))):
                    await self._wake.wait()
            return
        device, cls = job
        await self._poll(device, cls, now)

    def _next_job(self, now: float) -> tuple[PolledDevice, str] | None:
        """The most urgent due poll: the cut inputs (CUT) first, then the fastest class, oldest due first.
        On a line the cut inputs alone would fill, another poll goes first once it is late by a whole period
        of its own (LATE_SHARE): its alarm points come late but not much later, the cut inputs keep most of
        the line. Half a period was tried on the example shed and was worse for both (one run each)."""
        cut: tuple[float, PolledDevice] | None = None
        other: tuple[float, float, PolledDevice, str] | None = None
        for dev in self.devices.values():
            if not dev.health.available(now):
                continue
            for cls in dev.plan:
                due = dev.next_due[cls]
                if due > now:
                    continue
                if cls == CUT:
                    if cut is None or due < cut[0]:
                        cut = (due, dev)
                    continue
                period = dev.periods[cls]  # the fastest class first, across devices: not the plan's position
                if other is None or (period, due) < other[:2]:
                    other = (period, due, dev, cls)
                break
        if cut is not None and (other is None or not _late(other[0], other[1], cut[0], now)):
            return cut[1], CUT
        return None if other is None else (other[2], other[3])

    # -- polling -----------------------------------------------------------------------------------
    async def _poll(self, dev: PolledDevice, cls: str, started: float) -> None:
        if not dev.identified and not await self._identify(dev, started):
            dev.polled(cls, started)
            return
        answered = False
        for n, (block, decoder) in enumerate(list(dev.plan.get(cls, ()))):
            await self._serve_writes()  # an interlock's write waits for one block at most, not a whole poll
            if n and cls != CUT:
                await self._serve_cut_inputs()  # and so does the read that would see the heat
            try:
                words = await self._read(dev, block)
            except ExceptionReply as exc:
                self._answered(dev, started)
                if exc.code in CONFIG_FAULTS:
                    self._config_fault(dev, cls, block, exc.code)
                continue
            except (DeviceTimeout, FrameError) as exc:
                self._missed(dev, asyncio.get_running_loop().time(), exc.reason)
                dev.polled(cls, started)
                return
            if not answered:
                answered = True
                self._answered(dev, started)
            # Rules see each block as soon as it is decoded: a hot port's cut need not wait for the rest.
            self.sink.on_values(dev.id, decoder.decode(words))
        dev.polled(cls, started)

    async def _serve_cut_inputs(self) -> None:
        """Read the cut inputs that are due now, between two blocks of a longer poll: a box's status class
        is eleven frames (half a second of wire at 9600 baud), and a port that overheats as it starts
        must not wait for all of them (bench/interlock_latency.py: worst 718 ms at 19200 baud before)."""
        now = asyncio.get_running_loop().time()
        due = [(dev.next_due[CUT], dev) for dev in self.devices.values()
               if CUT in dev.plan and dev.health.available(now) and dev.next_due[CUT] <= now]
        for _, dev in sorted(due, key=lambda pair: pair[0]):
            await self._poll(dev, CUT, now)

    async def _read(self, dev: PolledDevice, block: ReadBlock) -> list[int]:
        quirks = dev.profile.quirks
        for attempt in (1, 2):
            self.counters.requests += 1
            try:
                return await self.link.read(block.table, block.start, block.count, dev.unit, quirks.timeout_ms / 1000)
            except ExceptionReply as exc:
                self.counters.exceptions += 1
                if exc.code == BUSY and attempt == 1:
                    await asyncio.sleep(0.05)
                    continue
                raise
            except DeviceTimeout:
                self.counters.timeouts += 1
                raise
            except FrameError:
                self.counters.frame_errors += 1
                raise
            except LinkDown:
                self.link.close()
                raise DeviceTimeout("bus link lost", device=dev.id) from None
            finally:
                if quirks.inter_frame_pause_ms:
                    await asyncio.sleep(quirks.inter_frame_pause_ms / 1000)
        raise AssertionError("unreachable")

    async def _identify(self, dev: PolledDevice, now: float) -> bool:
        values: dict[str, Any] = {}
        for point in probe_points(dev.candidates):
            block = ReadBlock(point.table, point.address, point.width, (point,))
            try:
                words = await self._read(dev, block)
            except ExceptionReply as exc:
                if exc.code in CONFIG_FAULTS:
                    continue  # this family's identity block is not there: no candidate will match
                self._answered(dev, now)  # alive but failing (e.g. device failure): ask again shortly
                dev.health.parked_until = asyncio.get_running_loop().time() + IDENTIFY_RETRY_S
                return False
            except (DeviceTimeout, FrameError) as exc:
                self._missed(dev, asyncio.get_running_loop().time(), exc.reason)
                return False
            values[point.name] = decode_point(point, words)
        self._answered(dev, now)
        found = match_profile(dev.candidates, values)
        if found is None:
            self.sink.on_event(dev.id, "unknown_firmware", {"configured": dev.config.profile, "identity": values})
            self._episodes.problem(f"identity:{dev.id}", "unknown firmware", device=dev.id, identity=values)
            dev.health.parked_until = asyncio.get_running_loop().time() + UNKNOWN_FIRMWARE_RETRY_S
            return False
        self._episodes.resolved(f"identity:{dev.id}", "firmware identified", device=dev.id, profile=found.id)
        if found.id != dev.profile.id:
            self.sink.on_event(dev.id, "firmware_changed", {"configured": dev.config.profile, "found": found.id})
            dev.use_profile(found)
        dev.identified = True
        return True

    def _config_fault(self, dev: PolledDevice, cls: str, block: ReadBlock, code: int) -> None:
        if len(block.points) > 1:
            dev.split_block(cls, block)
            self.sink.on_event(dev.id, "read_split", {"table": block.table, "start": block.start,
                                                      "count": block.count, "code": code})
        else:
            dropped = dev.drop_point(cls, block)
            self.sink.on_event(dev.id, "point_unreadable", {"points": [p.name for p in dropped], "code": code})

    def _answered(self, dev: PolledDevice, now: float) -> None:
        if dev.health.answered_at(now) == "online":
            dev.identified = False  # it was away: make sure it is still the same device
            self._episodes.resolved(f"device:{dev.id}", "device online", device=dev.id)
            self.sink.on_health(dev.id, True, "")

    def _missed(self, dev: PolledDevice, now: float, reason: str) -> None:
        if dev.health.missed_at(now, reason) == "offline":
            self._episodes.problem(f"device:{dev.id}", "device offline", device=dev.id, reason=reason)
            self.sink.on_health(dev.id, False, reason)

    # -- writing -----------------------------------------------------------------------------------
    async def _write(self, request: WriteRequest) -> None:
        """Write a point, read it back, retry: the future says 'verified' or why it failed."""
        dev = self.devices.get(request.device)
        if dev is None or request.done.done():
            return
        try:
            point = check_write(dev.profile, request.point, request.value)  # again here: defence in depth
        except WriteRefused as exc:
            finish(request, f"refused: {exc}")
            return
        reason = "not attempted"
        for _ in range(self.write_attempts):
            self.counters.writes += 1
            try:
                await self._write_point(dev, point, request.value)
                if not point.readable:
                    finish(request, "sent")  # write-only (a reset coil): the device answered; nothing to read back
                    return
                block = ReadBlock(point.table, point.address, point.width, (point,))
                back = decode_point(point, await self._read(dev, block))
                if back == request.value or (isinstance(back, bool) and back == bool(request.value)):
                    finish(request, "verified")
                    return
                reason = f"read back {back!r}"
            except (DeviceTimeout, FrameError, ExceptionReply) as exc:
                reason = exc.reason
            except ValueError as exc:
                reason = str(exc)
                break
        finish(request, f"failed: {reason}")

    async def _write_point(self, dev: PolledDevice, point: Point, value: Any) -> None:
        timeout = dev.profile.quirks.timeout_ms / 1000
        words = encode_point(point, value)
        if point.type == "bit" and point.table not in BIT_TABLES:  # read-modify-write of the shared register
            current = (await self.link.read(point.table, point.address, 1, dev.unit, timeout))[0]
            mask = 1 << (point.bit or 0)
            words = [(current & ~mask) | (words[0] & mask)]
        self.counters.requests += 1
        await self.link.write(point.table, point.address, words, dev.unit, timeout, dev.profile.quirks.write_function)


def _late(period: float, due: float, cut_due: float, now: float) -> bool:
    """Whether a poll has waited long enough to go before the cut inputs: LATE_SHARE of a period past due,
    or never read at all while the cut inputs have been (due 0.0 is 'not polled yet')."""
    if due == 0.0:
        return cut_due != 0.0
    return now - due >= LATE_SHARE * period
