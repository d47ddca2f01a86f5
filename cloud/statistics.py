"""Alarm statistics for a period, from one row per alarm (Store.alarm_facts). Pure: facts in, figures out.

Counted by class, street and month (local time); the false-alarm rate among alarms that got a verdict
(真实火警 or 误报: the false_alarm and confirm actions); the time from raised to acknowledged and to closed
(median and p90, seconds, of the alarms that got there); and the ten devices that alarmed most.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["statistics"]


def statistics(facts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    by_class: Counter[str] = Counter()
    by_street: Counter[str] = Counter()
    by_month: Counter[str] = Counter()
    devices: Counter[tuple[str, str]] = Counter()
    to_ack: list[float] = []
    to_close: list[float] = []
    verdicts = false = total = 0
    for f in facts:
        total += 1
        raised = float(f["raised_at"])
        by_class[str(f["class"])] += 1
        by_street[str(f.get("street") or "")] += 1
        by_month[time.strftime("%Y-%m", time.localtime(raised))] += 1
        if f.get("device"):
            devices[(str(f["site"]), str(f["device"]))] += 1
        if f.get("acknowledged_at") is not None:
            to_ack.append(float(f["acknowledged_at"]) - raised)
        if f.get("closed_at") is not None:
            to_close.append(float(f["closed_at"]) - raised)
        if f.get("verdict"):
            verdicts += 1
            false += f["verdict"] == "false_alarm"
    return {
        "alarms": total,
        "by_class": dict(by_class.most_common()),
        "by_street": dict(by_street.most_common()),
        "by_month": dict(sorted(by_month.items())),
        "false_alarm_rate": round(false / verdicts, 4) if verdicts else None,
        "verdicts": verdicts,
        "to_acknowledge_s": _spread(to_ack),
        "to_close_s": _spread(to_close),
        "noisiest_devices": [{"site": site, "device": device, "alarms": n}
                             for (site, device), n in sorted(devices.items(), key=lambda kv: (-kv[1], kv[0]))[:10]],
    }


def _spread(values: list[float]) -> dict[str, float | int | None]:
    """Median and p90 (nearest rank) of durations, with how many there were."""
    if not values:
        return {"n": 0, "median": None, "p90": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * p / 100) - 1))], 1)
    return {"n": len(ordered), "median": rank(50), "p90": rank(90)}
