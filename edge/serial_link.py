"""The one module that imports pyserial: a plain serial port read and written from asyncio.

pyserial opens and configures the port (baud, parity, stop bits); reads and writes then go through the
event loop on its file descriptor, so a silent device never blocks the agent.
"""

from __future__ import annotations

import asyncio
import contextlib

import serial

from devices.errors import LinkDown

__all__ = ["LinkDown", "SerialLink"]


class SerialLink:
    def __init__(self, path: str, baud: int, parity: str = "N", stop_bits: int = 1) -> None:
        self.path = path
        self.baud = baud
        self.parity = parity
        self.stop_bits = stop_bits
        self._port: serial.Serial | None = None
        self._readable = asyncio.Event()

    def open(self) -> None:
        try:
            port = serial.Serial(self.path, self.baud, parity=self.parity,
                                 stopbits=serial.STOPBITS_TWO if self.stop_bits == 2 else serial.STOPBITS_ONE,
                                 timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise LinkDown(f"{self.path}: {exc}") from None
        port.reset_input_buffer()
        self._port = port
        asyncio.get_running_loop().add_reader(port.fileno(), self._readable.set)

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._port.fileno())
            self._port.close()
            self._port = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    async def read(self, timeout: float) -> bytes:
        """Whatever bytes arrive within `timeout` (b"" if none)."""
        port = self._require()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                data = port.read(4096)
            except (serial.SerialException, OSError) as exc:
                self.close()
                raise LinkDown(f"{self.path}: {exc}") from None
            if data:
                return bytes(data)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return b""
            self._readable.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._readable.wait()

    async def write(self, data: bytes) -> None:
        port = self._require()
        try:
            view = memoryview(data)
            while view:
                n = port.write(view) or 0
                view = view[n:]
                if view:
                    await asyncio.sleep(0.001)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise LinkDown(f"{self.path}: {exc}") from None

    def discard_input(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.reset_input_buffer()

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise LinkDown(f"{self.path}: not open")
        return self._port
