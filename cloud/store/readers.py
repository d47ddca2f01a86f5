"""The HTTP API's reads on threads of their own, each with its own connection to the store, so a slow
read (the district's site list, a device's week of readings) never holds up ingest on the event loop.

SQLite in WAL mode and PostgreSQL both let readers run beside the writer and see every committed write.
Writes go to the writer thread (cloud.store.writer), one short transaction each.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from cloud.store import Store

__all__ = ["StoreReaders"]

T = TypeVar("T")


class StoreReaders:
    def __init__(self, location: str | Path, streets: dict[str, str] | None = None, threads: int = 2) -> None:
        self.location = location
        self.streets = streets
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="store-read")
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()

    async def __call__(self, read: Callable[[Store], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, read)

    def _run(self, read: Callable[[Store], T]) -> T:
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.location, self.streets)
            with self._lock:
                self._opened.append(store)
        return read(store)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for store in self._opened:
                store.close()
            self._opened.clear()
