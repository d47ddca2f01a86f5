"""What a bus or serial worker reports, waited on by event (never by sleeping) in unit tests."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["EventSink"]


class EventSink:
    """A base for test sinks: each report sets `changed`; `until` waits on it."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()

    async def until(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait on what the worker reports (events, not sleeps); fail after `timeout` s."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
