"""The site list a duty officer's map shows: each site's devices, offline and faulty ones counted by the
database (a city has 700,000 devices), on SQLite and on PostgreSQL, and still right as values change."""

from __future__ import annotations

from cloud.site_overview import district_sites
from cloud.store import Store
from devices.contract import as_birth
from tests.support.records import checked

INVENTORY = {"shed-1": {"name": "一号充电棚", "kind": "charging_shed", "street": "西溪街道", "gateway": "gw1"},
             "shed-2": {"name": "二号充电棚", "kind": "charging_shed", "street": "西溪街道", "gateway": "gw2"}}


def _birth(devices: list[dict[str, object]]) -> object:
    return as_birth({"boot": "b1", "seq": 0, "bdseq": 1, "devices": devices})


def _counts(store: Store) -> dict[str, tuple[int, int, int]]:
    return {s["id"]: (s["devices"], s["devices_offline"], s["devices_faulty"]) for s in
            district_sites(store, INVENTORY)}


def test_devices_offline_and_faulty_are_counted_per_site(store_at: str) -> None:
    store = Store(store_at)
    try:
        store.save_birth("shed-1", "gw1", _birth([  # type: ignore[arg-type]
            {"id": "sd1", "values": {"smoke_alarm": False}},
            {"id": "sd2", "online": False, "values": {}},
            {"id": "sd3", "values": {"tamper": True}},
            {"id": "box1", "values": {"port1.temperature": 20}}]))
        store.save_birth("shed-2", "gw2", _birth([{"id": "sd1", "values": {"fault": "yes"}}]))  # type: ignore[arg-type]
        assert _counts(store) == {"shed-1": (4, 1, 1), "shed-2": (1, 0, 0)}  # only True is a fault
        store.store_records("shed-1", "gw1", checked([
            {"id": "r1", "type": "reading", "device": "sd1", "values": {"dirty_chamber": True}},
            {"id": "r2", "type": "reading", "device": "sd3", "values": {"tamper": False}}], site="shed-1"))
        assert _counts(store) == {"shed-1": (4, 1, 1), "shed-2": (1, 0, 0)}  # sd1 faulty now, sd3 no longer
        faults_changed = store.site_changed  # the site list reads shed-1 again (cloud.site_list)
        store.store_records("shed-1", "gw1", checked([
            {"id": "r3", "type": "reading", "device": "box1", "values": {"port1.temperature": 21}}], site="shed-1"))
        assert (faults_changed, store.site_changed) == (True, False)  # a temperature: nothing the list counts
        assert store.device("shed-1", "sd1")["values"] == {"smoke_alarm": False, "dirty_chamber": True}  # type: ignore[index]
        store.gateway_lost("shed-1", "gw1", "death")
        assert _counts(store)["shed-1"] == (4, 4, 1)  # nothing is known of its devices while it is gone
        sites = {s["id"]: s for s in district_sites(store, INVENTORY)}
        assert sites["shed-1"]["status"] == "fault"  # its communication fault is an open alarm
        assert sites["shed-2"]["status"] == "ok" and sites["shed-2"]["gateway_online"] is True
    finally:
        store.close()
