"""A city monitoring centre (城市消防远程监控中心) on loopback, speaking GB/T 26875.3 (devices/gb26875.py): it
accepts transmission devices' sessions, confirms what they send (or, on purpose, stays silent or denies),
denies what fails its checks, sends duty checks, clock syncs and reads, and sends broken frames on request
(a bad checksum, a wrong length) to see them denied. For the tests, `make demo` and by hand:

    firefleet sim-centre --port 9000 [--duty-check-every 300] [--clock-sync-every 3600] [--mischief-every 0]
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from devices.gb26875 import (
    CMD_CONFIRM,
    CMD_CONTROL,
    CMD_DENY,
    CMD_REQUEST,
    CMD_SEND,
    AppUnit,
    BadFrame,
    ClockSync,
    DutyCheck,
    Frame,
    Framer,
    Gb26875Error,
    ReadRequest,
    decode_app,
    encode_app,
    encode_frame,
)

__all__ = ["Centre", "Received", "running_centre"]

log = structlog.get_logger("firefleet.sim.centre")


@dataclass(frozen=True)
class Received:
    at: float
    device: int  # the sender's address
    frame: Frame | BadFrame
    unit: AppUnit | None


@dataclass
class Centre:
    address: int = 1
    silent: bool = False  # confirm nothing (the link to the centre is "down")
    deny_next: int = 0  # deny this many sends on purpose
    clock: Callable[[], float] = time.time
    received: list[Received] = field(default_factory=list)
    port: int = 0
    on_receive: Callable[[Received], None] = lambda got: None
    _writers: dict[int, asyncio.StreamWriter] = field(default_factory=dict)
    _serial: int = 0

    # -- sessions -----------------------------------------------------------------------------------
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        try:
            while data := await reader.read(4096):
                framer.feed(data)
                while (got := framer.next()) is not None:
                    await self._take(writer, got)
        except ConnectionError:
            pass
        finally:
            for device, known in list(self._writers.items()):
                if known is writer:
                    del self._writers[device]
            writer.close()

    async def _take(self, writer: asyncio.StreamWriter, got: Frame | BadFrame) -> None:
        if isinstance(got, BadFrame):
            self._note(Received(self.clock(), got.source or 0, got, None))
            if got.serial is not None and got.source is not None:
                await self._write(writer, got.source, CMD_DENY, got.serial)
            return
        self._writers[got.source] = writer
        try:
            unit = decode_app(got.data) if got.data else None
        except Gb26875Error:
            unit = None
        self._note(Received(self.clock(), got.source, got, unit))
        if got.command != CMD_SEND or self.silent:
            return
        if self.deny_next > 0:
            self.deny_next -= 1
            await self._write(writer, got.source, CMD_DENY, got.serial)
        else:
            await self._write(writer, got.source, CMD_CONFIRM, got.serial)

    def _note(self, got: Received) -> None:
        self.received.append(got)
        self.on_receive(got)

    async def _write(self, writer: asyncio.StreamWriter, device: int, command: int, serial: int | None = None,
                     data: bytes = b"", wire: bytes | None = None) -> int:
        if serial is None:
            self._serial = (self._serial + 1) & 0xFFFF
            serial = self._serial
        frame = Frame(serial, command, self.address, device, datetime.fromtimestamp(int(self.clock())), data)
        writer.write(wire if wire is not None else encode_frame(frame))
        await writer.drain()
        return serial

    def _writer(self, device: int) -> asyncio.StreamWriter:
        writer = self._writers.get(device)
        if writer is None:
            raise LookupError(f"no session from device {device:#x}")
        return writer

    # -- what the centre starts ---------------------------------------------------------------------
    async def duty_check(self, device: int, minutes: int = 10) -> int:
        return await self._write(self._writer(device), device, CMD_CONTROL, data=encode_app([DutyCheck(minutes)]))

    async def clock_sync(self, device: int, at: datetime) -> int:
        return await self._write(self._writer(device), device, CMD_CONTROL, data=encode_app([ClockSync(at)]))

    async def read(self, device: int, kind: int, body: bytes = b"\x00") -> int:
        return await self._write(self._writer(device), device, CMD_REQUEST, data=encode_app([ReadRequest(kind, body)]))

    async def mischief(self, device: int) -> None:
        """Two broken frames: a bad checksum, then a length a byte short of the data (each must be denied)."""
        good = encode_frame(Frame(0x7777, CMD_CONTROL, self.address, device, datetime.fromtimestamp(int(self.clock())),
                                  encode_app([DutyCheck(1)])))
        bad_sum = good[:-3] + bytes(((good[-3] + 1) & 0xFF,)) + good[-2:]
        short = bytearray(good)
        short[24] -= 1  # the length now ends the frame a byte early: no '##' where it says the end is
        writer = self._writer(device)
        writer.write(bad_sum + bytes(short))
        await writer.drain()

    def frames(self, device: int | None = None, command: int | None = None) -> list[Received]:
        return [r for r in self.received if (device is None or r.device == device)
                and (command is None or (isinstance(r.frame, Frame) and r.frame.command == command))]


@contextlib.asynccontextmanager
async def running_centre(centre: Centre, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[Centre]:
    server = await asyncio.start_server(centre._session, host, port)
    centre.port = server.sockets[0].getsockname()[1]
    try:
        yield centre
    finally:
        server.close()
        for writer in list(centre._writers.values()):
            writer.close()
        with contextlib.suppress(Exception):
            await server.wait_closed()


def describe(got: Received) -> str:
    """One line for a person watching the centre."""
    if isinstance(got.frame, BadFrame):
        return f"device {got.device:#x}: bad frame ({got.frame.reason})"
    names = {1: "control", 2: "send", 3: "confirm", 4: "request", 5: "answer", 6: "deny"}
    text = f"device {got.device:#x}: {names.get(got.frame.command, got.frame.command)} #{got.frame.serial}"
    for obj in got.unit.objects if got.unit else ():
        fields: dict[str, Any] = {k: getattr(obj, k) for k in obj.__dataclass_fields__ if k != "time"}
        if "state" in fields:
            fields["state"] = f"{fields['state']:#06x}"
        text += f" | {type(obj).__name__} {fields}"
    return text
