"""Which device values are faults: kept beside each device's values (`devices.faulty`) when they are
written, so a district's or a city's site list counts faulty devices in SQL instead of parsing every
device's values on every request."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FAULT_FLAGS", "faulty"]

FAULT_FLAGS = ("fault", "dirty_chamber", "tamper", "sensor_fault", "meter_fault", "rcd_tripped", "sounder_open",
               "charger_fault", "video_loss")


def faulty(values: Mapping[str, Any]) -> int:
    """1 when any fault flag is set (exactly True), else 0."""
    return int(any(values.get(flag) is True for flag in FAULT_FLAGS))
