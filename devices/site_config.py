"""The site file: one site, its gateway, its buses and its devices. Read by the simulators and the
edge agent alike, so both see the same district.

    site:     {id, name, kind, street, location: {lat, lon}}
    gateway:  {id, indicator: {device, point}}          the link-lost indicator output is optional
    buses:    [{id, type: modbus_rtu | modbus_tcp | serial, port | host+port, baud, parity, ...}]
    devices:  [{id, name, profile, bus, unit, groups, location, initial}]
    rules:    [{rule, device | group, enabled, for, when_value}]  per-site overrides of profile rules
    interlocks: [{id, any | all: {group, class | offline: true}, for, raise: {class, severity}, latch,
                  actions: [{device | group, point, value}]}]    site rules over groups of devices
    cameras:  [{device, channel, covers: [device | group], every}]  which camera channel looks at which
              devices: a fire or supervisory alarm of a covered device takes a snapshot (the profile's
              source), at most one per alarm `every` (default 60 s)

`initial` gives a simulator its starting signal values; the edge ignores it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from devices.checked import Section
from devices.errors import SiteConfigError
from devices.profile import ALARM_CLASSES, Profile
from devices.write_check import WriteRefused, check_value
from devices.yaml_source import load_yaml

__all__ = ["SITE_KINDS", "BusConfig", "CameraConfig", "DeviceConfig", "Interlock", "InterlockAction", "RuleOverride",
           "SiteConfig", "load_site"]

SITE_KINDS = ("micro_station", "charging_shed", "fire_cabinets")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class BusConfig:
    id: str
    type: Literal["modbus_rtu", "modbus_tcp", "serial"]
    port: str = ""  # serial device path on the gateway
    host: str = ""
    tcp_port: int = 502
    baud: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    stop_bits: int = 1
    line: int = 0


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    id: str
    profile: str
    bus: str
    unit: int = 1
    name: str = ""
    groups: tuple[str, ...] = ()
    location: str = ""
    initial: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True, slots=True)
class RuleOverride:
    rule: str
    device: str = ""
    group: str = ""
    enabled: bool = True
    sustain_s: float | None = None
    when_value: Any = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class InterlockAction:
    point: str  # a point name, or the last part of one (`relay` means every `portN.relay`)
    value: Any
    device: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class Interlock:
    """Any (or all) devices of `group` with an active alarm of `alarm_class` (or offline) -> raise, act."""

    id: str
    mode: Literal["any", "all"]
    group: str
    raise_class: str
    severity: int
    alarm_class: str = ""
    offline: bool = False
    sustain_s: float = 0.0
    latch: bool = False
    actions: tuple[InterlockAction, ...] = ()
    line: int = 0


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """A camera channel and the devices it looks at (named, or by group)."""

    device: str
    channel: int
    covers: tuple[str, ...]  # device ids, expanded from the file's devices and groups
    every_s: float = 60.0  # at most one picture per alarm this often (a flapping alarm is not a film)
    line: int = 0


@dataclass(frozen=True, slots=True)
class SiteConfig:
    file: str
    id: str
    name: str
    kind: str
    street: str
    lat: float
    lon: float
    gateway_id: str
    indicator: tuple[str, str] | None
    buses: tuple[BusConfig, ...]
    devices: tuple[DeviceConfig, ...]
    rules: tuple[RuleOverride, ...] = ()
    interlocks: tuple[Interlock, ...] = ()
    cameras: tuple[CameraConfig, ...] = ()

    def cameras_on(self, device_id: str) -> list[CameraConfig]:
        """The camera channels that look at a device."""
        return [c for c in self.cameras if device_id in c.covers]

    def bus(self, bus_id: str) -> BusConfig:
        return next(b for b in self.buses if b.id == bus_id)

    def device(self, device_id: str) -> DeviceConfig:
        return next(d for d in self.devices if d.id == device_id)

    def devices_on(self, bus_id: str) -> list[DeviceConfig]:
        return [d for d in self.devices if d.bus == bus_id]


def load_site(path: Path, profiles: Mapping[str, Profile] | None = None) -> SiteConfig:
    """Read and check a site file. With `profiles`, every device's profile must exist and fit its bus."""
    top = Section(load_yaml(path, SiteConfigError), file=str(path), path="", error=SiteConfigError, line=1)
    top.only("site", "gateway", "buses", "devices", "rules", "interlocks", "cameras")
    site = top.section("site")
    site.only("id", "name", "kind", "street", "location")
    site_id = _checked_id(site, "id")
    loc = site.section("location")
    loc.only("lat", "lon")
    lat, lon = loc.number("lat"), loc.number("lon")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        loc.fail(f"({lat}, {lon}) is not a place on Earth")
    gw = top.section("gateway")
    gw.only("id", "indicator")
    indicator = None
    if gw.has("indicator"):
        ind = gw.section("indicator")
        ind.only("device", "point")
        indicator = (ind.str("device"), ind.str("point"))

    buses: dict[str, BusConfig] = {}
    for b in top.sections("buses"):
        bus = _parse_bus(b)
        if bus.id in buses:
            b.fail(f"bus id {bus.id!r} is used twice", "id")
        buses[bus.id] = bus

    devices: dict[str, DeviceConfig] = {}
    units: dict[tuple[str, int], str] = {}
    for d in top.sections("devices"):
        d.only("id", "name", "profile", "bus", "unit", "groups", "location", "initial")
        dev_id = _checked_id(d, "id")
        if dev_id in devices:
            d.fail(f"device id {dev_id!r} is used twice", "id")
        bus_id = d.str("bus")
        if bus_id not in buses:
            d.fail(f"unknown bus {bus_id!r} (buses: {', '.join(buses)})", "bus")
        bus = buses[bus_id]
        unit = d.int("unit", 1, lo=0 if bus.type == "modbus_tcp" else 1, hi=247)
        if bus.type == "serial" and any(x.bus == bus_id for x in devices.values()):
            d.fail(f"serial bus {bus_id!r} already has a device: a plain serial line carries one", "bus")
        if (bus_id, unit) in units:
            d.fail(f"unit {unit} on bus {bus_id!r} is already {units[(bus_id, unit)]!r}", "unit")
        units[(bus_id, unit)] = dev_id
        profile_id = d.str("profile")
        if profiles is not None:
            _check_profile(d, profile_id, bus, profiles)
        groups = d.list("groups", [])
        if not all(isinstance(g, str) for g in groups):
            d.fail("groups is a list of names", "groups")
        initial = d.raw("initial", {})
        if not isinstance(initial, dict):
            d.fail("initial maps signal names to values", "initial")
        if profiles is not None and profile_id in profiles:
            names = profiles[profile_id].point_names
            for key in initial:
                if key not in names:
                    d.fail(f"initial value for unknown point {key!r} of {profile_id}", "initial")
        devices[dev_id] = DeviceConfig(id=dev_id, profile=profile_id, bus=bus_id, unit=unit,
                                       name=d.str("name", ""), groups=tuple(groups),
                                       location=d.str("location", ""), initial=dict(initial), line=d.line)
    if indicator and indicator[0] not in devices:
        top.fail(f"gateway.indicator names unknown device {indicator[0]!r}", "gateway")
    if indicator and profiles is not None and devices[indicator[0]].profile in profiles:
        ind_profile = profiles[devices[indicator[0]].profile]
        if indicator[1] not in ind_profile.point_names or not ind_profile.point(indicator[1]).writable:
            top.fail(f"gateway.indicator: {indicator[0]} has no writable point {indicator[1]!r}", "gateway")

    rules = []
    for r in top.sections("rules", []):
        r.only("rule", "device", "group", "enabled", "for", "when_value")
        device, group = r.str("device", ""), r.str("group", "")
        if device and device not in devices:
            r.fail(f"unknown device {device!r}", "device")
        if bool(device) == bool(group):
            r.fail("a rule override names either a device or a group")
        if group and group not in {g for dv in devices.values() for g in dv.groups}:
            r.fail(f"no device is in group {group!r}", "group")
        if profiles is not None:
            targets = [devices[device]] if device else [dv for dv in devices.values() if group in dv.groups]
            if not any(rl.id == r.str("rule") for dv in targets if dv.profile in profiles
                       for rl in profiles[dv.profile].rules):
                r.fail(f"no rule {r.str('rule')!r} in the profiles of {device or 'group ' + group}: the override "
                       "would change nothing", "rule")
        rules.append(RuleOverride(rule=r.str("rule"), device=device, group=r.str("group", ""),
                                  enabled=r.bool("enabled", True), sustain_s=r.duration("for", None),
                                  when_value=r.raw("when_value", None), line=r.line))

    groups = {g for d in devices.values() for g in d.groups}
    interlocks = tuple(_parse_interlock(sec, devices, groups, profiles) for sec in top.sections("interlocks", []))
    return SiteConfig(file=str(path), id=site_id, name=site.str("name", site_id),
                      kind=site.choice("kind", SITE_KINDS), street=site.str("street"), lat=float(lat),
                      lon=float(lon), gateway_id=_checked_id(gw, "id"), indicator=indicator,
                      buses=tuple(buses.values()), devices=tuple(devices.values()), rules=tuple(rules),
                      interlocks=interlocks, cameras=_parse_cameras(top, devices, buses, profiles))


