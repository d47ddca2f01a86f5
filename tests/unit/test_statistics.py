"""Alarm statistics (cloud.statistics) from the store's facts (Store.alarm_facts, both engines)."""

from __future__ import annotations

import time

from cloud.statistics import statistics
from cloud.store import Store
from tests.support.records import checked

DAY = 86400.0


def test_the_figures_a_duty_centre_reports() -> None:
    t0 = time.mktime((2026, 11, 3, 10, 0, 0, 0, 0, -1))
    facts = [
        {"class": "fire", "street": "西溪街道", "site": "shed-1", "device": "sd1", "raised_at": t0,
         "acknowledged_at": t0 + 20, "closed_at": t0 + 600, "verdict": "false_alarm"},
        {"class": "fire", "street": "西溪街道", "site": "shed-1", "device": "sd1", "raised_at": t0 + DAY,
         "acknowledged_at": t0 + DAY + 40, "closed_at": None, "verdict": "confirm"},
        {"class": "supervisory", "street": "翠苑街道", "site": "cab-1", "device": "fc2", "raised_at": t0 + 30 * DAY,
         "acknowledged_at": None, "closed_at": None, "verdict": None},
    ] + [{"class": "fault", "street": "翠苑街道", "site": "cab-1", "device": f"fc{n}", "raised_at": t0 + n,
          "acknowledged_at": t0 + n + 100 * n, "closed_at": None, "verdict": None} for n in range(3, 13)]
    s = statistics(facts)
    assert s["alarms"] == 13
    assert s["by_class"] == {"fault": 10, "fire": 2, "supervisory": 1}
    assert s["by_street"] == {"翠苑街道": 11, "西溪街道": 2}
    assert s["by_month"] == {"2026-11": 12, "2026-12": 1}
    assert (s["false_alarm_rate"], s["verdicts"]) == (0.5, 2)
    assert s["to_acknowledge_s"] == {"n": 12, "median": 600.0, "p90": 1100.0}  # nearest rank: the 6th, the 11th
    assert s["to_close_s"] == {"n": 1, "median": 600.0, "p90": 600.0}
    assert s["noisiest_devices"][0] == {"site": "shed-1", "device": "sd1", "alarms": 2}
    assert len(s["noisiest_devices"]) == 10
    assert statistics([])["false_alarm_rate"] is None


def test_the_store_gives_each_alarm_its_acknowledgement_close_and_verdict(store_at: str) -> None:
    store = Store(store_at, {"shed-1": "西溪街道"})
    try:
        now = 1_800_000_000.0  # when the test's records say they happened
        for n, state in ((1, "active"), (2, "cleared")):
            store.store_records("shed-1", "gw1", checked([{"id": f"r{n}", "type": "alarm", "key": "sd1/smoke",
                                                           "device": "sd1", "rule": "smoke", "class": "fire",
                                                           "severity": 1, "state": state, "value": n == 1}],
                                                         site="shed-1"))
        alarm = store.alarms()[0]["id"]
        for action in ("acknowledge", "verify", "false_alarm"):
            store.handle(alarm, action, "duty")
        store.handle(alarm, "close", "duty", disposition={"result": "false_alarm", "notes": "做饭油烟"})
        (fact,) = store.alarm_facts(now - 60, now + 60)
        assert fact["verdict"] == "false_alarm" and fact["street"] == "西溪街道"
        assert fact["acknowledged_at"] <= fact["closed_at"]
        assert store.alarm_facts(now + 60, now + 120) == []
    finally:
        store.close()
