"""What the console shows of each site: where it is, its worst open alarm, its health and readiness.

Sites come from the inventory (known before their gateway ever speaks) and from gateway births (which
carry the site's place: name, kind, street, coordinates). A site with no birth yet has no coordinates.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from typing import Any

from cloud.alarm_lifecycle import CLASS_ORDER
from cloud.readiness import station_readiness
from cloud.store import Store

__all__ = ["device_page", "district_sites", "dossier_of", "site_page"]


def district_sites(store: Store, inventory: Mapping[str, Mapping[str, Any]], only: Collection[str] | None = None
                   ) -> list[dict[str, Any]]:
    """Every site by id (or only those in `only` that exist), each with `readiness` (a station's score) and,
    for stations, `readiness_detail` (categories and what is missing). The database reads only the sites
    asked for: one site's answer costs the same in a city as in a village."""
    places = store.places(only)
    ids = sorted(set(inventory) | set(places)) if only is None else sorted(
        s for s in only if s in inventory or s in places)
    wanted = set(ids)
    gateways = store.presence(wanted if only is not None else None)
    counts = store.device_counts(wanted if only is not None else None)
    devices: dict[str, list[dict[str, Any]]] = {}  # values are read only where readiness needs them
    for dev in store.devices({s for s in wanted if inventory.get(s, {}).get("equipment")}):
        devices.setdefault(dev["site"], []).append(dev)
    worst: dict[str, str] = {}
    open_alarms: dict[str, int] = {}
    for alarm in store.alarms(sites=wanted if only is not None else None):
        site = alarm["site"]
        open_alarms[site] = open_alarms.get(site, 0) + 1
        if alarm["condition"] == "active" and _rank(alarm["class"]) < _rank(worst.get(site)):
            worst[site] = alarm["class"]
    sites = []
    for site_id in ids:
        known, place = inventory.get(site_id, {}), places.get(site_id, {})
        gateway = gateways.get(site_id)
        total, offline, faulty = counts.get(site_id, (0, 0, 0))
        online = bool(gateway and gateway["online"])
        if site_id in worst:
            status = worst[site_id]
        elif gateway is None:
            status = "unknown"
        elif not online or offline:
            status = "offline"
        elif faulty:
            status = "fault"
        else:
            status = "ok"
        ready = (station_readiness(known["equipment"], {d["id"]: d for d in devices.get(site_id, [])})
                 if known.get("equipment") else None)
        sites.append({
            "id": site_id, "name": known.get("name") or place.get("name") or site_id,
            "kind": known.get("kind") or place.get("kind") or "", "street": known.get("street") or place.get("street")
            or "", "lat": place.get("lat"), "lon": place.get("lon"),
            "gateway": known.get("gateway") or place.get("gateway") or "", "gateway_online": online,
            "last_seen": gateway["last_seen"] if gateway else None, "status": status,
            "worst_alarm": worst.get(site_id), "open_alarms": open_alarms.get(site_id, 0), "devices": total,
            "devices_offline": offline, "devices_faulty": faulty, "readiness": ready["score"] if ready else None,
            "readiness_detail": ready})
    return sites


def site_page(store: Store, inventory: Mapping[str, Mapping[str, Any]], site_id: str) -> dict[str, Any] | None:
    found = district_sites(store, inventory, only={site_id})
    if not found:
        return None
    return {**found[0], "device_list": sorted(store.devices({site_id}), key=lambda d: d["id"]),
            "alarms": store.alarms(sites={site_id}), "dossier": dossier_of(inventory, site_id)}


def dossier_of(inventory: Mapping[str, Mapping[str, Any]], site_id: str) -> dict[str, Any] | None:
    """A site's dossier (一户一档) from the inventory, its nearest station named."""
    dossier = inventory.get(site_id, {}).get("dossier")
    if not dossier:
        return None
    station = dossier.get("nearest_station")
    if station:
        station = {**station, "name": inventory.get(station["site"], {}).get("name", station["site"])}
    return {**dossier, "nearest_station": station}


def device_page(store: Store, site_id: str, device_id: str, hours: float) -> dict[str, Any] | None:
    device = next((d for d in store.devices({site_id}) if d["id"] == device_id), None)
    if device is None:
        return None
    return {**device, "readings": store.readings(site_id, device_id, time.time() - hours * 3600),
            "events": store.device_events(site_id, device_id),
            "tickets": [t for t in store.tickets() if t["site"] == site_id and t["device"] == device_id],
            "alarms": [a for a in store.alarms(sites={site_id}) if a["device"] == device_id]}


def _rank(cls: str | None) -> int:
    return CLASS_ORDER.index(cls) if cls in CLASS_ORDER else len(CLASS_ORDER)
