"""Station equipment readiness: what a station must have, what is there and serviceable. Pure.

A requirement names a category, how many items are required, where the items are watched (a device and
a point pattern such as `extinguisher*.pressure`, or whole devices) and what serviceable means for one
item (a range, a value, or the device being online). Readiness is serviceable items over required items
(capped per requirement, summed per category), as a score from 0 to 100, with the list of what is
missing. A street's score is
the mean of its stations'; the monthly index of a street is the mean of its daily scores.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from statistics import fmean
from typing import Any

__all__ = ["Requirement", "monthly_index", "station_readiness", "street_scores"]


@dataclass(frozen=True, slots=True)
class Requirement:
    category: str
    required: int
    device: str = ""  # the device whose points hold the items
    points: str = ""  # fnmatch pattern over that device's points: one item per matching point
    devices: tuple[str, ...] = ()  # or: the items are these devices, serviceable while online
    min: float | None = None
    max: float | None = None
    equals: Any = None

    def serviceable(self, value: Any) -> bool:
        if value is None:
            return False
        if self.equals is not None:
            return bool(value == self.equals)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


def station_readiness(requirements: Iterable[Requirement], devices: Mapping[str, Mapping[str, Any]]
                      ) -> dict[str, Any]:
    """`devices`: device id -> {"online": bool, "values": {point: value}}. Offline devices' values are
    stale: their items count as not serviceable (the station cannot know they are there)."""
    categories: list[dict[str, Any]] = []
    by_category: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    have_total = need_total = 0
    for req in requirements:
        items: list[tuple[str, bool]] = []
        if req.devices:
            items = [(d, bool(devices.get(d, {}).get("online"))) for d in req.devices]
        else:
            dev = devices.get(req.device, {})
            online = bool(dev.get("online"))
            values = dev.get("values", {})
            for point in sorted(p for p in values if fnmatch.fnmatchcase(p, req.points)):
                items.append((f"{req.device}:{point}", online and req.serviceable(values[point])))
        ok = sum(1 for _, good in items if good)
        have = min(ok, req.required)
        shortfall = req.required - have
        bad = [name for name, good in items if not good]
        if shortfall:
            missing += bad[:shortfall] or [f"{req.category}: {shortfall} missing"]
            if len(bad) < shortfall:
                missing.append(f"{req.category}: {shortfall - len(bad)} not installed")
        entry = by_category.setdefault(req.category, {"category": req.category, "required": 0, "serviceable": 0})
        entry["required"] += req.required
        entry["serviceable"] += have
        have_total += have
        need_total += req.required
    for entry in by_category.values():
        entry["score"] = round(100 * entry["serviceable"] / entry["required"], 1)
        categories.append(entry)
    score = round(100 * have_total / need_total, 1) if need_total else 100.0
    return {"score": score, "categories": categories, "missing": missing}


def street_scores(stations: Mapping[str, tuple[str, float]]) -> dict[str, float]:
    """station -> (street, score) => street -> mean score."""
    by_street: dict[str, list[float]] = {}
    for street, score in stations.values():
        by_street.setdefault(street, []).append(score)
    return {street: round(fmean(scores), 1) for street, scores in by_street.items()}


def monthly_index(daily: Iterable[tuple[str, str, float]]) -> list[tuple[str, float]]:
    """(day 'YYYY-MM-DD', street, score) rows of one month => streets ranked by their mean, best first."""
    by_street: dict[str, list[float]] = {}
    for _, street, score in daily:
        by_street.setdefault(street, []).append(score)
    ranked = [(street, round(fmean(scores), 1)) for street, scores in by_street.items()]
    return sorted(ranked, key=lambda item: (-item[1], item[0]))
