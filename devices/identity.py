"""Pick the firmware profile that fits what a device says about itself (its identity probe)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from devices.profile import Point, Profile

__all__ = ["match_profile", "probe_points"]


def probe_points(candidates: Iterable[Profile]) -> list[Point]:
    """The distinct identity points to read so every candidate can be tested (by table and address)."""
    seen: dict[tuple[str, int, int], Point] = {}
    for profile in candidates:
        for probe in profile.probe:
            p = profile.point(probe.point)
            seen.setdefault((p.table, p.address, p.width), p)
    return list(seen.values())


def match_profile(candidates: Iterable[Profile], values: Mapping[str, Any]) -> Profile | None:
    """The one candidate whose every probe matches `values` (point name -> decoded value), else None.

    A device whose identity matches no candidate (re-flashed, swapped for another model) is not
    decoded with a guess: the caller reports it as on unknown firmware.
    """
    for profile in candidates:
        if profile.probe and not profile.abstract and all(
            probe.matches(values.get(probe.point)) for probe in profile.probe
        ):
            return profile
    return None
