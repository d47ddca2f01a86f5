"""One answer for everyone who asks within a short time: computed once, however many consoles ask.

The duty consoles fetch the site list every few seconds; a city's is 25,000 sites (counted by the
database, built and encoded on a reader thread: seconds of work). Each console asking for its own copy
would keep a reader thread and the interpreter busy full time, beside ingest. The answer is kept for
`ttl` seconds, and whoever asks while it is being computed waits for that same computation. A change
(`invalidate`, on every alarm or health event) makes the next asker compute it afresh, and a
computation that began before the change is not kept: nobody sees an alarm's event and then a site
list from before it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Recent"]


class Recent:
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.computed = 0  # how many times it was computed (for tests and benches)
        self._generation = 0
        self._value: bytes | None = None
        self._value_generation = -1
        self._at = 0.0
        self._pending: asyncio.Future[bytes] | None = None
        self._pending_generation = -1

    def invalidate(self) -> None:
        self._generation += 1

    async def get(self, compute: Callable[[], Awaitable[bytes]]) -> bytes:
        if (self._value is not None and self._value_generation == self._generation
                and time.monotonic() - self._at < self.ttl):
            return self._value
        if self._pending is None or self._pending.done() or self._pending_generation != self._generation:
            self._pending = asyncio.ensure_future(self._compute(compute, self._generation))
            self._pending_generation = self._generation
        return await asyncio.shield(self._pending)  # one asker giving up does not cancel it for the others

    async def _compute(self, compute: Callable[[], Awaitable[bytes]], generation: int) -> bytes:
        value = await compute()
        self.computed += 1
        if generation == self._generation:  # nothing changed meanwhile: good for the next `ttl` seconds
            self._value, self._value_generation, self._at = value, generation, time.monotonic()
        return value
