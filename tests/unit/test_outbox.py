"""The outbox on real SQLite files: priority order, ack-only deletion, reopening, bounded thinning."""

from __future__ import annotations

from pathlib import Path

from devices.backoff import next_delay
from edge.device_health import DeviceHealth
from edge.outbox import Outbox
from tests.support.records import new_alarm, new_event, new_reading


def test_alarms_leave_first_and_only_an_ack_deletes(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.append_many([new_reading("d", t=i) for i in range(3)])
    box.append(new_event("action", device="d"))
    alarm = box.append(new_alarm("d/smoke", device="d"))
    order = [r.lane for r in box.next_batch(10)]
    assert order == ["alarm", "event", "telemetry", "telemetry", "telemetry"]
    assert box.next_batch(10)[0].id == alarm
    assert box.ack(["someone-else:1", alarm, alarm, "garbage"]) == 1
    assert box.depth()["alarm"]["records"] == 0 and box.depth()["telemetry"]["records"] == 3
    box.close()


def test_records_and_ids_survive_reopening(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    first = box.append(new_alarm("a"))
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert [r.id for r in again.next_batch(5)] == [first]
    second = again.append(new_alarm("b"))
    assert second != first and second.split(":")[0] == first.split(":")[0]
    again.ack([first, second])
    third = again.append(new_alarm("c"))
    assert third not in (first, second)  # row numbers are never reused
    again.close()


def test_telemetry_is_thinned_oldest_first_keeping_extremes_and_never_alarms(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", telemetry_budget=20_000)
    box.append(new_alarm("keep-me"))
    spike_at = 7
    for i in range(600):
        temperature = 95.0 if i == spike_at else 20.0 + (i % 5)
        box.append(new_reading("box1", t=float(i), temperature=temperature))
    depth = box.depth()
    assert depth["telemetry"]["bytes"] <= 20_000
    assert depth["alarm"]["records"] == 1
    assert box.thinned > 0
    oldest = box.next_batch(1, lane="telemetry")[0].record
    assert oldest["n"] > 1 and oldest["t0"] == 0.0
    kept = box.next_batch(10_000, lane="telemetry")
    assert max(r.record.get("max", r.record["values"])["temperature"] for r in kept) == 95.0
    newest = kept[-1].record
    assert newest["t"] == 599.0 and "n" not in newest  # the newest readings are untouched
    box.close()


def test_backoff_is_capped_and_jittered() -> None:
    import random

    rng = random.Random(1)
    delays = [next_delay(n, base=0.5, cap=8.0, rng=rng) for n in range(1, 12)]
    assert all(0 < d <= 8.0 for d in delays)
    assert delays[0] <= 0.5 and min(delays[6:]) >= 4.0


def test_device_health_parks_with_backoff_and_reports_transitions_once() -> None:
    health = DeviceHealth(offline_after=3, first_backoff=0.5, max_backoff=4.0)
    assert health.missed_at(0.0, "timeout") is None and not health.available(0.4) and health.available(0.5)
    assert health.missed_at(1.0, "timeout") is None and health.parked_until == 2.0
    assert health.missed_at(3.0, "timeout") == "offline"
    assert health.missed_at(8.0, "timeout") is None and health.parked_until == 12.0
    assert health.answered_at(13.0) == "online" and health.answered_at(14.0) is None