def _parse_cameras(top: Section, devices: Mapping[str, DeviceConfig], buses: Mapping[str, BusConfig],
                   profiles: Mapping[str, Profile] | None) -> tuple[CameraConfig, ...]:
    cameras: list[CameraConfig] = []
    for sec in top.sections("cameras", []):
        sec.only("device", "channel", "covers", "every")
        device = sec.str("device")
        if device not in devices:
            sec.fail(f"unknown device {device!r}", "device")
        if buses[devices[device].bus].type != "modbus_tcp":
            sec.fail(f"{device} is not on a network bus: its pictures come over HTTP from the bus's host", "device")
        channels = 64
        if profiles is not None and devices[device].profile in profiles:
            profile = profiles[devices[device].profile]
            if profile.snapshot is None:
                sec.fail(f"{device}'s profile {profile.id} has no snapshot source", "device")
            channels = profile.groups.get("channel", 1)
        channel = sec.int("channel", 1, lo=1, hi=channels)
        covered: list[str] = []
        for name in sec.list("covers"):
            members = [name] if name in devices else [d.id for d in devices.values() if name in d.groups]
            if not isinstance(name, str) or not members:
                sec.fail(f"covers: {name!r} is neither a device nor a group of this site", "covers")
            covered += [m for m in members if m not in covered]
        if any(c.device == device and c.channel == channel for c in cameras):
            sec.fail(f"{device} channel {channel} is listed twice", "channel")
        every = sec.duration("every", 60.0)
        if not 1.0 <= every <= 86400.0:
            sec.fail(f"every: {every} s is not between 1 s and a day", "every")
        cameras.append(CameraConfig(device=device, channel=channel, covers=tuple(covered), every_s=every,
                                    line=sec.line))
    return tuple(cameras)


