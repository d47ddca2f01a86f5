"""The district's GB/T 26875.3 mapping (YAML, checked at load with file and line): where the city's
monitoring centre is, each site's transmission device address, and which GB/T 26875.3 component each
firefleet device (or alarm rule, or charging port) is. A centre that follows a provincial variant changes
this file, not the code. Pure: a file in, typed records out.

    centre: {host: 10.1.2.3, port: 9000, address: 1}    # the centre's 6-byte address
    user_version: 0                                      # the frames' user version (the major is 1)
    kinds: {smoke_detector: 42, charging_box: 200}       # device kind -> component type (表 5; 128-255 ours)
    rules: {valve-closed: 97, water-flow: 96}            # alarm rule -> component type, where it says more
    sites:
      - site: shed-xixi-01
        address: 0xC0A80A01                              # its transmission device (6 bytes)
        system: {type: 1, address: 1}                    # 系统类型 and 系统地址 of its frames
        components:
          - {device: sd1, zone: 1, position: 1}          # component address: zone * 65536 + position
          - {device: box1, zone: 2, ports: true}         # each charging port N is position N
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.checked import Section
from devices.errors import SiteConfigError
from devices.yaml_source import load_yaml

__all__ = ["Component", "UitdMapping", "UitdSite", "load_uitd_mapping"]

_PORT = re.compile(r"port(\d+)")


@dataclass(frozen=True, slots=True)
class Component:
    device: str
    zone: int
    position: int = 0
    ports: bool = False  # a charging box: each port is a component of its own (position = port number)
    type: int | None = None  # overrides kinds and rules
    name: str = ""


@dataclass(frozen=True, slots=True)
class UitdSite:
    site: str
    address: int
    system_type: int
    system_address: int
    components: dict[str, Component]


@dataclass(frozen=True, slots=True)
class UitdMapping:
    host: str
    port: int
    centre: int
    user_version: int
    kinds: dict[str, int]
    rules: dict[str, int]
    sites: dict[str, UitdSite]

    def component_of(self, site: str, alarm: dict[str, Any], kind: str) -> tuple[Component, int, int] | None:
        """The component an alarm is about, with its type and 4-byte address; None if it is not mapped."""
        mapped = self.sites.get(site)
        comp = mapped.components.get(alarm.get("device") or "") if mapped else None
        if comp is None:
            return None
        position = comp.position
        if comp.ports:
            port = next((m for part in str(alarm["key"]).split("/")[2:] if (m := _PORT.fullmatch(part))), None)
            if port is None:
                return None  # an alarm of the box itself, not of a port: the box has no component here
            position = int(port.group(1))
        kind_type = self.kinds.get(kind)
        ctype = comp.type if comp.type is not None else self.rules.get(alarm.get("rule") or "", kind_type)
        if ctype is None:
            return None
        return comp, ctype, (comp.zone << 16) | position


def load_uitd_mapping(path: Path) -> UitdMapping:
    top = Section(load_yaml(path, SiteConfigError), file=str(path), path="", error=SiteConfigError, line=1)
    top.only("centre", "user_version", "kinds", "rules", "sites")
    centre = top.section("centre")
    centre.only("host", "port", "address")
    kinds = _types(top, "kinds")
    rules = _types(top, "rules")
    sites: dict[str, UitdSite] = {}
    addresses: set[int] = set()
    for sec in top.sections("sites"):
        sec.only("site", "address", "system", "components")
        site = sec.str("site")
        if site in sites:
            sec.fail(f"site {site!r} is listed twice", "site")
        address = _address(sec, "address")
        if address in addresses:
            sec.fail(f"address {address:#x} is another site's", "address")
        addresses.add(address)
        system = sec.section("system")
        system.only("type", "address")
        components: dict[str, Component] = {}
        for comp in sec.sections("components"):
            comp.only("device", "zone", "position", "ports", "type", "name")
            device = comp.str("device")
            if device in components:
                comp.fail(f"device {device!r} is listed twice", "device")
            ports = comp.bool("ports", False)
            if ports == comp.has("position"):
                comp.fail("a component has a position, or ports: true (each port its own position)")
            ctype = comp.int("type", lo=0, hi=255) if comp.has("type") else None
            components[device] = Component(device, comp.int("zone", lo=0, hi=0xFFFF),
                                           comp.int("position", 0, lo=0, hi=0xFFFF), ports, ctype,
                                           comp.str("name", ""))
        sites[site] = UitdSite(site, address, system.int("type", lo=0, hi=255), system.int("address", lo=0, hi=255),
                               components)
    return UitdMapping(centre.str("host"), centre.int("port", lo=1, hi=65535), _address(centre, "address"),
                       top.int("user_version", 0, lo=0, hi=255), kinds, rules, sites)


def _types(top: Section, key: str) -> dict[str, int]:
    if not top.has(key):
        return {}
    sec = top.section(key)
    return {str(name): sec.int(str(name), lo=0, hi=255) for name in sec.data}


def _address(sec: Section, key: str) -> int:
    value = sec.raw(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 48:
        sec.fail(f"{key} is a number of at most 6 bytes (0 to 0xFFFFFFFFFFFF), got {value!r}", key)
    return value
