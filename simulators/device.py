"""One simulated device: its signals (engineering values, named as in its profile), the register image
or frames those signals make, and the faults injected into it.

Signals are the truth; registers are derived from them whenever a master reads, through the same
codecs the edge agent decodes with (`devices.decode`), so a simulator can never disagree with a
profile's documented layout. A signal set through the control API may be *held*: the physics leaves
it alone until it is released (an injected overheat stays hot until the test lets go).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from devices.decode import decode_point, encode_frame_point, encode_point
from devices.profile import BIT_TABLES, Point, Profile
from devices.site_config import DeviceConfig
from simulators.faults import FaultSet

__all__ = ["ILLEGAL_ADDRESS", "ILLEGAL_VALUE", "SimDevice"]

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, ILLEGAL_VALUE = 1, 2, 3
_CLUSTER_HOLE = 32  # registers: a hole this wide between points ends a readable block


class SimDevice:
    def __init__(self, config: DeviceConfig, profile: Profile, site_id: str, seed: int = 0) -> None:
        self.config = config
        self.profile = profile
        self.site_id = site_id
        self.id = config.id
        self.faults = FaultSet(seed)
        self.held: set[str] = set()
        self._before_hold: dict[str, Any] = {}  # a held signal's value before it was held: it returns to it
        self.hidden: dict[str, float] = {}  # physics state that has no register (state of charge...)
        self.requests = 0
        self.answered = 0
        self.pending_lines: list[str] = []  # ASCII-line devices: what the device will print next
        self._points = {p.name: p for p in profile.points}
        self.signals: dict[str, Any] = {p.name: _initial(p) for p in profile.points}
        for probe in profile.probe:
            self.signals[probe.point] = probe.equals if probe.equals is not None else probe.min
        if "serial_number" in self.signals:
            self.signals["serial_number"] = f"SIM-{config.id}"[:16]
        self._spans = _readable_spans(profile)

    # -- signals -----------------------------------------------------------------------------------
    def point(self, name: str) -> Point:
        return self._points[name]

    def set_signals(self, values: dict[str, Any], *, hold: bool = False) -> None:
        """Set signals (checked: unknown names or values that do not encode raise ValueError)."""
        for name, value in values.items():
            point = self._points.get(name)
            if point is None:
                raise ValueError(f"{self.id} has no signal {name!r}")
            if point.table == "frame":
                encode_frame_point(point, value, bytearray(point.address + point.width))
            else:
                encode_point(point, value)
        for name, value in values.items():
            if hold and name not in self.held:
                self._before_hold[name] = self.signals.get(name)
            self.signals[name] = value
            if hold:
                self.held.add(name)

    def release(self, names: Iterable[str] | None = None) -> None:
        """Let go of held signals: each returns to its normal state (an alarm point to its `normal`, any
        other to what it was before it was held) and the physics takes it from there."""
        released = set(self.held) if names is None else self.held & set(names)
        self.held.difference_update(released)
        for name in released:
            point = self._points[name]
            if point.alarm is not None:
                self.signals[name] = point.alarm.normal
            elif name in self._before_hold:
                self.signals[name] = self._before_hold[name]
            self._before_hold.pop(name, None)

    def update(self, name: str, value: Any) -> None:
        """Physics writes a signal unless a person holds it."""
        if name not in self.held and name in self.signals:
            self.signals[name] = value

    def value(self, name: str, default: Any = None) -> Any:
        return self.signals.get(name, default)

    # -- Modbus ------------------------------------------------------------------------------------
    def read(self, table: str, address: int, count: int) -> list[int] | int:
        """Words or bits, or a Modbus exception code."""
        if not self._readable(table, address, count):
            return ILLEGAL_ADDRESS
        image = self._image(table, address, count)
        return [image.get(a, 0) for a in range(address, address + count)]

    def write(self, table: str, address: int, values: list[int] | tuple[int, ...]) -> int | None:
        """Apply a master's write; None on success, else a Modbus exception code."""
        end = address + len(values)
        touched = [p for p in self.profile.points if p.table == table and p.address < end and p.end > address]
        if not touched or any(not p.writable for p in touched):
            return ILLEGAL_ADDRESS
        lo = min(min(p.address for p in touched), address)
        hi = max(max(p.end for p in touched), end)
        image = self._image(table, lo, hi - lo)
        for i, v in enumerate(values):
            image[address + i] = v
        decoded = {}
        for p in touched:
            words = [image.get(a, 0) for a in range(p.address, p.end)]
            try:
                decoded[p.name] = decode_point(p, words)
            except ValueError:
                return ILLEGAL_VALUE
        self.signals.update(decoded)
        return None

    def _readable(self, table: str, address: int, count: int) -> bool:
        if count < 1:
            return False
        for first, last in self.profile.quirks.forbidden:
            if address <= last and address + count - 1 >= first:
                return False
        return any(lo <= address and address + count <= hi for lo, hi in self._spans.get(table, ()))

    def _image(self, table: str, address: int, count: int) -> dict[int, int]:
        image: dict[int, int] = {}
        end = address + count
        for p in self.profile.points:
            if p.table != table or p.end <= address or p.address >= end:
                continue
            try:
                words = encode_point(p, self.signals[p.name])
            except ValueError:  # physics drove a value out of the register's range: the device saturates
                words = [0xFFFF if p.type not in ("bit",) else 0] * p.width
            for i, w in enumerate(words):
                a = p.address + i
                image[a] = (image.get(a, 0) | w) if p.type == "bit" else w
        return image

    # -- binary serial frames ----------------------------------------------------------------------
    def frame_payload(self, command: str) -> bytes:
        points = [p for p in self.profile.points if p.frame == command]
        size = max((p.end for p in points), default=0)
        payload = bytearray(size)
        for p in points:
            with contextlib.suppress(ValueError):  # out of range: the byte stays 0, like a saturated sensor
                encode_frame_point(p, self.signals[p.name], payload)
        return bytes(payload)


def _initial(p: Point) -> Any:
    if p.type in ("bool", "bit") or p.table in BIT_TABLES:
        return False
    if p.enum:
        return p.enum[min(p.enum)]
    if p.type == "string":
        return ""
    if p.valid_range is not None and p.valid_range[0] > 0:
        return p.valid_range[0]
    return 0.0 if p.type in ("f32", "f64") or p.scale != 1.0 else 0


def _readable_spans(profile: Profile) -> dict[str, list[tuple[int, int]]]:
    """Per table, the address blocks a master may read: points and the small holes between them."""
    spans: dict[str, list[tuple[int, int]]] = {}
    hole = max(_CLUSTER_HOLE, profile.quirks.max_gap)
    for table in ("coil", "discrete_input", "input_register", "holding_register"):
        ranges = sorted((p.address, p.end) for p in profile.points if p.table == table)
        merged: list[tuple[int, int]] = []
        for lo, hi in ranges:
            if merged and lo - merged[-1][1] <= hole:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        spans[table] = merged
    return spans
