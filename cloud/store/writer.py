"""The collector's writes on one thread of their own, with its own connection to the store, so the event
loop keeps reading MQTT and serving HTTP while a transaction commits (an fsync on SQLite, a round trip
per statement on PostgreSQL).

One thread, so writes run one at a time, in the order they were asked for within each of two ranks:
an urgent write (an alarm record) goes before every ordinary one still waiting, so a fire has at most
the one transaction in progress ahead of it, however many telemetry batches are queued (fire first,
cloud.collector). SQLite's single writer never waits on itself.

`InlineWriter` runs the same calls on the caller's store, for unit tests and tools.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cloud.store import Store

__all__ = ["InlineWriter", "StoreWriter", "Writer"]

T = TypeVar("T")
_Job = tuple[int, int, Callable[[Store], Any] | None, asyncio.Future[Any] | None, asyncio.AbstractEventLoop | None]


class Writer(Protocol):
    async def __call__(self, write: Callable[[Store], T], *, urgent: bool = False) -> T: ...


class StoreWriter:
    def __init__(self, location: str | Path, streets: dict[str, str] | None = None) -> None:
        self.location = location
        self.streets = streets
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def __call__(self, write: Callable[[Store], T], *, urgent: bool = False) -> T:
        self._start()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._jobs.put((0 if urgent else 1, next(self._order), write, done, loop))
        return await done

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="store-write", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        store: Store | None = None
        try:
            while True:
                _, _, write, done, loop = self._jobs.get()
                if write is None or done is None or loop is None:
                    return  # closed
                try:
                    if store is None:
                        store = Store(self.location, self.streets)
                    result = write(store)
                except BaseException as exc:  # the caller's to handle; the writer goes on
                    loop.call_soon_threadsafe(_settle, done, None, exc)
                else:
                    loop.call_soon_threadsafe(_settle, done, result, None)
        finally:
            if store is not None:
                store.close()

    def close(self) -> None:
        """Finish what was asked, then close the connection."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put((2, next(self._order), None, None, None))
            thread.join()


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.cancelled():
        return  # the caller gave up waiting (the write itself was done all the same)
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


class InlineWriter:
    """The writes on the caller's own store, in the caller's thread."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(self, write: Callable[[Store], T], *, urgent: bool = False) -> T:
        return write(self.store)
