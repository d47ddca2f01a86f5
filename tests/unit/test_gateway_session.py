"""Following a gateway's sequence: gaps and unknown boots ask for one rebirth each (issue 12.2)."""

from __future__ import annotations

from cloud.gateway_session import GatewaySession, Step

NOTHING, GAP = Step(gap=False, ask_rebirth=False), Step(gap=True, ask_rebirth=True)


def test_in_order_and_repeated_messages_are_fine_and_a_gap_asks_for_one_rebirth() -> None:
    session = GatewaySession(boot="b1", bdseq=3, seq=10)
    assert session.follow("b1", 11) == NOTHING
    assert session.follow("b1", 11) == NOTHING  # a resend after a reconnect
    assert session.follow("b1", 9) == NOTHING
    assert session.follow("b1", 14) == GAP  # 12 and 13 went missing
    assert session.follow("b1", 17) == Step(gap=True, ask_rebirth=False)  # asked already for this boot
    assert session.follow("b1", 18) == NOTHING


def test_a_boot_without_a_birth_asks_once_not_once_per_heartbeat() -> None:
    """On the old main every message of an unknown boot asked for another rebirth until a birth came."""
    session = GatewaySession()  # the collector started after the gateway
    assert session.follow("b2", 40) == Step(gap=False, ask_rebirth=True)
    assert [session.follow("b2", n).ask_rebirth for n in range(41, 45)] == [False] * 4
    assert session.follow("b3", 1).ask_rebirth  # the agent restarted meanwhile: ask again


def test_a_death_counts_only_with_the_current_births_boot_and_bdseq() -> None:
    session = GatewaySession(boot="b1", bdseq=4)
    assert session.believes_death("b1", 4)
    assert not session.believes_death("b1", 3)  # the will of an earlier connection, arriving late
    assert not session.believes_death("b0", 4)
