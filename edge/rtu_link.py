"""A Modbus RTU master on a serial port of our own (a RegisterLink over a ByteLink), without pymodbus.

Why not pymodbus here: on an RS-485 line the master knows exactly what it asked and how long the answer
must be (devices.modbus_master), so an exchange is: wait out the line's silent interval, flush stale
input, write the frame, sleep while the reply is still on the wire, then read until the expected length
is in. That costs a few wake-ups an exchange; pymodbus's general transaction machinery cost most of the
agent's CPU per request (bench/edge_poll.py), which a Raspberry Pi cannot spare. The waits run on a
timerfd (devices.precise_timer): the event loop's own timers wake up to a millisecond late, a fifth of an
exchange at 115200 baud.

Outcomes, as every RegisterLink gives them: no byte before the timeout -> DeviceTimeout; bytes but no
valid answer (noise, bad CRC, another unit, short) -> FrameError, after which the line is left to fall
silent and its input flushed; an exception response -> ExceptionReply; the port gone -> LinkDown.
Cancellation passes through; the next exchange flushes whatever a cancelled one left behind.
"""

from __future__ import annotations

import time

from devices.errors import DeviceTimeout, FrameError
from devices.modbus_master import Exchange, read_exchange, write_exchange
from devices.precise_timer import PreciseTimer
from edge.byte_link import ByteLink

__all__ = ["RtuLink"]

_SLEEP_FROM_S = 0.005
_TIMER_SLACK_S = 0.0002  # woken this much early for the reply, rather than late


class RtuLink:
    def __init__(self, port: ByteLink, baud: int, *, bits_per_char: int = 10) -> None:
        self.port = port
        self.baud = baud
        self.describe = f"rtu://{port.path}@{baud}"
        self._char_s = bits_per_char / baud  # start, 8 data, parity if any, stop bits
        self._silence_s = max(3.5 * self._char_s, 0.00175)  # the standard's gap between frames
        self._quiet_from = 0.0  # monotonic time the line falls silent (after our last byte)
        self._timer: PreciseTimer | None = None

    @property
    def connected(self) -> bool:
        return self.port.is_open

    async def connect(self) -> None:
        self.port.open()
        if self._timer is None:
            self._timer = PreciseTimer()

    def close(self) -> None:
        self.port.close()
        if self._timer is not None:
            self._timer.close()
            self._timer = None

    async def _sleep_until(self, when: float) -> None:
        if self._timer is None:
            self._timer = PreciseTimer()
        await self._timer.sleep_until(when)

    async def read(self, table: str, address: int, count: int, unit: int, timeout: float) -> list[int]:
        return await self._exchange(read_exchange(table, address, count, unit), timeout)

    async def write(self, table: str, address: int, values: list[int], unit: int, timeout: float,
                    function: str = "single") -> None:
        await self._exchange(write_exchange(table, address, values, unit, function), timeout)

    async def _exchange(self, exchange: Exchange, timeout: float) -> list[int]:
        await self._sleep_until(self._quiet_from + self._silence_s)  # the standard's silence before a frame
        self.port.discard_input()
        await self.port.write(exchange.frame)
        sent = time.monotonic()
        self._quiet_from = sent + len(exchange.frame) * self._char_s
        # The request, the slave's turnaround and the reply take at least this long: at low baud, sleep
        # through it rather than wake for every few bytes; a shorter reply is waited for byte by byte.
        on_wire = (len(exchange.frame) + exchange.normal_size) * self._char_s
        if on_wire > _SLEEP_FROM_S:
            await self._sleep_until(sent + on_wire - _TIMER_SLACK_S)
        reply = bytearray()
        deadline = sent + timeout
        while True:
            size = exchange.reply_size(reply)
            if size is not None and len(reply) >= size:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            reply += await self.port.read(remaining)
        self._quiet_from = time.monotonic()
        if not reply:
            raise DeviceTimeout(f"no answer within {timeout:.2f} s", device=str(exchange.unit))
        size = exchange.reply_size(reply)
        if size is None or len(reply) != size:
            self._quiet_from += 4 * self._silence_s  # let the rest of the noise end before the next frame
            raise FrameError(f"{len(reply)} bytes came back but no valid answer (noise, bad CRC or another "
                             "unit)", device=str(exchange.unit))
        try:
            return exchange.parse(reply)
        except FrameError as exc:
            raise FrameError(exc.reason, device=str(exchange.unit)) from None
