"""Maintenance tickets from persistent faults, with the district's deadlines. Pure decisions.

A ticket opens when a device has been offline for 10 minutes, reports a low battery, a dirty sensor
chamber, or runs firmware other than its site file says. Deadlines follow the district rule: hazards a
street fixes in 15 days, those that need the district (firmware, replacement hardware) in 30. When the
fault goes away the ticket is marked for review, not closed: a technician closes it with notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["DAY", "LOW_BATTERY_PERCENT", "OFFLINE_AFTER_S", "faults_of", "low_battery", "ticket_deadline"]

DAY: Final = 86400.0
LOW_BATTERY_PERCENT: Final = 20.0
OFFLINE_AFTER_S: Final = 600.0
LEVEL: Final = {"offline": "street", "gateway_offline": "street", "low_battery": "street", "dirty_sensor": "street",
                "firmware_mismatch": "district"}
DEADLINE_DAYS: Final = {"street": 15, "district": 30}


def ticket_deadline(kind: str, opened: float) -> tuple[str, float]:
    level = LEVEL.get(kind, "street")
    return level, opened + DEADLINE_DAYS[level] * DAY


def low_battery(values: Mapping[str, Any]) -> bool:
    """The device says so, or its battery is below LOW_BATTERY_PERCENT."""
    battery = values.get("battery")
    return values.get("low_battery") is True or (
        isinstance(battery, (int, float)) and not isinstance(battery, bool) and battery < LOW_BATTERY_PERCENT)


def value_faults(values: Mapping[str, Any]) -> set[str]:
    """The ticket faults a device's values alone show (no times, no profile): kept beside the values in
    the store (`devices.attention`), so the minute's ticket round reads only the devices that need it."""
    faults = set()
    if low_battery(values):
        faults.add("low_battery")
    contamination = values.get("contamination")
    if values.get("dirty_chamber") is True or (isinstance(contamination, (int, float)) and contamination >= 60):
        faults.add("dirty_sensor")
    return faults


def faults_of(device: Mapping[str, Any], now: float, offline_after: float = OFFLINE_AFTER_S) -> set[str]:
    """The persistent faults a device shows now: its kinds of ticket."""
    faults = set()
    values = device.get("values", {})
    # a device whose gateway is gone reads unknown (online None): its gateway gets the ticket, not each device
    if device.get("online") is False and now - float(device.get("offline_since") or now) >= offline_after:
        faults.add("offline")
    faults |= value_faults(values)
    configured = device.get("configured_profile")
    if configured and device.get("profile") and configured != device.get("profile"):
        faults.add("firmware_mismatch")
    return faults
