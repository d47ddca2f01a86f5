"""One Modbus device as a bus worker sees it: its identified profile, its read plan by poll class,
when each class is due, and whether it answers. Pure: no I/O, time passed in.

The points that can fire an action (edge.rules.cut_inputs: a port's temperature, a detector's fire bit)
form a poll class of their own, CUT, planned over those points alone (the smallest reads the register map
allows) and due at the device's fastest period; the bus worker serves it before every other class. The
device's other points keep their classes, without the cut inputs (nothing is read twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.decode import BlockDecoder, ReadBlock, plan_reads
from devices.profile import Point, Profile
from devices.site_config import DeviceConfig
from edge.device_health import DeviceHealth

__all__ = ["CUT", "PolledDevice", "candidates_for"]

CUT = "cut"


def candidates_for(configured: Profile, profiles: Mapping[str, Profile]) -> list[Profile]:
    """The configured profile first, then its siblings (same base, same kind): what its identity may reveal."""
    out = [configured]
    if configured.extends:
        out += [p for p in profiles.values() if p.extends == configured.extends and p.id != configured.id
                and not p.abstract and p.kind == configured.kind]
    return out


@dataclass
class PolledDevice:
    config: DeviceConfig
    profile: Profile
    candidates: list[Profile]
    health: DeviceHealth = field(default_factory=DeviceHealth)
    identified: bool = False
    unreadable: set[str] = field(default_factory=set)
    next_due: dict[str, float] = field(default_factory=dict)
    plan: dict[str, list[tuple[ReadBlock, BlockDecoder]]] = field(default_factory=dict)
    last_poll_start: dict[str, float] = field(default_factory=dict)
    cycle_times: list[float] = field(default_factory=list)  # seconds between alarm-class polls
    urgent: frozenset[str] = frozenset()  # the points that can fire an action (read first, as CUT)
    periods: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.use_profile(self.profile)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def unit(self) -> int:
        return self.config.unit

    def use_profile(self, profile: Profile) -> None:
        self.profile = profile
        self.plan = {}
        readable = [p for p in profile.points if p.name not in self.unreadable and p.table != "frame" and p.readable]
        classes = sorted(profile.polling, key=profile.polling.__getitem__)
        self.periods = {cls: profile.polling[cls] for cls in classes}
        cut = [p for p in readable if p.name in self.urgent]
        if cut and classes:
            cut = _with_neighbours(cut, [p for p in readable if p.poll == classes[0]], profile)
            self.periods = {CUT: profile.polling[classes[0]], **self.periods}
            self.plan[CUT] = [(b, BlockDecoder(b)) for b in plan_reads(cut, profile.quirks, readable)]
        in_cut = {p.name for p in cut}
        for cls in classes:
            points = [p for p in readable if p.poll == cls and p.name not in in_cut]
            if points:
                self.plan[cls] = [(b, BlockDecoder(b)) for b in plan_reads(points, profile.quirks, readable)]
        self.next_due = {cls: 0.0 for cls in self.plan}

    def split_block(self, cls: str, block: ReadBlock) -> None:
        """A device refused a coalesced read (illegal address): read its points one by one from now on."""
        blocks = self.plan[cls]
        i = next(n for n, (b, _) in enumerate(blocks) if b is block)
        singles = [ReadBlock(block.table, p.address, p.width, (p,)) for p in block.points]
        self.plan[cls] = blocks[:i] + [(b, BlockDecoder(b)) for b in singles] + blocks[i + 1:]

    def drop_point(self, cls: str, block: ReadBlock) -> list[Point]:
        """A single-point read refused: the point does not exist on this device; stop asking."""
        self.unreadable.update(p.name for p in block.points)
        self.plan[cls] = [(b, d) for b, d in self.plan[cls] if b is not block]
        return list(block.points)

    def due(self, now: float) -> list[str]:
        """Poll classes due now, fastest class first."""
        return [cls for cls in self.plan if self.next_due[cls] <= now]

    def polled(self, cls: str, started: float) -> None:
        period = self.periods[cls]
        previous = self.last_poll_start.get(cls)
        if previous is not None and cls == self.fastest_class:
            self.cycle_times.append(started - previous)
            del self.cycle_times[:-500]
        self.last_poll_start[cls] = started
        due = self.next_due[cls] + period
        self.next_due[cls] = due if due > started else started + period

    @property
    def fastest_class(self) -> str:
        return next(iter(self.plan), "")

    def earliest_due(self) -> float:
        return min(self.next_due.values(), default=float("inf"))


def _with_neighbours(cut: list[Point], fastest: list[Point], profile: Profile) -> list[Point]:
    """The cut inputs, plus the fastest class's points that fit into their reads without another frame
    (a port's state beside its temperature costs two bytes; a frame of its own costs tens of ms)."""
    chosen = list(cut)
    frames = len(plan_reads(chosen, profile.quirks))
    names = {p.name for p in chosen}
    for point in fastest:
        if point.name in names:
            continue
        if len(plan_reads([*chosen, point], profile.quirks)) == frames:
            chosen.append(point)
            names.add(point.name)
    return chosen
