"""The event hub's overflow policy (issue 12.2): a client that stopped reading is dropped and told to end,
so its browser reconnects and reloads; the readers that keep up lose nothing."""

from __future__ import annotations

from cloud.event_hub import EventHub


async def test_a_client_that_stopped_reading_is_dropped_and_told_to_end_while_others_get_everything() -> None:
    hub = EventHub(queue_size=3)
    async with hub.subscribe() as stuck, hub.subscribe() as reading:
        got = []
        for n in range(5):
            hub.publish({"type": "alarm", "n": n})
            got.append(reading.get_nowait())  # this one keeps up
        assert [e["n"] for e in got if e] == [0, 1, 2, 3, 4]
        assert hub.dropped == 1 and hub.clients == 1
        left = [stuck.get_nowait() for _ in range(stuck.qsize())]
        assert left[-1] is None  # the end-of-stream marker: the page reconnects and fetches the list afresh
        hub.publish({"type": "alarm", "n": 5})
        assert stuck.empty() and reading.get_nowait() == {"type": "alarm", "n": 5}
    assert hub.clients == 0
