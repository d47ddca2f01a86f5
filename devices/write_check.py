"""Is this write safe to send to this device? One check, used by the collector before a command leaves and
by the agent again before the frame goes on the wire (defence in depth). Pure.

A write is refused, with the reason a person can act on, unless: the point exists in the device's
profile; it is writable (`access: rw` or `w`); it lives where writes can go (a coil or holding register,
or a serial command); the value has the point's type (a relay takes true or false, not 7; a number is a
finite number, an enum one of its names); it lies inside the point's range; and the device can take it
with the profile's write function (a device that writes one register at a time cannot be given a
two-register value: it would be sent as FC16 and half-applied or refused by the device).
"""

from __future__ import annotations

import math
from typing import Any

from devices.errors import ActionRefused
from devices.profile import Point, Profile

__all__ = ["WriteRefused", "check_value", "check_write"]

_WRITABLE_TABLES = ("coil", "holding_register", "frame")
_INTEGER_TYPES = ("u16", "i16", "u32", "i32", "u64", "i64")


class WriteRefused(ActionRefused, ValueError):
    """A write that must not be sent; the text says why."""


def check_write(profile: Profile, point_name: str, value: Any) -> Point:
    """The point to write, or WriteRefused with the reason."""
    try:
        point = profile.point(point_name)
    except KeyError:
        raise WriteRefused(f"{profile.id} has no point {point_name!r}", code="no_point", point=point_name) from None
    check_value(point, value, profile.quirks.write_function, profile.id)
    return point


def check_value(point: Point, value: Any, write_function: str = "multiple", device: str = "the device") -> None:
    """WriteRefused unless `value` may be written to `point` (also used on profile and site actions at load)."""
    point_name = point.name
    if not point.writable:
        raise WriteRefused(f"{point_name} is read-only", code="read_only", point=point_name)
    if point.table not in _WRITABLE_TABLES or (point.table == "frame" and not point.command):
        raise WriteRefused(f"{point_name} is in the {point.table.replace('_', ' ')}s, which cannot be written",
                           code="read_only", point=point_name)
    if point.type in ("bool", "bit"):
        if not isinstance(value, bool):
            raise WriteRefused(f"{point_name} takes true or false, not {value!r}", code="want_bool", point=point_name)
        return
    if point.enum is not None:
        if value not in point.enum.values():
            raise WriteRefused(f"{point_name} takes one of {', '.join(sorted(point.enum.values()))}, not {value!r}",
                               code="want_choice", point=point_name, choices=", ".join(sorted(point.enum.values())))
        return
    if point.type == "string":
        if not isinstance(value, str) or len(value.encode()) > max(point.length, 2 * point.width):
            raise WriteRefused(f"{point_name} takes text of at most {max(point.length, 2 * point.width)} bytes",
                               code="want_text", point=point_name, bytes=max(point.length, 2 * point.width))
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WriteRefused(f"{point_name} takes a number{f' in {point.unit}' if point.unit else ''}, not {value!r}",
                           code="want_number", point=point_name)
    if point.valid_range is not None:
        low, high = point.valid_range
        if not low <= value <= high:
            raise WriteRefused(f"{point_name} must lie in {low:g}..{high:g}{' ' + point.unit if point.unit else ''}, "
                               f"not {value:g}", code="out_of_range", point=point_name, low=low, high=high,
                               unit=point.unit or "")
    if point.type in _INTEGER_TYPES:
        raw = (value - point.offset) / point.scale
        if abs(raw - round(raw)) > 1e-6:
            raise WriteRefused(f"{point_name} moves in steps of {point.scale:g}: {value:g} is between two",
                               code="off_step", point=point_name, step=point.scale)
    if point.table == "holding_register" and point.width > 1 and write_function == "single":
        raise WriteRefused(f"{point_name} spans {point.width} registers and {device} writes one register "
                           "at a time (write_function: single)", code="too_wide", point=point_name)
