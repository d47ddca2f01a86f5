"""Readiness of the whole district from the store's device states and the inventory's requirements."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from cloud.readiness import station_readiness, street_scores
from cloud.store import Store

__all__ = ["district_readiness", "snapshot_readiness"]


def district_readiness(store: Store, inventory: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    devices: dict[str, dict[str, dict[str, Any]]] = {}
    for dev in store.devices({site_id for site_id, site in inventory.items() if site.get("equipment")}):
        devices.setdefault(dev["site"], {})[dev["id"]] = dev  # only the stations' devices count
    stations = []
    for site_id, site in inventory.items():
        if not site.get("equipment"):
            continue
        result = station_readiness(site["equipment"], devices.get(site_id, {}))
        stations.append({"site": site_id, "name": site["name"], "kind": site["kind"], "street": site["street"],
                         **result})
    streets = street_scores({s["site"]: (s["street"], s["score"]) for s in stations})
    return {"stations": stations, "streets": streets}


def snapshot_readiness(store: Store, inventory: Mapping[str, Mapping[str, Any]], now: float | None = None) -> None:
    """Keep today's readiness per station (the last one of the day counts) for trends and the monthly index."""
    day = time.strftime("%Y-%m-%d", time.localtime(time.time() if now is None else now))
    for station in district_readiness(store, inventory)["stations"]:
        store.save_readiness(day, station["site"], station["street"], station["score"], station["missing"])
