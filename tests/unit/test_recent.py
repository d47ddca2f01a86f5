"""The shared site list: consoles asking at once share one computation, a change makes the next one
fresh, and a computation that began before a change is not handed to those who ask after it."""

from __future__ import annotations

import asyncio

from cloud.api.recent import Recent


async def test_askers_share_one_computation_and_a_change_is_never_answered_from_before_it() -> None:
    recent = Recent(ttl=60)
    state = {"alarms": 0}
    started = asyncio.Event()
    release = asyncio.Event()

    async def compute() -> bytes:
        seen = state["alarms"]
        started.set()
        await release.wait()
        return f"alarms={seen}".encode()

    first = [asyncio.ensure_future(recent.get(compute)) for _ in range(5)]  # five consoles at once
    await started.wait()
    state["alarms"] = 1  # an alarm while the list is being computed
    recent.invalidate()
    started.clear()
    after = asyncio.ensure_future(recent.get(compute))
    await started.wait()
    release.set()
    assert {await f for f in first} == {b"alarms=0"}
    assert await after == b"alarms=1"  # asked after the change: not the list from before it
    assert recent.computed == 2
    assert await recent.get(compute) == b"alarms=1" and recent.computed == 2  # kept, nothing changed
