"""A cancel is never lost in an MQTT call (CI hang of 2026-12-02, reproduced here).

aiomqtt waits for a publish's acknowledgement with `asyncio.wait_for`; on Python 3.11 that swallows a
cancel arriving in the same loop turn as the acknowledgement (CPython gh-86296). The collector stand-in's
acker lost its cancel that way, ran on, and the test's teardown waited for it until pytest's 300 s
timeout. `keep_cancel` gives the cancel back."""

from __future__ import annotations

import asyncio

import pytest

from devices.mqtt_transport import keep_cancel

pytestmark = pytest.mark.unit


async def acknowledged(ack: asyncio.Future[None]) -> None:
    await asyncio.wait_for(ack, 10)  # as aiomqtt waits for a PUBACK


async def test_a_cancel_that_comes_as_the_acknowledgement_arrives_still_cancels() -> None:
    ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(keep_cancel(acknowledged(ack)))
    await asyncio.sleep(0)  # the task now waits for the acknowledgement
    ack.set_result(None)
    task.cancel()  # same loop turn
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_plain_acknowledgement_returns_and_an_earlier_cancel_request_does_not_count() -> None:
    async def cleanup_after_cancel() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(ack.set_result, None)
            await keep_cancel(acknowledged(ack))  # a last message sent while stopping goes out and returns
            return "sent while stopping"
        return "not cancelled"

    task = asyncio.create_task(cleanup_after_cancel())
    await asyncio.sleep(0)
    task.cancel()
    assert await task == "sent while stopping"
