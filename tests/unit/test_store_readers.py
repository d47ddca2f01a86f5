"""Issue 13.1: the API's reads run on reader threads with connections of their own (the event loop's store
keeps ingesting), and see every write committed before them, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

from cloud.store import Store
from cloud.store.readers import StoreReaders
from tests.support.records import checked

ALARM = {"id": "o:1", "type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "severity": 1,
         "device": "sd1"}


async def test_reads_run_off_the_loop_thread_and_see_what_was_committed(store_at: str) -> None:
    store = Store(store_at)
    readers = StoreReaders(store_at)
    try:
        assert await readers(lambda s: s.alarms()) == []
        store.store_records("s1", "gw1", checked([ALARM]))
        where, keys = await readers(lambda s: (threading.current_thread().name,
                                               [a["key"] for a in s.alarms()]))
        assert where.startswith("store-read") and where != threading.current_thread().name
        assert keys == ["sd1/smoke"]  # committed before the read: seen by the reader's own connection
        handled = store.handle(store.alarms()[0]["id"], "acknowledge", "duty")
        seen = await readers(lambda s: s.alarm(handled["id"]))
        assert seen is not None and seen["handling"] == handled["handling"] == "acknowledged"
    finally:
        readers.close()
        store.close()
