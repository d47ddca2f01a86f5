"""The RS-485 line's timer: an RTU silence may be longer than the standard's, never shorter."""

from __future__ import annotations

import time

from devices.precise_timer import PreciseTimer


async def test_a_sleep_never_ends_before_its_deadline_and_the_timer_rearms() -> None:
    timer = PreciseTimer()
    try:
        assert timer.precise  # Linux: a timerfd, not the event loop's millisecond timers
        for gap in (0.00175, 0.0003, 0.004, 0.00175):
            when = time.monotonic() + gap
            await timer.sleep_until(when)
            assert time.monotonic() >= when
    finally:
        timer.close()


async def test_a_deadline_already_past_returns_at_once_and_a_closed_timer_still_sleeps() -> None:
    timer = PreciseTimer()
    await timer.sleep_until(time.monotonic() - 1)  # no wait: the line has been silent long enough
    timer.close()
    assert not timer.precise
    when = time.monotonic() + 0.002
    await timer.sleep(0.002)  # falls back to the event loop's timer, still never short
    assert time.monotonic() >= when
