"""The seam between a bus worker and its Modbus line, and an in-process fake beside it (as httpx keeps
`MockTransport` beside its transports).

`RegisterLink` is what `ModbusBusWorker` needs of a line; `edge.modbus_link.ModbusLink` is the real one
(pymodbus over TCP or RTU). `FakeRegisterLink` holds register tables per unit in memory and answers at
once, with the faults a unit test sets: a unit that never answers, an exception code at an address, a
read that waits on a gate (to cancel a poll mid-request), a line that is down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from devices.errors import DeviceTimeout, ExceptionReply, LinkDown

__all__ = ["FakeRegisterLink", "RegisterLink"]


class RegisterLink(Protocol):
    describe: str

    @property
    def connected(self) -> bool: ...
    async def connect(self) -> None: ...
    def close(self) -> None: ...
    async def read(self, table: str, address: int, count: int, unit: int, timeout: float) -> list[int]: ...
    async def write(self, table: str, address: int, values: list[int], unit: int, timeout: float,
                    function: str = "single") -> None: ...


@dataclass
class FakeRegisterLink:
    """tables: unit -> table -> address -> word (or bit 0/1). Missing addresses read as 0."""

    tables: dict[int, dict[str, dict[int, int]]] = field(default_factory=dict)
    describe: str = "fake://line"
    silent: set[int] = field(default_factory=set)  # units that never answer
    exceptions: dict[tuple[int, str, int], int] = field(default_factory=dict)  # (unit, table, address) -> code
    down: bool = False
    gate: asyncio.Event | None = None  # when set to an unset Event, every read waits on it
    wire_s: float = 0.0  # how long each exchange holds the line, as a slow wire would (0: at once)
    reads: list[tuple[int, str, int, int]] = field(default_factory=list)  # (unit, table, address, count)
    writes: list[tuple[int, str, int, list[int], str]] = field(default_factory=list)
    closed: int = 0
    _open: bool = False

    @property
    def connected(self) -> bool:
        return self._open

    async def connect(self) -> None:
        if self.down:
            raise LinkDown(f"{self.describe}: down")
        self._open = True

    def close(self) -> None:
        self._open = False
        self.closed += 1

    async def read(self, table: str, address: int, count: int, unit: int, timeout: float) -> list[int]:
        self._check(unit, table, range(address, address + count))
        self.reads.append((unit, table, address, count))
        if self.wire_s:
            await asyncio.sleep(self.wire_s)
        if self.gate is not None:
            await self.gate.wait()
        words = self.tables.get(unit, {}).get(table, {})
        return [words.get(a, 0) for a in range(address, address + count)]

    async def write(self, table: str, address: int, values: list[int], unit: int, timeout: float,
                    function: str = "single") -> None:
        self._check(unit, table, range(address, address + len(values)))
        self.writes.append((unit, table, address, list(values), function))
        words = self.tables.setdefault(unit, {}).setdefault(table, {})
        for offset, value in enumerate(values):
            words[address + offset] = value

    def _check(self, unit: int, table: str, addresses: range) -> None:
        if not self._open:
            raise LinkDown(f"{self.describe}: not connected")
        if unit in self.silent:
            raise DeviceTimeout("no answer", device=str(unit))
        for address in addresses:
            code = self.exceptions.get((unit, table, address))
            if code is not None:
                raise ExceptionReply(code, device=str(unit))
