"""The collector's pure parts and its store: the alarm life cycle, message checks, folding, idempotency."""

from __future__ import annotations

import msgpack
import pytest

from cloud.alarm_lifecycle import Refused, next_handling, overdue_for_escalation
from cloud.ingest import Ingest
from cloud.store import Store
from devices.protocol import encode
from tests.support.records import checked, checked_birth


def test_the_life_cycle_and_its_refusals() -> None:
    state = "raised"
    for action in ("acknowledge", "verify", "confirm", "dispose"):
        state = next_handling(state, "active", action)
    assert state == "disposing"
    with pytest.raises(Refused, match="still active"):
        next_handling(state, "active", "close", {"result": "extinguished", "notes": ""})
    with pytest.raises(Refused, match="needs a disposition"):
        next_handling(state, "cleared", "close", {"result": " "})
    assert next_handling(state, "cleared", "close", {"result": "extinguished"}) == "closed"
    with pytest.raises(Refused, match="cannot verify an alarm that is raised"):
        next_handling("raised", "active", "verify")
    assert next_handling("verifying", "cleared", "false_alarm") == "false_alarm"
    assert next_handling("false_alarm", "cleared", "close", {"result": "dust"}) == "closed"


def test_escalation_is_due_per_class_and_level() -> None:
    assert not overdue_for_escalation("raised", "fire", 1000.0, 0, 1059.0)
    assert overdue_for_escalation("raised", "fire", 1000.0, 0, 1060.0)
    assert not overdue_for_escalation("raised", "fire", 1000.0, 1, 1100.0)
    assert overdue_for_escalation("raised", "fire", 1000.0, 1, 1120.0)
    assert not overdue_for_escalation("acknowledged", "fire", 1000.0, 0, 5000.0)


def message(**kw: object) -> bytes:
    return encode({"boot": "b1", "seq": 1, **kw})


ALARM = {"id": "o:1", "type": "alarm", "key": "sd1/smoke", "state": "active", "class": "fire", "severity": 1,
         "site": "s1", "t": 1_800_000_000.0, "mono": 5.0, "trusted": True}


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("ff/v1/s1/gw1/alarms", b"\xc1\xff garbage", "not msgpack"),
    ("ff/v1/s1/gw1/alarms", msgpack.packb([1, 2, 3]), "bad payload"),
    ("ff/v1/s1/gw1/alarms", b"\x80" + b"x" * 300_000, "oversize"),
    ("ff/v1/s1/gw1/alarms", message(records="nope"), "bad payload"),
    ("ff/v1/s1/gw1/alarms", message(boot=7, records=[ALARM]), "bad payload"),
    ("ff/v1/s1/gw1/alarms", message(seq=float("nan"), records=[ALARM]), "bad payload"),
    ("ff/v1/s1/gw1/birth", message(devices=[{"id": "sd1", "values": [1]}]), "bad payload"),
    ("ff/v1/s1/gw1/birth", message(devices=[{"id": "sd1", "values": {"a": [[[1]]]}}]), "bad payload"),
    ("ff/v1/s1/gw1/heartbeat", message(health=[1]), "bad payload"),
    ("ff/v1/s1/gw9/alarms", message(records=[ALARM]), "unknown gateway"),
    ("ff/v1/s2/gw1/alarms", message(records=[{**ALARM, "site": "s2"}]), "wrong site"),
    ("ff/v2/s1/gw1/alarms", message(records=[ALARM]), "bad topic"),
])
def test_bad_messages_are_refused_and_counted(topic: str, payload: bytes, reason: str) -> None:
    ingest = Ingest({"gw1": "s1"})
    verdict = ingest.check(topic, payload)
    assert not verdict.ok and verdict.refused.startswith(reason)
    assert ingest.refused[reason] == 1
    assert ingest.check("ff/v1/s1/gw1/alarms", message(records=[ALARM])).ok


