"""Gateway liveness under load: a collector whose own queues are full of unread messages (the heartbeats
may be among them) declares no gateway lost; once it has caught up, a gateway that is really silent is
declared lost. At 2,000 gateways on the old main a collector a few heartbeats behind declared 1,730 of
them lost and asked each for a birth."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from cloud.event_hub import EventHub
from cloud.leadership import Leadership
from cloud.main import BEHIND, _liveness
from cloud.store import Store
from cloud.store.writer import InlineWriter
from devices.contract import as_birth


class Queues:
    """What `_liveness` asks of a collector: how many messages wait unread."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting

    def backlog(self) -> int:
        return self.waiting


async def test_a_collector_behind_blames_no_gateway_and_once_caught_up_finds_the_silent_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "cloud.sqlite")
    store.save_birth("s1", "gw1", as_birth({"boot": "b1", "seq": 0, "bdseq": 1, "heartbeat_s": 0.2, "devices": []}))
    collector = Queues(BEHIND + 1)
    watch = asyncio.get_running_loop().create_task(
        _liveness(InlineWriter(store), EventHub(), Leadership(None), [collector], every=0.05))  # type: ignore[list-item]
    try:
        await asyncio.sleep(1.5)  # no heartbeat for 7 intervals, but the collector is behind
        assert store.gateway("gw1")["online"] == 1  # type: ignore[index]
        collector.waiting = 0  # caught up: the watch starts from now
        for _ in range(60):
            await asyncio.sleep(0.05)
            if not store.gateway("gw1")["online"]:  # type: ignore[index]
                break
        assert store.gateway("gw1")["online"] == 0  # type: ignore[index]
        assert [a["key"] for a in store.alarms()] == ["gw1/comm-lost"]
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        store.close()
