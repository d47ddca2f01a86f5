"""Shift handovers and duty checks (cloud.store.duty) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.alarm_lifecycle import Refused
from cloud.store import Store
from devices.contract import as_birth
from tests.support.records import checked


@pytest.fixture
def store(store_at: str) -> Iterator[Store]:
    store = Store(store_at, {"shed-1": "西溪街道"})
    yield store
    store.close()


def test_a_handover_carries_what_stood_open_and_is_accepted_once_by_someone_else(store: Store) -> None:
    store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "seq": 0, "bdseq": 1, "devices": []}))
    store.save_birth("cab-1", "gw2", as_birth({"boot": "b", "seq": 0, "bdseq": 1, "devices": []}))
    store.gateway_lost("cab-1", "gw2", "death")
    store.store_records("shed-1", "gw1", checked([{"id": "r1", "type": "alarm", "key": "sd1/smoke", "device": "sd1",
                                                   "rule": "smoke", "class": "fire", "severity": 1, "state": "active",
                                                   "value": True}], site="shed-1"))
    fire = store.touched[0]
    written = store.write_handover("duty", "南侧烟感报警已派人核实，消防站已出动")
    counts = written["snapshot"]["counts"]
    assert counts["open"] == 2 and counts["offline_gateways"] == 1  # the fire and cab-1's communication fault
    assert fire in [a["id"] for a in written["snapshot"]["open"]]
    assert written["snapshot"]["offline_gateways"][0]["site"] == "cab-1"
    with pytest.raises(Refused) as own:
        store.accept_handover(written["id"], "duty")
    assert own.value.code == "own_handover"
    accepted = store.accept_handover(written["id"], "duty2", "已了解")
    assert (accepted["accepted_by"], accepted["accept_note"]) == ("duty2", "已了解")
    with pytest.raises(Refused) as twice:
        store.accept_handover(written["id"], "duty3")
    assert twice.value.code == "handover_accepted" and twice.value.params == {"who": "duty2"}
    assert [h["id"] for h in store.handovers()] == [written["id"]]


def test_a_duty_check_is_answered_in_time_or_missed_once(store: Store) -> None:
    answered = store.send_duty_check("admin", 60, now=1000.0)
    assert answered["state"] == "waiting"
    assert store.answer_duty_check(answered["id"], "duty", now=1030.0)["state"] == "answered"
    late = store.send_duty_check("schedule", 60, now=2000.0)
    assert store.miss_duty_checks(now=2059.0) == []
    with pytest.raises(Refused) as refused:
        store.answer_duty_check(late["id"], "duty", now=2061.0)
    assert refused.value.code == "check_missed"
    assert [c["id"] for c in store.miss_duty_checks(now=2061.0)] == [late["id"]]
    assert store.miss_duty_checks(now=3000.0) == []  # missed once
    states = {c["id"]: c["state"] for c in store.duty_checks()}
    assert states == {answered["id"]: "answered", late["id"]: "missed"}
