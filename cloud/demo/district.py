"""The district at its real proportions for `firefleet demo --scale district`: about 70 micro stations,
90 charging sheds and 2,000 fire cabinets over 14 streets (the district report's figures). Pure: a seed
gives the same district every time.

Six sites are the demo's full ones (simulated devices, real edge agents); every other site is a
lightweight simulated gateway (simulators.gateway_fleet) that speaks the same MQTT contract with a
plausible set of devices and values, so the map, the maintenance table and the readiness board show a
district's worth of sites.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["STREETS", "district_plan"]

# Fourteen streets on a rough grid over the district (centre latitude, longitude).
STREETS = {
    "西溪街道": (30.274, 120.130), "蒋村街道": (30.284, 120.080), "文新街道": (30.290, 120.118),
    "古荡街道": (30.300, 120.125), "翠苑街道": (30.286, 120.129), "北山街道": (30.262, 120.145),
    "灵隐街道": (30.245, 120.110), "西湖街道": (30.230, 120.140), "留下街道": (30.262, 120.060),
    "转塘街道": (30.180, 120.090), "双浦镇": (30.150, 120.130), "三墩镇": (30.320, 120.095),
    "龙坞镇": (30.205, 120.045), "之江街道": (30.190, 120.150),
}
KIND_COUNTS = {"micro_station": 70, "charging_shed": 90, "fire_cabinets": 2000}
CITY_SITES = 25_000  # a city is about ten districts (issue 13); cabinets make up the difference
STATION_EQUIPMENT = [
    '{category: extinguishers, required: 8, device: em1, points: "extinguisher*.pressure", min: 1.0, max: 1.4}',
    '{category: vehicles, required: 4, device: em1, points: "vehicle*.soc", min: 80}',
    "{category: monitoring, required: 2, devices: [em1, sd1]}",
]


def district_plan(seed: int, existing: dict[str, int], *, city: bool = False) -> list[dict[str, Any]]:
    """Lightweight sites to add to the `existing` count of full sites per kind: each with its id, name,
    kind, street, gateway, place and devices (id, name, kind, profile, values). `city`: ten districts'
    stations and sheds, and cabinets up to the city's 25,000 sites (on the district's streets and map)."""
    rng = random.Random(seed)
    streets = list(STREETS)
    sites = []
    counts = KIND_COUNTS if not city else {
        "micro_station": 10 * KIND_COUNTS["micro_station"], "charging_shed": 10 * KIND_COUNTS["charging_shed"],
        "fire_cabinets": CITY_SITES - 10 * (KIND_COUNTS["micro_station"] + KIND_COUNTS["charging_shed"])}
    for kind, total in counts.items():
        for n in range(existing.get(kind, 0) + 1, total + 1):
            street = streets[rng.randrange(len(streets))]
            lat, lon = STREETS[street]
            short = {"micro_station": "station", "charging_shed": "shed", "fire_cabinets": "cabinet"}[kind]
            site_id = f"{short}-d{n:04d}"
            sites.append({
                "id": site_id, "gateway": f"gw-{site_id}", "kind": kind, "street": street,
                "name": _name(kind, street, n),
                "lat": round(rng.gauss(lat, 0.007), 5), "lon": round(rng.gauss(lon, 0.008), 5),
                "devices": _devices(kind, rng),
            })
    return sites


def inventory_lines(site: dict[str, Any]) -> list[str]:
    lines = [f"  - id: {site['id']}", f"    name: {site['name']}", f"    kind: {site['kind']}",
             f"    street: {site['street']}", f"    gateway: {site['gateway']}"]
    if site["kind"] == "micro_station":
        lines += ["    equipment:"] + [f"      - {item}" for item in STATION_EQUIPMENT]
    return lines


def _name(kind: str, street: str, n: int) -> str:
    place = street.removesuffix("街道").removesuffix("镇")
    return {"micro_station": f"{place}第{n}微型消防站", "charging_shed": f"{place}{n}号充电棚",
            "fire_cabinets": f"{place}{n}号消防柜"}[kind]


def _devices(kind: str, rng: random.Random) -> list[dict[str, Any]]:
    def detector(dev_id: str, name: str) -> dict[str, Any]:
        battery = rng.randint(5, 19) if rng.random() < 0.03 else rng.randint(60, 100)
        return {"id": dev_id, "name": name, "kind": "smoke_detector", "profile": "hengan-sd100-fw1",
                "online": rng.random() > 0.01,
                "values": {"smoke_alarm": False, "battery": battery, "temperature": round(rng.uniform(8, 24), 1),
                           "obscuration": 0.05}}

    if kind == "fire_cabinets":
        values: dict[str, Any] = {"door_open": False, "extinguisher_1_present": True, "extinguisher_2_present": True,
                                  "extinguisher_1_pressure": round(rng.uniform(1.1, 1.3), 2),
                                  "extinguisher_2_pressure": round(rng.uniform(1.1, 1.3), 2), "battery": 100}
        if rng.random() < 0.03:
            values["extinguisher_2_pressure"] = round(rng.uniform(0.6, 0.9), 2)
        return [{"id": "fc1", "name": "应急消防柜", "kind": "fire_cabinet", "profile": "anbao-fc300", "values": values}]
    if kind == "micro_station":
        em: dict[str, Any] = {}
        for i in range(1, 9):
            em[f"extinguisher{i}.pressure"] = round(rng.uniform(1.05, 1.3) if rng.random() > 0.04 else 0.8, 2)
        for i in range(1, 5):
            em[f"vehicle{i}.soc"] = rng.randint(82, 100) if rng.random() > 0.08 else rng.randint(30, 70)
            em[f"vehicle{i}.charging"] = False
        return [{"id": "em1", "name": "器材监测仪", "kind": "station_monitor", "profile": "weizhan-em8", "values": em},
                detector("sd1", "车库烟感")]
    box: dict[str, Any] = {}
    for port in range(1, 11):
        charging = rng.random() < 0.4
        box[f"port{port}.state"] = "charging" if charging else "idle"
        box[f"port{port}.relay"] = charging
        box[f"port{port}.power"] = rng.randint(60, 90) if charging else 0
        box[f"port{port}.temperature"] = rng.randint(25, 38) if charging else 18
    return [{"id": "box1", "name": "充电箱", "kind": "charging_box", "profile": "xingdian-cb10", "values": box},
            detector("sd1", "烟感")]
