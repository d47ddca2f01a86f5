"""Durations as people write them in profiles and site files: 500ms, 5s, 10min, 8h, or plain seconds."""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$")


def parse_duration(value: object) -> float:
    """Seconds from `5s`, `500ms`, `10min`, `8h`, `2d` or a bare number; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value)
    if isinstance(value, str):
        match = _PATTERN.match(value)
        if match:
            return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    raise ValueError(f"not a duration: {value!r} (write 500ms, 5s, 10min, 8h)")
