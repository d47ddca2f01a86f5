"""The seam between a plain-serial worker and its port, and an in-process fake beside it.

`ByteLink` is what `SerialWorker` needs of a port; `edge.serial_link.SerialLink` is the real one
(pyserial). `FakeByteLink` answers each request written to it through a function the test gives
(request bytes -> reply bytes, or b"" for silence), at once, and can be unplugged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from devices.errors import LinkDown

__all__ = ["ByteLink", "FakeByteLink"]


class ByteLink(Protocol):
    path: str

    @property
    def is_open(self) -> bool: ...
    def open(self) -> None: ...
    def close(self) -> None: ...
    async def read(self, timeout: float) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    def discard_input(self) -> None: ...


@dataclass
class FakeByteLink:
    answer: Callable[[bytes], bytes]
    path: str = "fake://serial"
    unplugged: bool = False
    written: list[bytes] = field(default_factory=list)
    _pending: bytearray = field(default_factory=bytearray)
    _open: bool = False

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        if self.unplugged:
            raise LinkDown(f"{self.path}: no such device")
        self._open = True

    def close(self) -> None:
        self._open = False

    async def write(self, data: bytes) -> None:
        self._require()
        self.written.append(bytes(data))
        self._pending += self.answer(bytes(data))

    async def read(self, timeout: float) -> bytes:
        self._require()
        if not self._pending:
            await asyncio.sleep(min(timeout, 0.01))  # nothing to say, as a silent port within its timeout
            return b""
        data, self._pending[:] = bytes(self._pending), b""
        return data

    def discard_input(self) -> None:
        self._pending.clear()

    def _require(self) -> None:
        if self.unplugged or not self._open:
            self._open = False
            raise LinkDown(f"{self.path}: unplugged")
