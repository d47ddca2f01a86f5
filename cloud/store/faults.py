"""What a device's values say about it, kept beside them when they are written (`devices.faulty`: a
fault flag is set; `devices.attention`: its values alone call for a maintenance ticket), so a city's
site list and the minute's ticket round ask the database instead of parsing 700,000 devices' values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud.tickets import value_faults

__all__ = ["FAULT_FLAGS", "attention", "faulty"]

FAULT_FLAGS = ("fault", "dirty_chamber", "tamper", "sensor_fault", "meter_fault", "rcd_tripped", "sounder_open",
               "charger_fault", "video_loss")


def faulty(values: Mapping[str, Any]) -> int:
    """1 when any fault flag is set (exactly True), else 0."""
    return int(any(values.get(flag) is True for flag in FAULT_FLAGS))


def attention(values: Mapping[str, Any]) -> int:
    """1 when the values alone call for a ticket (low battery, dirty sensor), else 0."""
    return int(bool(value_faults(values)))
