"""The collector's writes on one thread of their own, with its own connection to the store, so the event
loop keeps reading MQTT and serving HTTP while a transaction commits (an fsync on SQLite, a round trip
per statement on PostgreSQL).

One thread, so writes run one at a time in the order they were asked for: the same order the event loop
gave them, which keeps a gateway's records in order and lets SQLite's single writer never wait on itself.
Fire first still holds: the telemetry worker waits for each of its writes before it takes the next
message, so an alarm's write has at most one telemetry transaction ahead of it (and a retention job's
chunk: cloud.main prunes in bounded steps).

`InlineWriter` runs the same calls on the caller's store, for unit tests and tools.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, TypeVar

from cloud.store import Store

__all__ = ["InlineWriter", "StoreWriter", "Writer"]

T = TypeVar("T")


class Writer(Protocol):
    async def __call__(self, write: Callable[[Store], T]) -> T: ...


class StoreWriter:
    def __init__(self, location: str | Path, streets: dict[str, str] | None = None) -> None:
        self.location = location
        self.streets = streets
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="store-write")
        self._store: Store | None = None

    async def __call__(self, write: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, write)

    def _run(self, write: Callable[[Store], T]) -> T:
        if self._store is None:
            self._store = Store(self.location, self.streets)
        return write(self._store)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._store is not None:
            self._store.close()
            self._store = None


class InlineWriter:
    """The writes on the caller's own store, in the caller's thread."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, write: Callable[[Store], T]) -> T:
        return write(self.store)
