"""The one module that imports pymodbus: a Modbus TCP master link (RTU lines use edge.rtu_link).

It turns the library's outcomes into ours (devices.errors): no answer in time -> DeviceTimeout, an
exception response -> ExceptionReply(code), an answer from the wrong unit or a garbled one ->
FrameError, no connection -> LinkDown. Nothing above this module knows pymodbus's names.

The library drops a garbled reply or an answer from another unit silently and keeps
waiting, so by itself every such fault looks like silence. We watch the bytes it receives (its packet
trace hook): a request that timed out although bytes came back is a FrameError (garbage,
wrong unit), one that heard nothing is a DeviceTimeout. The library clears its receive buffer before
every request, which is the line flush after a framing error.

Timeouts are ours, per request (each device's profile recommends one): the library's own timeout is set
long and never fires, because on TCP it closes the whole connection after a few silent requests, which
would punish every unit behind a gateway for one dead device. Cancelling a request (a timeout, or a
shutdown) cancels the library's wait and releases its lock, so the line is free for the next request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from devices.errors import DeviceTimeout, ExceptionReply, FrameError, LinkDown

__all__ = ["LinkDown", "ModbusLink"]

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # we log transitions ourselves, once each
_LIBRARY_TIMEOUT = 30.0


class ModbusLink:
    def __init__(self, factory: Any, describe: str) -> None:
        self.describe = describe
        self.received_bytes = 0  # since the current request began
        self._client = factory(self._trace)

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.received_bytes += len(data)
        return data

    @classmethod
    def tcp(cls, host: str, port: int) -> ModbusLink:
        def factory(trace: Any) -> Any:
            return AsyncModbusTcpClient(host, port=port, timeout=_LIBRARY_TIMEOUT, retries=0, reconnect_delay=0,
                                        trace_packet=trace)
        return cls(factory, f"tcp://{host}:{port}")

    @property
    def connected(self) -> bool:
        return bool(self._client.connected)

    async def connect(self) -> None:
        try:
            ok = await self._client.connect()
        except (ModbusException, OSError) as exc:
            raise LinkDown(f"{self.describe}: {exc}") from None
        if not ok:
            raise LinkDown(f"{self.describe}: cannot connect")

    def close(self) -> None:
        self._client.close()

    async def read(self, table: str, address: int, count: int, unit: int, timeout: float) -> list[int]:
        """Registers (or bits, as 0/1) from one device."""
        call = {
            "holding_register": self._client.read_holding_registers,
            "input_register": self._client.read_input_registers,
            "coil": self._client.read_coils,
            "discrete_input": self._client.read_discrete_inputs,
        }[table]
        reply = await self._call(call(address, count=count, device_id=unit), timeout, unit)
        if table in ("coil", "discrete_input"):
            return [int(b) for b in reply.bits[:count]]
        if len(reply.registers) != count:
            raise FrameError(f"asked {count} registers, got {len(reply.registers)}", device=str(unit))
        return list(reply.registers)

    async def write(self, table: str, address: int, values: list[int], unit: int, timeout: float,
                    function: str = "single") -> None:
        if table == "coil":
            if function == "single" and len(values) == 1:
                coro = self._client.write_coil(address, bool(values[0]), device_id=unit)
            else:
                coro = self._client.write_coils(address, [bool(v) for v in values], device_id=unit)
        elif table == "holding_register":
            if function == "single" and len(values) == 1:
                coro = self._client.write_register(address, values[0], device_id=unit)
            else:
                coro = self._client.write_registers(address, values, device_id=unit)
        else:
            raise ValueError(f"{table} is not writable")
        await self._call(coro, timeout, unit)

    async def _call(self, coro: Any, timeout: float, unit: int) -> Any:
        self.received_bytes = 0
        try:
            async with asyncio.timeout(timeout):
                reply = await coro
        except TimeoutError:
            if self.received_bytes:
                raise FrameError(f"{self.received_bytes} bytes came back but no valid answer (garbage, bad CRC "
                                 "or another unit)", device=str(unit)) from None
            raise DeviceTimeout(f"no answer within {timeout:.2f} s", device=str(unit)) from None
        except ConnectionException as exc:
            raise LinkDown(f"{self.describe}: {exc}") from None
        except ModbusIOException as exc:
            raise FrameError(str(exc), device=str(unit)) from None
        except ModbusException as exc:
            raise FrameError(str(exc), device=str(unit)) from None
        if reply.isError():
            raise ExceptionReply(int(getattr(reply, "exception_code", 4)), device=str(unit))
        return reply
