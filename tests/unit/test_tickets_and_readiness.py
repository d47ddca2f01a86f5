"""Maintenance tickets reach their deadlines; readiness matches a hand-computed example."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.alarm_lifecycle import Refused
from cloud.inventory import load_inventory
from cloud.readiness import Requirement, monthly_index, station_readiness, street_scores
from cloud.readiness_report import district_readiness
from cloud.store import Store
from cloud.tickets import DAY
from tests.conftest import ROOT
from tests.support.records import checked, checked_birth

NOW = 1_800_000_000.0


def test_readiness_matches_a_hand_computed_station() -> None:
    requirements = [
        Requirement("extinguishers", 8, device="em1", points="extinguisher*.pressure", min=1.0, max=1.4),
        Requirement("vehicles", 4, device="em1", points="vehicle*.soc", min=80),
        Requirement("monitoring", 2, devices=("em1", "sd-garage")),
    ]
    em1 = {"online": True, "values": {
        # 8 bays: 1.21 ok, 0.95 low, None empty bay, 1.30 ok, 1.50 over-pressure, 1.10, 1.40, 1.00 ok -> 5 ok
        **{f"extinguisher{n}.pressure": v for n, v in enumerate([1.21, 0.95, None, 1.30, 1.50, 1.10, 1.40, 1.00], 1)},
        # 4 vehicles: 96, 79 (below 80), 80, 41 -> 2 ok
        **{f"vehicle{n}.soc": v for n, v in enumerate([96, 79, 80, 41], 1)},
        "station_temperature": 18.0}}
    result = station_readiness(requirements, {"em1": em1, "sd-garage": {"online": False}})
    # by hand: extinguishers 5/8, vehicles 2/4, monitoring 1/2 -> (5 + 2 + 1) / (8 + 4 + 2) = 8/14 = 57.1 %
    assert result["score"] == 57.1
    assert [(c["category"], c["serviceable"], c["required"], c["score"]) for c in result["categories"]] == [
        ("extinguishers", 5, 8, 62.5), ("vehicles", 2, 4, 50.0), ("monitoring", 1, 2, 50.0)]
    assert result["missing"] == ["em1:extinguisher2.pressure", "em1:extinguisher3.pressure",
                                 "em1:extinguisher5.pressure", "em1:vehicle2.soc", "em1:vehicle4.soc", "sd-garage"]
    # an offline monitor's last values are stale: nothing it reports counts
    assert station_readiness(requirements, {"em1": {**em1, "online": False}})["score"] == 0.0


def test_street_scores_and_the_monthly_ranking() -> None:
    assert street_scores({"a": ("西溪街道", 80.0), "b": ("西溪街道", 60.0), "c": ("文新街道", 90.0)}) == {
        "西溪街道": 70.0, "文新街道": 90.0}
    daily = [("2026-11-01", "西溪街道", 70.0), ("2026-11-02", "西溪街道", 90.0), ("2026-11-01", "文新街道", 75.0),
             ("2026-11-02", "文新街道", 95.0), ("2026-11-01", "翠苑街道", 60.0)]
    assert monthly_index(daily) == [("文新街道", 85.0), ("西溪街道", 80.0), ("翠苑街道", 60.0)]


def birth(store: Store, devices: list[dict[str, Any]]) -> None:
    store.save_birth("s1", "gw1", checked_birth({"boot": "b", "seq": 1, "bdseq": 1, "devices": devices}))


def test_tickets_open_for_persistent_faults_with_district_deadlines(store_at: str) -> None:
    store = Store(store_at)
    birth(store, [{"id": "sd1", "profile": "hengan-sd100-fw1", "configured_profile": "hengan-sd100-fw1",
                   "values": {"battery": 12}},
                  {"id": "sd2", "profile": "hengan-sd100-fw2", "configured_profile": "hengan-sd100-fw1",
                   "values": {}},
                  {"id": "sd3", "profile": "hengan-sd100-fw1", "configured_profile": "hengan-sd100-fw1",
                   "values": {"dirty_chamber": False}}])
    store.store_records("s1", "gw1", checked([{"id": "o:1", "type": "event", "device": "sd3", "kind": "device_offline",
                                       "details": {}, "t": NOW}]))
    opened = store.evaluate_tickets(NOW + 60)
    assert {(t["device"], t["kind"], t["level"]) for t in opened} == {
        ("sd1", "low_battery", "street"), ("sd2", "firmware_mismatch", "district")}
    later = store.evaluate_tickets(NOW + 601)  # offline for over 10 minutes now
    assert [(t["device"], t["kind"]) for t in later] == [("sd3", "offline")]
    by_kind = {t["kind"]: t for t in store.tickets()}
    assert by_kind["low_battery"]["deadline"] == NOW + 60 + 15 * DAY
    assert by_kind["firmware_mismatch"]["deadline"] == NOW + 60 + 30 * DAY
    assert store.tickets(now=NOW + 16 * DAY, overdue_only=True) == [by_kind["low_battery"], by_kind["offline"]]
    assert {t["kind"] for t in store.tickets(now=NOW + 31 * DAY, overdue_only=True)} == {
        "low_battery", "offline", "firmware_mismatch"}
    # the detector comes back: its ticket waits for review, it is not closed by itself
    store.store_records("s1", "gw1", checked([{"id": "o:2", "type": "event", "device": "sd3", "kind": "device_online",
                                       "details": {}, "t": NOW + 700}]))
    assert [(t["kind"], t["status"]) for t in store.evaluate_tickets(NOW + 700)] == [("offline", "review")]
    with pytest.raises(Refused, match="needs notes"):
        store.close_ticket(by_kind["offline"]["id"], "tech-1", " ")
    closed = store.close_ticket(by_kind["offline"]["id"], "tech-1", "RS-485 connector re-seated")
    assert (closed["status"], closed["closed_by"]) == ("closed", "tech-1")
    assert store.evaluate_tickets(NOW + 800) == []
    store.close()


def test_the_example_inventory_reads_and_scores_the_example_district(store_at: str) -> None:
    inventory = load_inventory(ROOT / "deploy" / "examples" / "inventory.yaml")
    store = Store(store_at)
    store.save_birth("station-wenxin-01", "gw-station-wenxin-01", checked_birth({
        "boot": "b", "seq": 1, "bdseq": 1, "devices": [
        {"id": "em1", "values": {**{f"extinguisher{n}.pressure": 1.2 for n in range(1, 9)},
                                 **{f"vehicle{n}.soc": 90 for n in range(1, 5)}}},
        {"id": "sd-garage", "values": {}}]}))
    report = district_readiness(store, inventory)
    station = next(s for s in report["stations"] if s["site"] == "station-wenxin-01")
    assert station["score"] == 100.0 and station["missing"] == []
    assert report["streets"]["文新街道"] == 100.0
    store.close()


def test_device_health_summary_flags_what_a_technician_chases(store_at: str) -> None:
    import time

    store = Store(store_at)
    now = time.time()
    birth(store, [{"id": "sd1", "profile": "hengan-sd100-fw1", "configured_profile": "hengan-sd100-fw1",
                   "values": {"battery": 9, "dirty_chamber": True}},
                  {"id": "sd2", "profile": "hengan-sd100-fw2", "configured_profile": "hengan-sd100-fw1",
                   "values": {}},
                  {"id": "sd3", "profile": "hengan-sd100-fw1", "configured_profile": "hengan-sd100-fw1",
                   "values": {}}])
    store.sql.execute("UPDATE devices SET last_seen = ? WHERE id = 'sd2'", (now - 900,))
    for n, kind in enumerate(["device_offline", "device_online"] * 3):
        store.store_records("s1", "gw1", checked([{"id": f"o:{n}", "type": "event", "device": "sd3", "kind": kind,
                                           "details": {}, "t": now - 300 + n}]))
    store.gateway_heartbeat("s1", "gw1", 7, {"outbox": {"alarm": {"records": 0}}, "clock_trusted": True})
    health = {d["id"]: d for d in store.health_summary(now)["devices"]}
    assert health["sd1"]["low_battery"] and health["sd1"]["faults"] == ["dirty_chamber"]
    assert health["sd2"]["stale"] and health["sd2"]["firmware_mismatch"]
    assert health["sd3"]["flapping"] and health["sd3"]["online"]
    assert not health["sd1"]["stale"] and not health["sd1"]["flapping"]
    gateway = store.health_summary(now)["gateways"][0]
    assert gateway["online"] and gateway["health"]["clock_trusted"] is True
    store.close()


def test_old_readings_are_thinned_to_hourly_then_dropped(store_at: str) -> None:
    store = Store(store_at)
    birth(store, [{"id": "box1", "values": {}}])
    hour = 3600.0
    base = NOW - 10 * DAY
    readings = [{"id": f"r:{i}", "type": "reading", "device": "box1", "values": {"port1.temperature": i},
                 "t": base + i * 600} for i in range(12)]  # two hours, six readings an hour, 10 days ago
    readings.append({"id": "r:old", "type": "reading", "device": "box1", "values": {}, "t": NOW - 100 * DAY})
    readings.append({"id": "r:new", "type": "reading", "device": "box1", "values": {}, "t": NOW - hour})
    store.store_records("s1", "gw1", checked(readings))
    removed = store.prune_readings(NOW)
    left = [r[0] for r in store.sql.execute("SELECT id FROM readings ORDER BY t")]
    assert left == ["r:5", "r:11", "r:new"] and removed == 11
    store.close()


def test_a_gateway_whose_heartbeats_stop_is_lost_once_and_gets_one_ticket(store_at: str) -> None:
    store = Store(store_at)
    birth(store, [{"id": "sd1", "values": {}}, {"id": "sd2", "values": {}}])
    store.sql.execute("UPDATE gateways SET last_heartbeat = ?, heartbeat_s = 30", (NOW,))
    assert store.silent_gateways(NOW + 70, watching_since=NOW - 1000) == []  # 2.5 beats not yet missed
    assert store.silent_gateways(NOW + 80, watching_since=NOW + 60) == []  # this collector only just started
    assert store.silent_gateways(NOW + 80, watching_since=NOW - 1000) == [("s1", "gw1")]
    alarm = store.gateway_lost("s1", "gw1", "heartbeats stopped", at=NOW + 80)
    assert store.gateway_lost("s1", "gw1", "death", at=NOW + 81) is None  # already lost: nothing new
    assert [(a["id"], a["key"], a["condition"]) for a in store.alarms()] == [(alarm, "gw1/comm-lost", "active")]
    assert [d["online"] for d in store.devices()] == [None, None]
    assert store.evaluate_tickets(NOW + 300, offline_after=600) == []
    opened = store.evaluate_tickets(NOW + 700, offline_after=600)
    assert [(t["device"], t["kind"]) for t in opened] == [("", "gateway_offline")]  # one, not one per device
    store.gateway_heartbeat("s1", "gw1", 9, {})  # it is back
    assert store.alarms()[0]["condition"] == "cleared"
    assert [t["status"] for t in store.evaluate_tickets(NOW + 800, offline_after=600)] == ["review"]
    store.close()


def test_a_fault_that_holds_cannot_be_closed_and_one_that_returns_reopens_its_ticket(store_at: str) -> None:
    """Issue 10.12, reproduced on the old main: an offline ticket was closed while the detector was still
    offline; a new ticket opened seconds later with a fresh 15-day deadline and no link to the first."""
    store = Store(store_at)
    birth(store, [{"id": "sd3", "values": {}}])
    offline = [{"id": "o:1", "type": "event", "device": "sd3", "kind": "device_offline", "details": {}, "t": NOW}]
    store.store_records("s1", "gw1", checked(offline))
    [ticket] = store.evaluate_tickets(NOW + 700)
    with pytest.raises(Refused, match="still holds"):
        store.close_ticket(ticket["id"], "tech-1", "replaced it")
    deferred = store.defer_ticket(ticket["id"], "tech-1", "detector on order")
    assert (deferred["status"], deferred["deadline"]) == ("deferred", ticket["deadline"])
    assert store.evaluate_tickets(NOW + 800) == []  # still deferred while the fault holds
    store.store_records("s1", "gw1", checked([{**offline[0], "id": "o:2", "kind": "device_online", "t": NOW + 900}]))
    assert [t["status"] for t in store.evaluate_tickets(NOW + 900)] == ["review"]
    store.close_ticket(ticket["id"], "tech-1", "new detector fitted", now=NOW + 1000)
    store.store_records("s1", "gw1", checked([{**offline[0], "id": "o:3", "t": NOW + 2 * DAY}]))
    again = store.evaluate_tickets(NOW + 2 * DAY + 700)
    assert [(t["id"], t["status"], t["deadline"]) for t in again] == [(ticket["id"], "open", ticket["deadline"])]
    store.close()


def test_readings_of_the_last_days_are_kept_by_day_and_retention_drops_whole_days(store_at: str) -> None:
    """Issue 13: on PostgreSQL, readings live in day partitions and retention drops a day at once; on SQLite
    in one table. Either way, what a user sees is the same: recent readings kept, expired ones gone."""
    import time

    store = Store(store_at)
    birth(store, [{"id": "box1", "values": {}}])
    today = time.time() // DAY * DAY  # UTC midnight: partitions are UTC days
    store.store_records("s1", "gw1", checked([
        {"id": f"r:{n}", "type": "reading", "device": "box1", "values": {"port1.temperature": n},
         "t": today - n * DAY + 60} for n in (0, 1)]))
    assert [r["values"] for r in store.readings("s1", "box1", since=0)] == [{"port1.temperature": 1},
                                                                             {"port1.temperature": 0}]
    days = sorted(t for t in store.sql.table_names() if t.startswith("readings_2"))
    if store.sql.dialect == "postgresql":
        assert days == [time.strftime("readings_%Y%m%d", time.gmtime(today - n * DAY)) for n in (1, 0)]
    assert store.prune_readings(today + 90 * DAY + 30) == 1  # yesterday is past 90 days then, today not
    assert [r["values"] for r in store.readings("s1", "box1", since=0)] == [{"port1.temperature": 0}]
    if store.sql.dialect == "postgresql":
        assert sorted(t for t in store.sql.table_names() if t.startswith("readings_2")) == days[1:]
    store.close()