def test_store_folds_repeats_skips_replays_and_keeps_the_audit(store_at: str) -> None:
    store = Store(store_at, streets={"s1": "西溪街道"})
    first = {**ALARM, "device": "sd1", "t": 100.0}
    assert store.store_records("s1", "gw1", checked([first])) == (["o:1"], 1)
    assert store.store_records("s1", "gw1", checked([first])) == (["o:1"], 0)  # a replay: acked again, applied once
    store.store_records("s1", "gw1", checked([{**first, "id": "o:2", "state": "cleared"},
                                      {**first, "id": "o:3"}]))
    alarms = store.alarms()
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm["street"], alarm["class"], alarm["count"], alarm["condition"]) == ("西溪街道", "fire", 2, "active")
    with pytest.raises(Refused):
        store.handle(alarm["id"], "close", "duty-1", disposition={"result": "x"})
    for action in ("acknowledge", "verify", "confirm", "dispose"):
        store.handle(alarm["id"], action, "duty-1")
    store.store_records("s1", "gw1", checked([{**first, "id": "o:4", "state": "cleared"}]))
    closed = store.handle(alarm["id"], "close", "duty-1", notes="all clear",
                          disposition={"result": "smoke from cooking", "notes": "no fire"})
    assert closed["handling"] == "closed"
    actions = [entry["action"] for entry in store.alarm_log(alarm["id"])]
    assert actions == ["raised", "condition cleared", "repeated", "acknowledge", "verify", "confirm", "dispose",
                       "condition cleared", "close"]
    store.store_records("s1", "gw1", checked([{**first, "id": "o:5"}]))  # the same condition again: a new alarm
    assert [a["count"] for a in store.alarms()] == [1]
    store.close()
    reopened = Store(store_at)  # migrations run once
    assert reopened.count("records") == 5
    reopened.close()


def test_open_enrolment_binds_a_new_gateway_to_its_first_site() -> None:
    ingest = Ingest({}, open_enrolment=True)
    assert ingest.check("ff/v1/s1/gw7/alarms", message(records=[ALARM])).ok
    other = ingest.check("ff/v1/s2/gw7/alarms", message(records=[{**ALARM, "site": "s2"}]))
    assert other.refused.startswith("wrong site")


GOOD_EVENT = {"id": "o:9", "type": "event", "site": "s1", "device": "sd3", "kind": "device_offline", "details": {},
              "t": 1_800_000_000.0, "mono": 5.0, "trusted": True}


@pytest.mark.parametrize("bad", [
    {**ALARM, "t": "x"}, {**ALARM, "t": None}, {**ALARM, "t": float("nan")}, {**ALARM, "t": [1]},
    {**ALARM, "t": float("inf")}, {**ALARM, "state": 1}, {**ALARM, "class": "panic"}, {**ALARM, "severity": 99},
    {**ALARM, "key": ""}, {**ALARM, "key": "k" * 5000}, {**ALARM, "value": [[[[1]]]]},
    {**ALARM, "type": "reading"}, {**ALARM, "site": "s2"}, {k: v for k, v in ALARM.items() if k != "t"},
    {**GOOD_EVENT, "t": "x"}, {**GOOD_EVENT, "kind": "DROP TABLE"},
])
def test_a_bad_record_is_set_aside_alone_with_its_reason_and_its_neighbours_go_on(bad: dict[str, object]) -> None:
    ingest = Ingest({"gw1": "s1"})
    good = {**ALARM, "id": "o:2"}
    lane = "events" if bad.get("kind") is not None else "alarms"
    neighbour = {**GOOD_EVENT, "id": "o:2"} if lane == "events" else good
    verdict = ingest.check(f"ff/v1/s1/gw1/{lane}", message(records=[{**bad, "id": "o:1"}, neighbour]))
    assert verdict.ok, verdict.refused
    assert [r.id for r in verdict.records] == ["o:2"]
    assert [(r.record_id, bool(r.reason)) for r in verdict.rejects] == [("o:1", True)]
    assert msgpack.unpackb(verdict.rejects[0].raw)["id"] == "o:1"  # the raw bytes, kept for inspection
    assert ingest.rejected_records == 1


def test_a_quarantined_record_raises_one_ingest_error_alarm_per_gateway(store_at: str) -> None:
    store = Store(store_at)
    ingest = Ingest({"gw1": "s1"})
    for n in range(3):
        verdict = ingest.check("ff/v1/s1/gw1/alarms", message(records=[{**ALARM, "id": f"o:{n}", "t": "x"}]))
        store.quarantine("s1", "gw1", "ff/v1/s1/gw1/alarms", verdict.rejects)
    alarms = store.alarms()
    assert [(a["key"], a["class"], a["count"]) for a in alarms] == [("gw1/ingest-error", "fault", 3)]
    kept = store.quarantined("gw1")
    assert len(kept) == 3 and "record.t" in kept[0]["reason"] and kept[0]["record_id"] == "o:2"
    assert msgpack.unpackb(bytes.fromhex(kept[0]["raw_hex"]))["t"] == "x"


