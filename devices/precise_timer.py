"""Sleep to a tenth of a millisecond inside the event loop, for the gaps of an RS-485 line.

asyncio wakes its timers through epoll, which counts whole milliseconds and rounds up: a 1.5 ms sleep lasts
2.1 ms. At 115200 baud a Modbus exchange is about 5 ms of wire, so those 0.6 ms, on the master's silent
interval and again on the slave's, were a fifth of the line (bench/edge_poll.py, part 2). A Linux timerfd
fires at its nanosecond deadline and wakes the same epoll as a readable file, costing no more CPU than
a timer. Where there is no timerfd (not Linux), `PreciseTimer` falls back to asyncio.sleep.

One timer per line: an exchange on that line sleeps on it, never two at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import time

from devices.libc import libc

__all__ = ["PreciseTimer"]

_CLOCK_MONOTONIC = 1  # time.monotonic() reads this clock on Linux
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class PreciseTimer:
    def __init__(self) -> None:
        self._fd = -1
        c = libc()
        if c is not None and hasattr(c, "timerfd_create"):
            self._fd = c.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)

    @property
    def precise(self) -> bool:
        return self._fd >= 0

    async def sleep_until(self, when: float) -> None:
        """Return at time.monotonic() `when` (about 50 us late at most on Linux), or at once if it passed."""
        if when <= time.monotonic():
            return
        if self._fd < 0:
            await asyncio.sleep(when - time.monotonic())
            return
        seconds = int(when)
        spec = _Itimerspec(_Timespec(0, 0), _Timespec(seconds, int((when - seconds) * 1e9)))
        c = libc()
        assert c is not None
        if c.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(spec), None) != 0:
            await asyncio.sleep(when - time.monotonic())
            return
        loop = asyncio.get_running_loop()
        fired = loop.create_future()
        loop.add_reader(self._fd, _settle, fired)
        try:
            await fired
        finally:
            loop.remove_reader(self._fd)
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 8)  # the expiry count, so the next sleep starts unarmed

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(time.monotonic() + seconds)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _settle(fired: asyncio.Future[None]) -> None:
    if not fired.done():
        fired.set_result(None)