def _parse_interlock(sec: Section, devices: Mapping[str, DeviceConfig], groups: set[str],
                     profiles: Mapping[str, Profile] | None) -> Interlock:
    sec.only("id", "any", "all", "for", "raise", "latch", "actions")
    modes: list[Literal["any", "all"]] = [m for m in ("any", "all") if sec.has(m)]
    if len(modes) != 1:
        sec.fail("an interlock watches either any: or all: devices of a group")
    cond = sec.section(modes[0])
    cond.only("group", "class", "offline")
    group = cond.str("group")
    if group not in groups:
        cond.fail(f"no device is in group {group!r}", "group")
    if cond.has("class") == cond.has("offline"):
        cond.fail("watch either an alarm class (class: fire) or offline: true")
    raise_sec = sec.section("raise")
    raise_sec.only("class", "severity")
    actions = []
    for act in sec.sections("actions", []):
        act.only("device", "group", "point", "value")
        if act.has("device") == act.has("group"):
            act.fail("an action names either a device or a group")
        if act.has("device") and act.str("device") not in devices:
            act.fail(f"unknown device {act.str('device')!r}", "device")
        if act.has("group") and act.str("group") not in groups:
            act.fail(f"no device is in group {act.str('group')!r}", "group")
        if profiles is not None:
            _check_action(act, devices, profiles)
        actions.append(InterlockAction(point=act.str("point"), value=act.raw("value"), device=act.str("device", ""),
                                       group=act.str("group", "")))
    return Interlock(id=_checked_id(sec, "id"), mode=modes[0], group=group,
                     raise_class=raise_sec.choice("class", ALARM_CLASSES), severity=raise_sec.int("severity", 2, lo=1,
                                                                                                hi=5),
                     alarm_class=cond.choice("class", ALARM_CLASSES, ""), offline=cond.bool("offline", False),
                     sustain_s=sec.duration("for", 0.0), latch=sec.bool("latch", False), actions=tuple(actions),
                     line=sec.line)


