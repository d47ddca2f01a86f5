"""The district inventory: sites, their streets and gateways (YAML, checked with file and line).

    sites:
      - {id: shed-xixi-01, name: 西溪路1号充电棚, kind: charging_shed, street: 西溪街道, gateway: gw-shed-xixi-01}
"""

from __future__ import annotations

from pathlib import Path

from devices.checked import Section
from devices.errors import SiteConfigError
from devices.yaml_source import load_yaml

__all__ = ["load_inventory"]


def load_inventory(path: Path) -> dict[str, dict[str, str]]:
    top = Section(load_yaml(path, SiteConfigError), file=str(path), path="", error=SiteConfigError, line=1)
    top.only("sites")
    sites: dict[str, dict[str, str]] = {}
    for sec in top.sections("sites"):
        sec.only("id", "name", "kind", "street", "gateway")
        site_id = sec.str("id")
        if site_id in sites:
            sec.fail(f"site {site_id!r} is listed twice", "id")
        sites[site_id] = {"name": sec.str("name", site_id), "kind": sec.str("kind", ""), "street": sec.str("street"),
                          "gateway": sec.str("gateway")}
    return sites
