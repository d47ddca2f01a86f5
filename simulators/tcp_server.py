"""A Modbus TCP endpoint (a camera recorder, a TCP gateway) on a loopback port.

Units are routed like a TCP-to-RTU gateway would: a unit the endpoint does not host gets exception 11
(gateway target failed to respond); a single-device endpoint also answers unit 0 and 255, as most
devices do. Faults come from the same plan as on RTU; `bad_crc` has no CRC to spoil on TCP, so it
spoils the MBAP header (protocol id) instead, which a client must refuse the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time

import structlog

from devices.modbus_frames import Request, TcpRequestFramer, exception_pdu, tcp_frame
from devices.site_config import BusConfig
from simulators.device import SimDevice
from simulators.modbus_slave import plan_reply

__all__ = ["TcpEndpoint"]

log = structlog.get_logger("firefleet.sim.tcp")
GATEWAY_TARGET_FAILED = 11


class TcpEndpoint:
    def __init__(self, bus: BusConfig, devices: list[SimDevice], host: str = "127.0.0.1", port: int = 0) -> None:
        self.bus = bus
        self.by_unit = {d.config.unit: d for d in devices}
        self.host = host
        self.port = port
        self.connections = 0

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]
        log.info("modbus tcp ready", bus=self.bus.id, host=self.host, port=self.port, units=sorted(self.by_unit))
        if ready is not None:
            ready.set()
        async with server:
            await server.serve_forever()

    def _device(self, unit: int) -> SimDevice | None:
        device = self.by_unit.get(unit)
        if device is None and len(self.by_unit) == 1 and unit in (0, 255):
            device = next(iter(self.by_unit.values()))
        return device

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        framer = TcpRequestFramer()
        try:
            while data := await reader.read(4096):
                framer.feed(data)
                while (item := framer.next_request()) is not None:
                    out = await self._answer(item)
                    if out:
                        writer.write(out)
                        await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, item: Request | tuple[int, int, bytes]) -> bytes:
        if isinstance(item, Request):
            tid, unit, request = item.transaction, item.unit, item
        else:
            tid, unit, raw = item
            request = raw  # type: ignore[assignment]
        device = self._device(unit)
        if device is None:
            fc = item.function if isinstance(item, Request) else (item[2][0] if item[2] else 0)
            return tcp_frame(tid, unit, exception_pdu(fc, GATEWAY_TARGET_FAILED))
        reply = plan_reply(device, request, unit, time.monotonic())
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.garbage:
            return reply.garbage
        if reply.pdu is None:
            return b""
        frame = tcp_frame(tid, reply.unit, reply.pdu)
        if reply.corrupt:
            frame = frame[:2] + struct.pack(">H", 0xBEEF) + frame[4:]
        return frame
