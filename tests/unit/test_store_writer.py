"""Issue 13.1: the collector's writes run on one writer thread with its own connection, so the event loop
keeps turning while a transaction commits; writes apply one at a time in the order they were asked for,
and what the writer committed is what the loop's own store reads, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable

import pytest

from cloud.store import Store
from cloud.store.writer import StoreWriter
from tests.support.records import checked


def _smoke(n: int) -> dict[str, object]:
    return {"id": f"o:{n}", "type": "alarm", "key": "sd1/smoke", "state": "active" if n % 2 else "cleared",
            "class": "fire", "severity": 1, "device": "sd1"}


async def test_the_loop_keeps_turning_while_a_write_is_in_progress(store_at: str) -> None:
    store = Store(store_at)
    writer = StoreWriter(store_at)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def slow_write(s: Store) -> str:
        with s.sql.transaction():
            s.store_records("s1", "gw1", checked([_smoke(1)]))
            time.sleep(0.5)  # a long commit: an fsync on a slow card, a round trip to a far database
        return threading.current_thread().name

    ticker = asyncio.get_running_loop().create_task(tick())
    try:
        where = await writer(slow_write)
        assert where.startswith("store-write")
        assert ticks >= 20, f"the loop turned {ticks} times in a 0.5 s write"
        assert [a["key"] for a in store.alarms()] == ["sd1/smoke"]  # committed, seen by another connection
    finally:
        ticker.cancel()
        writer.close()
        store.close()


async def test_writes_apply_in_the_order_they_were_asked_for(store_at: str) -> None:
    store = Store(store_at)
    writer = StoreWriter(store_at)
    try:
        # 20 records of one condition, raised and cleared in turn, each its own write, all asked at once:
        # the alarm's count and last condition say they were applied in order, none twice.
        results = await asyncio.gather(*(writer(functools.partial(_store, records=[_smoke(n)]))
                                         for n in range(1, 21)))
        assert [new for _, new in results] == [1] * 20
        alarms = store.alarms()
        assert len(alarms) == 1 and alarms[0]["condition"] == "cleared"  # n = 20 was the last one applied
        log = [entry["action"] for entry in store.alarm_log(alarms[0]["id"])]
        assert log == ["raised"] + ["condition cleared", "repeated"] * 9 + ["condition cleared"]
        # a write that fails is the caller's error, and the writer goes on
        with pytest.raises(KeyError):
            await writer(lambda s: s.handle(999, "acknowledge", "duty"))
        acknowledged = await writer(lambda s: s.handle(alarms[0]["id"], "acknowledge", "duty"))
        assert acknowledged["handling"] == "acknowledged"
    finally:
        writer.close()
        store.close()


async def test_an_urgent_write_goes_before_the_ordinary_ones_waiting(store_at: str) -> None:
    writer = StoreWriter(store_at)
    done: list[str] = []

    def ordinary(name: str, pause: float = 0.0) -> Callable[[Store], None]:
        def write(s: Store) -> None:
            time.sleep(pause)
            done.append(name)
        return write

    try:
        await writer(lambda s: None)  # the connection is open
        waiting = [asyncio.ensure_future(writer(ordinary("telemetry 1", pause=0.3)))]
        await asyncio.sleep(0.05)  # telemetry 1 is being written
        waiting += [asyncio.ensure_future(writer(ordinary(f"telemetry {n}"))) for n in (2, 3, 4)]
        await asyncio.sleep(0)
        waiting.append(asyncio.ensure_future(writer(ordinary("fire"), urgent=True)))
        await asyncio.gather(*waiting)
        assert done == ["telemetry 1", "fire", "telemetry 2", "telemetry 3", "telemetry 4"]
    finally:
        writer.close()


async def test_writes_waiting_together_commit_together_and_a_failing_one_takes_nothing_with_it(
        store_at: str) -> None:
    store = Store(store_at)
    writer = StoreWriter(store_at)

    def broken(s: Store) -> None:
        s.store_records("s1", "gw1", checked([{"id": "half", "type": "reading", "device": "sd1",
                                                "values": {"temperature": 20}}]))
        raise ValueError("this write fails half way")

    try:
        await writer(lambda s: None)
        busy = asyncio.ensure_future(writer(lambda s: time.sleep(0.3)))
        await asyncio.sleep(0.05)
        waiting = [asyncio.ensure_future(writer(functools.partial(_store, records=[
            {"id": f"r{n}", "type": "reading", "device": "sd1", "values": {"temperature": 20 + n}}])))
            for n in range(5)]
        failing = asyncio.ensure_future(writer(broken))
        later = asyncio.ensure_future(writer(lambda s: s.store_records("s1", "gw1", checked([
            {"id": "r9", "type": "reading", "device": "sd1", "values": {"temperature": 29}}]))))
        await busy
        assert [new for _, new in await asyncio.gather(*waiting)] == [1] * 5
        with pytest.raises(ValueError, match="half way"):
            await failing
        assert (await later)[1] == 1
        assert store.count("readings") == 6  # r0..r4 and r9; nothing of the failed write
        assert store.count("records") == 6
    finally:
        writer.close()
        store.close()


def _store(store: Store, *, records: list[dict[str, object]]) -> tuple[list[str], int]:
    return store.store_records("s1", "gw1", checked(records))
