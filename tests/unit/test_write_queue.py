"""Issue 12.2: a full write queue raised QueueFull through the bus worker and ended the agent's task group."""

from __future__ import annotations

import asyncio

from edge.bus_worker import WriteRequest, submit


async def test_a_full_write_queue_refuses_the_new_write_with_a_reason_and_raises_nothing() -> None:
    queue: asyncio.Queue[WriteRequest] = asyncio.Queue(maxsize=3)
    requests = [WriteRequest("box1", f"port{n}.relay", False) for n in range(1, 6)]
    for request in requests:
        submit(queue, request)
    assert queue.qsize() == 3
    assert [r.done.done() for r in requests] == [False, False, False, True, True]
    assert requests[4].done.result() == "refused: 3 writes already wait on this bus"