def _check_action(act: Section, devices: Mapping[str, DeviceConfig], profiles: Mapping[str, Profile]) -> None:
    """An interlock action must reach a writable point with a value it takes, or it protects nothing."""
    point, value = act.str("point"), act.raw("value")
    targets = [devices[act.str("device")]] if act.has("device") else \
        [d for d in devices.values() if act.str("group") in d.groups]
    matched = 0
    for dev in targets:
        profile = profiles.get(dev.profile)
        if profile is None:
            continue
        for p in profile.points:
            if p.writable and (p.name == point or p.name.endswith("." + point)):
                matched += 1
                try:
                    check_value(p, value, profile.quirks.write_function, dev.id)
                except WriteRefused as exc:
                    act.fail(f"{dev.id}: {exc}", "value")
    if not matched:
        act.fail(f"point {point!r} matches nothing writable on {act.str('device', '') or 'group ' + act.str('group')}",
                 "point")


def _checked_id(sec: Section, key: str) -> str:
    value: str = sec.str(key)
    if not _ID.match(value):
        sec.fail(f"{value!r} must be lower-case letters, digits and dashes", key)
    return value


def _parse_bus(b: Section) -> BusConfig:
    b.only("id", "type", "port", "host", "baud", "parity", "stop_bits")
    bus_type = b.choice("type", ("modbus_rtu", "modbus_tcp", "serial"))
    if bus_type == "modbus_tcp":
        return BusConfig(id=_checked_id(b, "id"), type=bus_type, host=b.str("host"),
                         tcp_port=b.int("port", 502, lo=1, hi=65535), line=b.line)
    return BusConfig(id=_checked_id(b, "id"), type=bus_type, port=b.str("port"),
                     baud=b.choice("baud", (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200), 9600),
                     parity=b.choice("parity", ("N", "E", "O"), "N"), stop_bits=b.choice("stop_bits", (1, 2), 1),
                     line=b.line)


def _check_profile(d: Section, profile_id: str, bus: BusConfig, profiles: Mapping[str, Profile]) -> None:
    profile = profiles.get(profile_id)
    if profile is None or profile.abstract:
        d.fail(f"unknown firmware profile {profile_id!r}", "profile")
    wants = "serial" if bus.type == "serial" else "modbus"
    if profile.transport != wants:
        d.fail(f"profile {profile_id!r} speaks {profile.transport}, but bus {bus.id!r} is {bus.type}", "profile")
