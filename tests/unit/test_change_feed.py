"""Issue 13.2: what one collector changes reaches the others' screens, as an alarm id (read again from the
shared store) or a health change; an announcement that is neither is refused, counted, and delivers nothing."""

from __future__ import annotations

import json
from typing import Any

from cloud.change_feed import ChangeFeed


def feed() -> tuple[ChangeFeed, list[str]]:
    alarms = {7: {"id": 7, "key": "sd1/smoke", "class": "fire"}}

    async def load(alarm_id: int) -> dict[str, Any] | None:
        return alarms.get(alarm_id)

    made = ChangeFeed("postgresql://shared", load)
    return made, made.outgoing


async def test_an_alarm_goes_by_id_and_comes_back_read_from_the_store_and_own_changes_are_skipped() -> None:
    ours, sent = feed()
    theirs, _ = feed()
    ours.announce({"type": "alarm", "alarm": {"id": 7, "key": "sd1/smoke", "notes": "x" * 9000}})
    assert json.loads(sent[0])["event"] == {"type": "alarm", "id": 7}  # small, whatever the alarm holds
    got: list[dict[str, Any]] = []
    await theirs.receive(sent[0], got.append)
    await ours.receive(sent[0], got.append)  # its own announcement
    assert got == [{"type": "alarm", "alarm": {"id": 7, "key": "sd1/smoke", "class": "fire"}}]


async def test_announcements_that_are_not_an_alarm_id_or_a_health_change_are_refused_and_counted() -> None:
    theirs, _ = feed()
    got: list[dict[str, Any]] = []
    bad = ["not json", json.dumps({"origin": "x"}), json.dumps({"origin": "x", "event": {"type": "alarm", "id": "7"}}),
           json.dumps({"origin": "x", "event": {"type": "alarm", "id": True}}),
           json.dumps({"origin": "x", "event": {"type": "health", "gateway": "g", "site": "s", "online": "yes"}}),
           json.dumps({"origin": "x", "event": {"type": "script", "html": "<script>"}})]
    for payload in bad:
        await theirs.receive(payload, got.append)
    assert got == [] and theirs.refused == len(bad)
    await theirs.receive(json.dumps({"origin": "x", "event": {"type": "health", "gateway": "g", "site": "s",
                                                                "online": False, "extra": "dropped"}}), got.append)
    assert got == [{"type": "health", "gateway": "g", "site": "s", "online": False}] and theirs.received == 1
