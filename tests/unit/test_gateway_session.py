"""Following a gateway's sequence: gaps and unknown boots ask for one rebirth each (issue 12.2)."""

from __future__ import annotations

from cloud.gateway_session import REBIRTH_AGAIN_S, GatewaySession, Step

NOTHING, GAP = Step(gap=False, ask_rebirth=False), Step(gap=True, ask_rebirth=True)


def test_in_order_and_repeated_messages_are_fine_and_a_gap_asks_for_one_rebirth() -> None:
    session = GatewaySession(boot="b1", bdseq=3, seq=10)
    assert session.follow("b1", 11) == NOTHING
    assert session.follow("b1", 11) == NOTHING  # a resend after a reconnect
    assert session.follow("b1", 9) == NOTHING
    assert session.follow("b1", 14, now=0) == NOTHING  # 12 and 13 may still come on the other lane
    assert session.follow("b1", 15, now=5) == NOTHING
    assert session.follow("b1", 16, now=10) == GAP  # 10 s and still missing: lost
    assert session.seq == 16
    assert session.follow("b1", 19, now=11) == NOTHING
    assert session.follow("b1", 20, now=21) == Step(gap=True, ask_rebirth=False)  # asked already for this boot
    assert session.follow("b1", 21, now=22) == NOTHING


def test_an_alarm_that_overtakes_the_telemetry_before_it_is_no_gap() -> None:
    """Issue 13: alarms come in on their own connection, ahead of a telemetry backlog; the messages they
    overtook arrive later and fill the hole. Only a hole that stays open is a gap."""
    session = GatewaySession(boot="b1", bdseq=1, seq=100)
    assert [session.follow("b1", n, now=1) for n in (104, 107)] == [NOTHING] * 2  # alarms, first
    assert [session.follow("b1", n, now=2) for n in (101, 102, 103, 105, 106)] == [NOTHING] * 5
    assert session.seq == 107 and not session.ahead
    many = [session.follow("b1", n, now=3) for n in range(109, 109 + 300)]  # 108 lost in a flood
    assert many.count(GAP) == 1 and session.seq >= 108


def test_a_boot_without_a_birth_asks_once_not_once_per_heartbeat() -> None:
    """On the old main every message of an unknown boot asked for another rebirth until a birth came."""
    session = GatewaySession()  # the collector started after the gateway
    assert session.follow("b2", 40) == Step(gap=False, ask_rebirth=True)
    assert [session.follow("b2", n).ask_rebirth for n in range(41, 45)] == [False] * 4
    assert session.follow("b3", 1).ask_rebirth  # the agent restarted meanwhile: ask again


def test_a_birth_that_never_came_is_asked_for_again_once_a_minute() -> None:
    """An overloaded collector drops messages unread; a dropped birth is not sent again by itself. At city
    scale on the old main thousands of gateways stayed unborn: each was asked once."""
    session = GatewaySession()
    assert session.follow("b2", 40, now=100.0).ask_rebirth
    assert not session.follow("b2", 41, now=100.0 + REBIRTH_AGAIN_S - 1).ask_rebirth
    assert session.follow("b2", 42, now=100.0 + REBIRTH_AGAIN_S).ask_rebirth  # still no birth: again
    session.adopt("b2", 1, 43)  # the birth came (here: stored by another collector)
    assert not session.follow("b2", 43, now=1000.0).ask_rebirth


def test_a_death_counts_only_with_the_current_births_boot_and_bdseq() -> None:
    session = GatewaySession(boot="b1", bdseq=4)
    assert session.believes_death("b1", 4)
    assert not session.believes_death("b1", 3)  # the will of an earlier connection, arriving late
    assert not session.believes_death("b0", 4)
