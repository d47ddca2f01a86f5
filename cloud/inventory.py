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
"""

from __future__ import annotations

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
    for sec in top.sections("sites"):
        sec.only("id", "name", "kind", "street", "gateway", "equipment")
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
    return sites