def test_record_ids_are_unique_per_gateway_never_across_gateways(store_at: str) -> None:
    """A station gateway publishing the shed's next record ids on its own topic must not make the shed's
    real smoke alarm look like a replay."""
    store = Store(store_at)
    forged = checked([{**ALARM, "id": "shed:273", "key": "x/forged", "site": "s2"}], site="s2")
    assert store.store_records("s2", "gw-station", forged) == (["shed:273"], 1)
    real = checked([{**ALARM, "id": "shed:273"}])
    assert store.store_records("s1", "gw-shed", real) == (["shed:273"], 1)
    assert {a["key"] for a in store.alarms()} == {"x/forged", "sd1/smoke"}
    smoke = next(a for a in store.alarms() if a["key"] == "sd1/smoke")
    assert all("shed:273" not in str(entry) for entry in store.alarm_log(smoke["id"]))  # ids are not for viewers


def test_an_untrusted_gateway_clock_is_placed_on_ours_through_its_monotonic_time(store_at: str) -> None:
    """Issue 10.8, reproduced on the old main: records replayed after an outage from a gateway whose clock
    is not set carried their arrival time ("lasted 0 s"), so escalation started late."""
    import time

    store = Store(store_at)
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "mono": 5000.0, "clk": "k1",
                                                 "trusted": False, "t": 100.0}))
    before = time.time()
    store.store_records("s1", "gw1", checked([
        {**ALARM, "id": "o:1", "trusted": False, "t": 100.0, "mono": 5000.0 - 120, "clk": "k1"},
        {**ALARM, "id": "o:2", "key": "sd2/smoke", "trusted": False, "t": 100.0, "mono": 7.0, "clk": "other-boot"}]))
    by_key = {a["key"]: a for a in store.alarms()}
    occurred = by_key["sd1/smoke"]
    assert abs(occurred["raised_at"] - (before - 120)) < 2, "placed two minutes back, where it happened"
    assert occurred["received_at"] >= before and occurred["escalate_at"] < before  # escalation already due
    assert by_key["sd2/smoke"]["raised_at"] >= before  # another kernel boot: only the arrival time is known
    store.close()


def test_a_clear_that_overtakes_its_raise_is_applied_in_the_order_they_happened(store_at: str) -> None:
    """Issue 10.10, reproduced on the old main: the clear recorded during an outage went first on reconnect
    and was dropped ("no open alarm"), then the raise arrived and stayed active for good."""
    store = Store(store_at)
    store.store_records("s1", "gw1", checked([{**ALARM, "id": "o:2", "state": "cleared", "t": 1_800_000_010.0}]))
    assert store.alarms() == []
    store.store_records("s1", "gw1", checked([{**ALARM, "id": "o:1", "t": 1_800_000_000.0}]))
    [alarm] = store.alarms()
    assert (alarm["condition"], alarm["raised_at"]) == ("cleared", 1_800_000_000.0)  # it can be closed
    # within an open alarm too: a raise older than the clear in force does not reactivate it
    store.store_records("s1", "gw1", checked([{**ALARM, "id": "o:0", "t": 1_799_999_990.0}]))
    assert store.alarms()[0]["condition"] == "cleared"
    store.store_records("s1", "gw1", checked([{**ALARM, "id": "o:3", "t": 1_800_000_020.0}]))  # a new raise
    assert store.alarms()[0]["condition"] == "active"
    store.close()


def test_the_next_escalation_is_one_query_and_agrees_with_the_life_cycle(store_at: str) -> None:
    store = Store(store_at)
    store.store_records("s1", "gw1", checked([{**ALARM, "t": 1_800_000_000.0},
                                              {**ALARM, "id": "o:2", "key": "sd2/fault", "class": "fault",
                                               "t": 1_799_999_000.0}]))
    by_key = {a["key"]: a for a in store.alarms()}
    assert store.next_escalation() == min(a["escalate_at"] for a in by_key.values()) == 1_800_000_060.0
    store.handle(by_key["sd1/smoke"]["id"], "acknowledge", "duty-1")
    assert store.next_escalation() == by_key["sd2/fault"]["escalate_at"] == 1_799_999_000.0 + 1800
    store.handle(by_key["sd2/fault"]["id"], "acknowledge", "duty-1")
    assert store.next_escalation() is None
