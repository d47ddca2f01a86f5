"""Time as records carry it: wall time, monotonic time, and whether the wall clock can be trusted.

A Raspberry Pi has no battery clock: until NTP (or the collector) sets it, its wall time may be 1970 or
last boot's. We call the clock trusted once it is past the build's epoch floor and, where the kernel
says so, synchronised (adjtimex does not answer TIME_ERROR); the collector re-stamps untrusted records.
Tests use FakeClock and advance it.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
from pathlib import Path

from devices.libc import libc

__all__ = ["Clock", "FakeClock", "Stamp"]

def _system_boot() -> str:
    """The kernel's boot id (monotonic time counts from that boot and restarts with the next one)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:16]
    except OSError:
        return ""


SYSTEM_BOOT = _system_boot()
_EPOCH_FLOOR = 1_767_225_600.0  # 2026-01-01: a wall clock before this is certainly wrong
_TIME_ERROR = 5  # adjtimex's answer while the clock is not synchronised


@dataclass(frozen=True, slots=True)
class Stamp:
    wall: float
    mono: float
    trusted: bool

    def as_fields(self) -> dict[str, object]:
        # `clk` names the monotonic clock (the kernel's boot): the collector can place an untrusted
        # record's `mono` on its own clock when it knows where that clock stood at this gateway's birth.
        return {"t": round(self.wall, 3), "mono": round(self.mono, 3), "trusted": self.trusted, "clk": SYSTEM_BOOT}


class Clock:
    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.monotonic()

    def trusted(self) -> bool:
        return self.wall() >= _EPOCH_FLOOR and _kernel_synchronised()

    def stamp(self) -> Stamp:
        return Stamp(self.wall(), self.mono(), self.trusted())


class FakeClock(Clock):
    def __init__(self, wall: float = 1_800_000_000.0, mono: float = 1000.0, trusted: bool = True) -> None:
        self._wall, self._mono, self._trusted = wall, mono, trusted

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._mono += seconds

    def wall(self) -> float:
        return self._wall

    def mono(self) -> float:
        return self._mono

    def trusted(self) -> bool:
        return self._trusted


def _kernel_synchronised() -> bool:
    """adjtimex(2) answers TIME_ERROR while nothing disciplines the clock. Unknown -> True."""
    c = libc()
    if c is None:
        return True
    try:
        timex = ctypes.create_string_buffer(256)  # struct timex (about 208 bytes on 64-bit Linux), zeroed: read only
        state = c.adjtimex(timex)
        return bool(state != _TIME_ERROR)
    except AttributeError:
        return True
