"""Records in flight between the edge and the collector: resent after their ack is late, bounded in number
(issue 12.2: the uplink's resend-after and max in flight had no unit tests). Times are passed in."""

from __future__ import annotations

from edge.inflight import Inflight


def test_a_record_whose_ack_is_late_is_sent_again_and_an_acked_one_never() -> None:
    inflight = Inflight(resend_after=10.0, limit=100)
    inflight.sent([1, 2, 3], at=100.0)
    inflight.acked(2)
    assert set(inflight.rows) == {1, 3}
    assert inflight.expire(now=110.0) == 0  # on time still
    inflight.sent([4], at=105.0)
    assert inflight.expire(now=110.5) == 2  # 1 and 3: the next drain sends them again
    assert set(inflight.rows) == {4}
    inflight.clear()  # a new connection: everything unacknowledged goes again
    assert not inflight.rows


def test_past_the_limit_the_uplink_waits_for_acks() -> None:
    inflight = Inflight(resend_after=10.0, limit=3)
    inflight.sent([1, 2], at=0.0)
    assert inflight.room()
    inflight.sent([3], at=0.0)
    assert not inflight.room()
    inflight.acked(1)
    assert inflight.room()
