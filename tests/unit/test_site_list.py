"""The site list as a read model (cloud.site_list): consoles asking at once share one reading, a change
re-reads only its own site, and nobody who asks after a change gets a list from before it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from cloud.site_list import SiteList
from cloud.store import Store
from devices.contract import as_birth
from tests.support.records import checked

INVENTORY = {f"shed-{n}": {"name": f"{n}号充电棚", "kind": "charging_shed", "street": "西溪街道", "gateway": f"gw{n}"}
             for n in range(1, 6)}


def _born(store: Store) -> None:
    for n in range(1, 6):
        store.save_birth(f"shed-{n}", f"gw{n}", as_birth({
            "boot": "b1", "seq": 0, "bdseq": 1, "devices": [{"id": "sd1", "values": {"smoke_alarm": False}}]}))


def _fire(store: Store, site: str, gateway: str, record: str) -> int:
    store.store_records(site, gateway, checked([{"id": record, "type": "alarm", "key": "sd1/smoke", "device": "sd1",
                                                 "rule": "smoke", "class": "fire", "severity": 1, "state": "active",
                                                 "value": True}], site=site))
    return store.touched[0]


def _sites(body: bytes) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in json.loads(body)}


async def test_askers_share_a_reading_and_a_change_rereads_only_its_site(tmp_path: Any) -> None:
    store = Store(tmp_path / "s.db")
    try:
        _born(store)
        sites = SiteList(INVENTORY, whole_every_s=3600)
        reads: list[int] = []

        async def read(query: Callable[[Store], dict[str, bytes]]) -> dict[str, bytes]:
            await asyncio.sleep(0.01)  # a reader thread's round trip: the askers overlap
            answer = query(store)
            reads.append(len(answer))
            return answer

        bodies = await asyncio.gather(*(sites.body(read) for _ in range(5)))  # five consoles at once
        assert reads == [5] and len(set(bodies)) == 1
        assert {s["status"] for s in _sites(bodies[0]).values()} == {"ok"}

        alarm = _fire(store, "shed-3", "gw3", "r1")
        sites.changed({"type": "alarm", "alarm": {"id": alarm, "site": "shed-3"}})
        after = _sites(await sites.body(read))
        assert reads == [5, 1] and sites.refreshed == 1  # only shed-3 was read again
        assert after["shed-3"]["status"] == "fire" and after["shed-3"]["open_alarms"] == 1
        assert after["shed-2"] == _sites(bodies[0])["shed-2"]
    finally:
        store.close()


async def test_a_change_during_a_reading_is_in_the_next_answer(tmp_path: Any) -> None:
    store = Store(tmp_path / "s.db")
    try:
        _born(store)
        sites = SiteList(INVENTORY, whole_every_s=3600)
        await sites.body(lambda query: _now(query(store)))
        started, release = asyncio.Event(), asyncio.Event()
        _fire(store, "shed-1", "gw1", "r1")
        sites.changed({"type": "alarm", "alarm": {"site": "shed-1"}})

        async def slow(query: Callable[[Store], dict[str, bytes]]) -> dict[str, bytes]:
            answer = query(store)  # read before the second fire is stored ...
            started.set()
            await release.wait()
            return answer

        first = asyncio.ensure_future(sites.body(slow))
        await started.wait()
        _fire(store, "shed-2", "gw2", "r2")  # ... which happens while the first asker waits
        sites.changed({"type": "alarm", "alarm": {"site": "shed-2"}})
        second = asyncio.ensure_future(sites.body(lambda query: _now(query(store))))
        release.set()
        assert _sites(await first)["shed-2"]["status"] == "ok"
        assert _sites(await second)["shed-2"]["status"] == "fire"  # asked after the change: not from before it
        sites.changed({"type": "resync"})  # no site named: everything is read again
        await sites.body(lambda query: _now(query(store)))
        assert sites.rebuilds == 2
    finally:
        store.close()


async def _now(answer: dict[str, bytes]) -> dict[str, bytes]:
    return answer
