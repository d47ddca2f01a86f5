"""The district inventory: sites, their streets and gateways, and what each station must have (YAML,
checked with file and line).

    sites:
      - id: station-wenxin-01
        name: 文新社区微型消防站
        kind: micro_station
        street: 文新街道
        gateway: gw-station-wenxin-01
        equipment:
          - {category: extinguishers, required: 8, device: em1, points: "extinguisher*.pressure", min: 1.0, max: 1.4}
          - {category: vehicles, required: 4, device: em1, points: "vehicle*.soc", min: 80}
          - {category: monitoring, required: 2, devices: [em1, sd-garage]}
        dossier:                      # 一户一档: what a duty officer needs in the first minute
          address: 文一西路 100 号院内东侧
          access: 大门密码 2580#, 车库钥匙在物业值班室
          contacts:
            - {name: 王建国, role: 站长, phone: "13800138000", hours: "08:00-20:00"}
          water:
            - {kind: hydrant, where: 院门外 15 米室外消火栓}
          nearest_station: {site: station-wenxin-01, distance_m: 0}

A dossier is optional; where given, every field is checked (a phone is 5 to 20 digits with + - and
spaces; duty hours are HH:MM-HH:MM; a nearest station names a micro station of the inventory).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cloud.readiness import Requirement
from devices.checked import Section
from devices.errors import SiteConfigError
from devices.yaml_source import load_yaml

__all__ = ["load_inventory"]


INVENTORY_MAX_BYTES = 64 * 1024 * 1024  # a city of 25,000 sites is about 3 MB; room for dossiers


def load_inventory(path: Path) -> dict[str, dict[str, Any]]:
    top = Section(load_yaml(path, SiteConfigError, max_bytes=INVENTORY_MAX_BYTES), file=str(path), path="",
                  error=SiteConfigError, line=1)
    top.only("sites")
    sites: dict[str, dict[str, Any]] = {}
    gateways: set[str] = set()
    nearest: list[tuple[Section, dict[str, Any] | None]] = []
    for sec in top.sections("sites"):
        sec.only("id", "name", "kind", "street", "gateway", "equipment", "dossier")
        site_id = sec.str("id")
        if site_id in sites:
            sec.fail(f"site {site_id!r} is listed twice", "id")
        gateway = sec.str("gateway")
        if gateway in gateways:
            sec.fail(f"gateway {gateway!r} is listed for two sites", "gateway")
        gateways.add(gateway)
        equipment = []
        for eq in sec.sections("equipment", []):
            eq.only("category", "required", "device", "points", "devices", "min", "max", "equals")
            devices = eq.list("devices", [])
            if bool(devices) == eq.has("device"):
                eq.fail("an item list is either devices: [...] or device: with points:")
            if eq.has("device") and not eq.has("points"):
                eq.fail("device: needs points: (a pattern such as extinguisher*.pressure)", "points")
            equipment.append(Requirement(category=eq.str("category"), required=eq.int("required", lo=1),
                                         device=eq.str("device", ""), points=eq.str("points", ""),
                                         devices=tuple(str(d) for d in devices), min=eq.number("min", None),
                                         max=eq.number("max", None), equals=eq.raw("equals", None)))
        sites[site_id] = {"name": sec.str("name", site_id), "kind": sec.str("kind", ""), "street": sec.str("street"),
                          "gateway": gateway, "equipment": equipment}
        dossier = sec.section("dossier", None)
        if dossier is not None:
            sites[site_id]["dossier"] = _dossier(dossier)
            nearest.append((dossier, sites[site_id]["dossier"].get("nearest_station")))
    for dossier, station in nearest:  # once every site is known
        if station and sites.get(station["site"], {}).get("kind") != "micro_station":
            dossier.section("nearest_station").fail(f"{station['site']!r} is not a micro station of the inventory",
                                                    "site")
    return sites


PHONE = re.compile(r"^\+?[0-9][0-9 -]{3,18}[0-9]$")
HOURS = re.compile(r"^([01][0-9]|2[0-4]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$")
WATER_KINDS = ("hydrant", "pool", "tank", "river", "other")


def _dossier(sec: Section) -> dict[str, Any]:
    """一户一档: contacts with phones and duty hours, address and access notes, water sources, the nearest
    micro fire station and its distance (checked here, the station's existence by the caller)."""
    sec.only("address", "access", "contacts", "water", "nearest_station")
    contacts = []
    for contact in sec.sections("contacts", []):
        contact.only("name", "role", "phone", "hours")
        phone = contact.str("phone")
        if not PHONE.match(phone):
            contact.fail(f"a phone is 5 to 20 digits (with + - and spaces), not {phone!r}", "phone")
        hours = contact.str("hours", "00:00-24:00")
        if not HOURS.match(hours):
            contact.fail(f"duty hours are HH:MM-HH:MM, not {hours!r}", "hours")
        contacts.append({"name": _text(contact, "name", 40), "role": _text(contact, "role", 40, ""),
                         "phone": phone, "hours": hours})
    water = []
    for source in sec.sections("water", []):
        source.only("kind", "where")
        water.append({"kind": source.choice("kind", WATER_KINDS), "where": _text(source, "where", 200)})
    out: dict[str, Any] = {"address": _text(sec, "address", 200, ""), "access": _text(sec, "access", 500, ""),
                           "contacts": contacts, "water": water}
    station = sec.section("nearest_station", None)
    if station is not None:
        station.only("site", "distance_m")
        out["nearest_station"] = {"site": station.str("site"), "distance_m": station.int("distance_m", lo=0,
                                                                                          hi=100_000)}
    return out


def _text(sec: Section, key: str, most: int, default: Any = ...) -> str:
    value = sec.str(key) if default is ... else sec.str(key, default)
    if len(value) > most:
        sec.fail(f"at most {most} characters", key)
    return str(value)
