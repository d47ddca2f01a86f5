"""Fan-out of alarm and health changes to event-stream clients, each behind a bounded queue.

Overflow policy: a client whose queue is full (it stopped reading) is dropped; its browser reconnects
by itself and fetches the current list, so a slow screen never holds the collector back.

With several collectors, `relay` passes every change made here on to the others (cloud.change_feed), and
what they changed comes in through `deliver`, to this collector's clients only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

__all__ = ["EventHub"]


class EventHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self._clients: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self.queue_size = queue_size
        self.dropped = 0
        self.relay: Callable[[dict[str, Any]], None] | None = None
        self.watchers: list[Callable[[dict[str, Any]], None]] = []  # told of every change (cached answers)

    def publish(self, event: dict[str, Any]) -> None:
        """A change made by this collector: to its clients, and to the other collectors."""
        self.deliver(event)
        if self.relay is not None:
            self.relay(event)

    def deliver(self, event: dict[str, Any]) -> None:
        """A change, to this collector's clients."""
        for watcher in self.watchers:
            watcher(event)
        for queue in list(self._clients):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._clients.discard(queue)
                self.dropped += 1
                with contextlib.suppress(asyncio.QueueFull):
                    queue.get_nowait()
                    queue.put_nowait(None)  # tell the stream to end

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self.queue_size)
        self._clients.add(queue)
        try:
            yield queue
        finally:
            self._clients.discard(queue)

    @property
    def clients(self) -> int:
        return len(self._clients)
