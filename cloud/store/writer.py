"""The collector's writes on one thread of their own, with its own connection to the store, so the event
loop keeps reading MQTT and serving HTTP while a transaction commits (an fsync on SQLite, a round trip
per statement on PostgreSQL).

One thread, so writes run one at a time, in the order they were asked for within each of two ranks:
an urgent write (an alarm record) goes before every ordinary one still waiting, so a fire has at most
the one commit in progress ahead of it, however many telemetry batches are queued (fire first,
cloud.collector). SQLite's single writer never waits on itself.

Group commit: the writes waiting when the thread turns to the queue (up to GROUP_MAX) run in one
transaction, each in a savepoint of its own, and are answered only after that one commit. A city's
gateways send small batches (28 readings each): one commit per message left the database waiting on its
disk between messages. A write that fails in a group is rolled back to its savepoint and tried again on
its own after the group's commit (it may have failed only for the company it was in: two collectors'
groups locking the same gateways in another order deadlock on PostgreSQL); if the group's transaction
itself fails, each of its writes is tried again on its own. Only the error of a write run alone reaches
its caller. Writes are database work only (no other side effects), so running one again is safe.

`InlineWriter` runs the same calls on the caller's store, for unit tests and tools.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from cloud.store import Store

__all__ = ["InlineWriter", "StoreWriter", "Writer"]

T = TypeVar("T")
GROUP_MAX = 64  # writes committed together at most
_Job = tuple[int, int, Callable[[Store], Any] | None, asyncio.Future[Any] | None, asyncio.AbstractEventLoop | None]


class Writer(Protocol):
    async def __call__(self, write: Callable[[Store], T], *, urgent: bool = False) -> T: ...


class StoreWriter:
    def __init__(self, location: str | Path, streets: dict[str, str] | None = None, *,
                 after_write: Callable[[Store, list[int]], None] | None = None) -> None:
        """`after_write(store, alarms)`: called in each write's own transaction with the alarms it opened
        or changed (`store.touched`), so what it adds (an announcement to the other collectors) commits
        with the write or not at all."""
        self.location = location
        self.streets = streets
        self.after_write = after_write
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.commits = 0  # transactions committed (a group of writes each), for /metrics
        self.commit_seconds = 0.0  # their time, summed

    @property
    def waiting(self) -> int:
        """Writes queued behind the one in hand."""
        return self._jobs.qsize()

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
                group = self._next_group()
                if not group:
                    return  # closed
                try:
                    if store is None:
                        store = Store(self.location, self.streets)
                    started = time.perf_counter()
                    outcomes = _run(store, group, self.after_write)
                    self.commits += 1
                    self.commit_seconds += time.perf_counter() - started
                except Exception:  # the group's transaction failed: nothing of it is stored
                    outcomes = [None] * len(group)
                except BaseException as exc:  # the store would not open, or the thread is ending
                    outcomes = [(None, exc)] * len(group)
                for job, outcome in zip(group, outcomes, strict=True):
                    if outcome is None:  # failed in the group: alone now
                        assert store is not None
                        outcome = _run(store, [job], self.after_write)[0]
                        assert outcome is not None
                    _, _, _, done, loop = job
                    assert done is not None and loop is not None
                    loop.call_soon_threadsafe(_settle, done, *outcome)
        finally:
            if store is not None:
                store.close()

    def _next_group(self) -> list[_Job]:
        """The next write and those waiting behind it (up to GROUP_MAX); empty once closed."""
        first = self._jobs.get()
        if first[2] is None:
            return []
        group = [first]
        while len(group) < GROUP_MAX:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job[2] is None:
                self._jobs.put(job)  # closing: after this group
                break
            group.append(job)
        return group

    def close(self) -> None:
        """Finish what was asked, then close the connection."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put((2, next(self._order), None, None, None))
            thread.join()


def _run(store: Store, group: list[_Job], after: Callable[[Store, list[int]], None] | None
         ) -> list[tuple[Any, BaseException | None] | None]:
    """Each write's (result, error); a group in one transaction, each write in a savepoint, and None for
    a write that failed there (to be run alone)."""
    if len(group) == 1:
        try:
            with store.sql.transaction():  # a write is all of it or none, however many statements it makes
                return [(_one(store, group[0], after), None)]
        except Exception as exc:  # the caller's to handle; the writer goes on
            return [(None, exc)]
    outcomes: list[tuple[Any, BaseException | None] | None] = []
    with store.sql.transaction():
        for job in group:
            try:
                with store.sql.transaction():
                    outcomes.append((_one(store, job, after), None))
            except Exception:  # rolled back to its savepoint; the group goes on
                outcomes.append(None)
    return outcomes


def _one(store: Store, job: _Job, after: Callable[[Store, list[int]], None] | None) -> Any:
    write = job[2]
    assert write is not None
    store.touched = []
    result = write(store)
    if after is not None and store.touched:
        after(store, list(store.touched))
    return result


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
