"""Local alarm rules and interlocks: pure, clock passed in, state that can be saved and restored.

Theory of operation. Each rule becomes one or more *instances* bound to a device (a profile rule with
`each: port` becomes one instance per port). An instance watches one condition on the latest values:

    inactive --(condition true)--> pending --(held `for` seconds)--> ACTIVE: raise, run actions
    ACTIVE --(clear condition true, or the condition false if none)--> inactive: clear
    ACTIVE with latch --(condition gone)--> stays active until acknowledged

Three sources of instances: profile rules (with site overrides), point alarm semantics (a point with
`alarm: {normal: ...}` is active whenever its value differs from normal), and site interlocks over
groups (`any` / `all` devices of a group with an active alarm of a class, or offline). A device that
stops answering sets the virtual point `_offline`; a missing value never satisfies a condition, so a
silent device raises its own `fault` (device offline) rather than silently holding an alarm off.

Timers are wall-clock based (`pending_since`) so that a sustain that began before a restart still
counts after it; `snapshot()` / `restore()` carry the state across.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.profile import Condition, Profile
from devices.site_config import Interlock, SiteConfig

__all__ = [
    "Action", "RuleEngine", "RuleInstance", "Transition", "build_instances", "cut_inputs"]

OFFLINE = "_offline"


@dataclass(frozen=True, slots=True)
class Action:
    device: str
    point: str
    value: Any


@dataclass(frozen=True, slots=True)
class RuleInstance:
    key: str  # unique: device/rule[/instance]
    device: str
    rule: str
    cls: str
    severity: int
    when: Condition | None = None
    clear: Condition | None = None
    sustain_s: float = 0.0
    actions: tuple[Action, ...] = ()
    latch: bool = False
    text: str = ""
    interlock: Interlock | None = None
    members: tuple[str, ...] = ()  # devices an interlock watches


@dataclass
class _State:
    pending_since: float | None = None
    active: bool = False
    latched: bool = False
    acknowledged: bool = False
    value: Any = None


@dataclass(frozen=True, slots=True)
class Transition:
    kind: str  # "raise" | "clear"
    instance: RuleInstance
    value: Any
    at: float


@dataclass
class _History:
    """Last sample of a point, for rate-of-rise conditions."""

    previous: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    current: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)


def _compare(op: str, value: Any, target: Any) -> bool:
    try:
        if op == "==":
            return bool(value == target)
        if op == "!=":
            return bool(value != target)
        if op == ">":
            return bool(value > target)
        if op == ">=":
            return bool(value >= target)
        if op == "<":
            return bool(value < target)
        if op == "<=":
            return bool(value <= target)
    except TypeError:
        return False
    return False


class RuleEngine:
    def __init__(self, instances: Iterable[RuleInstance], groups: Mapping[str, Iterable[str]]) -> None:
        self.instances = {i.key: i for i in instances}
        self.groups = {g: tuple(m) for g, m in groups.items()}
        self._state = {key: _State() for key in self.instances}
        self._by_device: dict[str, list[RuleInstance]] = {}
        self._interlocks = [i for i in self.instances.values() if i.interlock is not None]
        for inst in self.instances.values():
            if inst.interlock is None:
                self._by_device.setdefault(inst.device, []).append(inst)
        self.values: dict[str, dict[str, Any]] = {}
        self._history = _History()
        self._unconfirmed: set[str] = set()  # restored active instances whose inputs were not read yet
        self._acting: dict[str, RuleInstance] = {}  # active instances with actions: checked on every poll
        self._timing: set[str] = set()  # instances whose sustain timer runs (pending_since set)
        # Interlocks read only which alarm classes are active per device and which devices are offline:
        # both are kept as they change, and the interlocks are looked at only when one of them did (or an
        # interlock's own timer runs, or it was restored and waits for its inputs), not on every poll.
        self._active_classes: dict[str, Counter[str]] = {}
        self._interlocks_dirty = True
        self.evaluations = 0  # rule instances evaluated since start (edge.metrics)

    # -- inputs ------------------------------------------------------------------------------------
    def update(self, device: str, values: Mapping[str, Any], now: float) -> list[Transition]:
        """New values from a device (a poll). Returns what raised or cleared."""
        current = self.values.setdefault(device, {})
        for name, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                key = (device, name)
                if key in self._history.current:
                    self._history.previous[key] = self._history.current[key]
                self._history.current[key] = (now, float(value))
        if current.get(OFFLINE) is not False:
            self._interlocks_dirty = True
        current.update(values)
        current[OFFLINE] = False
        return self._evaluate(self._by_device.get(device, ()), now)

    def set_offline(self, device: str, offline: bool, now: float) -> list[Transition]:
        current = self.values.setdefault(device, {})
        if current.get(OFFLINE) is not offline:
            self._interlocks_dirty = True
        current[OFFLINE] = offline
        return self._evaluate(self._by_device.get(device, ()), now)

    def tick(self, now: float) -> list[Transition]:
        """Let sustain timers run out between polls (call about once a second)."""
        pending = [self.instances[k] for k, s in self._state.items() if s.pending_since is not None or s.latched]
        self._interlocks_dirty = True
        return self._evaluate([i for i in pending if i.interlock is None], now)

    def next_due(self) -> float | None:
        """When the earliest sustain timer runs out (a `tick` then may raise), if any is running."""
        due = [pending + self.instances[k].sustain_s for k in self._timing
               if (pending := self._state[k].pending_since) is not None]
        return min(due, default=None)

    def acknowledge(self, key: str, now: float) -> list[Transition]:
        """A person acknowledged: a latched instance whose condition is gone may now clear."""
        state = self._state.get(key)
        if state is None:
            return []
        state.acknowledged = True
        self._interlocks_dirty = True
        inst = self.instances[key]
        return self._evaluate([inst] if inst.interlock is None else [], now)

    # -- state -------------------------------------------------------------------------------------
    def active(self) -> list[RuleInstance]:
        return [self.instances[k] for k, s in self._state.items() if s.active]

    def acting(self) -> list[RuleInstance]:
        """The active instances that have actions (interlocks that hold): few, kept as they change."""
        return list(self._acting.values())

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {k: {"pending_since": s.pending_since, "active": s.active, "latched": s.latched,
                    "acknowledged": s.acknowledged} for k, s in self._state.items()
                if s.active or s.pending_since is not None}

    def carry(self, old: RuleEngine) -> None:
        """Take over a running engine (a configuration applied in place, edge.config_apply): its state for
        the instances both have (restored as after a restart), its last values and samples of the devices
        this one knows, and its count. Interlocks that hold go on holding without a pause."""
        self.restore(old.snapshot())
        devices = {i.device for i in self.instances.values()} | {m for g in self.groups.values() for m in g}
        self.values = {d: dict(v) for d, v in old.values.items() if d in devices}
        self._history.previous = {k: v for k, v in old._history.previous.items() if k[0] in devices}
        self._history.current = {k: v for k, v in old._history.current.items() if k[0] in devices}
        self._unconfirmed &= old._unconfirmed  # what the old engine saw confirmed stays confirmed
        self.evaluations = old.evaluations
        self._interlocks_dirty = True

    def restore(self, saved: Mapping[str, Mapping[str, Any]]) -> None:
        """State from before a restart. An alarm that was active stays active until every input of its rule
        has been read again: the first poll after a restart must not 'clear' what still holds."""
        for key, data in saved.items():
            if key in self._state:
                self._state[key] = _State(pending_since=data.get("pending_since"), active=bool(data.get("active")),
                                          latched=bool(data.get("latched")),
                                          acknowledged=bool(data.get("acknowledged")))
                if self._state[key].pending_since is not None:
                    self._timing.add(key)
                if self._state[key].active:
                    self._unconfirmed.add(key)
                    self._count_class(self.instances[key], +1)
                    if self.instances[key].actions:
                        self._acting[key] = self.instances[key]
        self._interlocks_dirty = True

    def _inputs_read(self, inst: RuleInstance) -> bool:
        """Whether every input of a restored instance has been read since the restart."""
        if inst.interlock is not None:
            return all(m in self.values for m in inst.members)
        values = self.values.get(inst.device, {})
        points = [c.point for c in (inst.when, inst.clear) if c is not None and not c.op.startswith("rise")]
        return all(p in values for p in points) or values.get(OFFLINE) is True

    # -- evaluation --------------------------------------------------------------------------------
    def _holds(self, device: str, cond: Condition, now: float) -> tuple[bool, Any]:
        values = self.values.get(device, {})
        if cond.op.startswith("rise"):
            key = (device, cond.point)
            if key not in self._history.previous or key not in self._history.current:
                return False, None
            (t0, v0), (t1, v1) = self._history.previous[key], self._history.current[key]
            if t1 <= t0:
                return False, None
            per_minute = (v1 - v0) / (t1 - t0) * 60
            return _compare(cond.op[4:], per_minute, cond.value), round(per_minute, 3)
        if cond.point not in values:
            return False, None
        value = values[cond.point]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False, None
        return _compare(cond.op, value, cond.value), value

    def _evaluate(self, instances: Iterable[RuleInstance], now: float) -> list[Transition]:
        out: list[Transition] = []
        for inst in instances:
            assert inst.when is not None
            self.evaluations += 1
            holds, value = self._holds(inst.device, inst.when, now)
            out.extend(self._step(inst, holds, value, now))
        if out or self._interlocks_dirty or any(i.key in self._timing or i.key in self._unconfirmed
                                                 for i in self._interlocks):
            self._interlocks_dirty = False
            out.extend(self._evaluate_interlocks(now))
        return out

    def _count_class(self, inst: RuleInstance, step: int) -> None:
        if inst.interlock is None:
            self._active_classes.setdefault(inst.device, Counter())[inst.cls] += step

    def _step(self, inst: RuleInstance, holds: bool, value: Any, now: float) -> list[Transition]:
        state = self._state[inst.key]
        if holds:
            state.value = value
            self._unconfirmed.discard(inst.key)
            if state.active:
                return []
            if state.pending_since is None:
                state.pending_since = now
                self._timing.add(inst.key)
            if now - state.pending_since >= inst.sustain_s:
                state.active, state.pending_since, state.latched = True, None, inst.latch
                self._timing.discard(inst.key)
                self._count_class(inst, +1)
                state.acknowledged = False
                if inst.actions:
                    self._acting[inst.key] = inst
                return [Transition("raise", inst, value, now)]
            return []
        state.pending_since = None
        self._timing.discard(inst.key)
        if not state.active:
            return []
        if inst.key in self._unconfirmed:
            if not self._inputs_read(inst):
                return []  # restored, and not every input seen again yet: it holds as it was
            self._unconfirmed.discard(inst.key)
        if inst.clear is not None:
            cleared, value = self._holds(inst.device, inst.clear, now)
            if not cleared:
                return []
        if state.latched and not state.acknowledged:
            return []
        state.active = state.latched = state.acknowledged = False
        self._count_class(inst, -1)
        self._acting.pop(inst.key, None)
        return [Transition("clear", inst, value, now)]

    def _evaluate_interlocks(self, now: float) -> list[Transition]:
        out: list[Transition] = []
        active_classes = self._active_classes
        for inst in self._interlocks:
            lock = inst.interlock
            assert lock is not None
            def member_true(device: str, lock: Interlock = lock) -> bool:
                if lock.offline:
                    return bool(self.values.get(device, {}).get(OFFLINE, False))
                return active_classes.get(device, _NONE)[lock.alarm_class] > 0
            members = inst.members
            holds = bool(members) and (all(map(member_true, members)) if lock.mode == "all"
                                       else any(map(member_true, members)))
            firing = [d for d in members if member_true(d)]
            out.extend(self._step(inst, holds, firing, now))
        return out


_NONE: Counter[str] = Counter()


def cut_inputs(instances: Iterable[RuleInstance]) -> dict[str, frozenset[str]]:
    """Per device, the points whose reading can fire an action (cut a port, sound a sounder): the inputs of
    every rule with actions, and for each interlock the points that raise its alarm class on its members.
    The bus workers read these first (edge.polled_device)."""
    by_device: dict[str, set[str]] = {}
    plain = [i for i in instances if i.interlock is None]
    def add(inst: RuleInstance) -> None:
        for cond in (inst.when, inst.clear):
            if cond is not None and cond.point != OFFLINE:
                by_device.setdefault(inst.device, set()).add(cond.point)
    for inst in plain:
        if inst.actions:
            add(inst)
    for lock in (i for i in instances if i.interlock is not None and i.actions):
        assert lock.interlock is not None
        if lock.interlock.offline:
            continue
        members = set(lock.members)
        for inst in plain:
            if inst.device in members and inst.cls == lock.interlock.alarm_class:
                add(inst)
    return {device: frozenset(points) for device, points in by_device.items()}


def build_instances(site: SiteConfig, profiles: Mapping[str, Profile]) -> list[RuleInstance]:
    """Every rule instance of a site: profile rules with overrides, point alarms, site interlocks."""
    instances: list[RuleInstance] = []
    for dev in site.devices:
        profile = profiles[dev.profile]
        watched: set[str] = set()
        for rule in profile.rules:
            override = next((o for o in site.rules if o.rule == rule.id and
                             (o.device == dev.id or (o.group and o.group in dev.groups))), None)
            if override is not None and not override.enabled:
                continue
            sustain = override.sustain_s if override is not None and override.sustain_s is not None else rule.sustain_s
            when_value = override.when_value if override is not None and override.when_value is not None else None
            prefixes = [f"{rule.each}{n}." for n in range(1, profile.groups.get(rule.each, 0) + 1)] if rule.each \
                else [""]
            for prefix in prefixes:
                when = Condition(prefix + rule.when.point, rule.when.op,
                                 rule.when.value if when_value is None else when_value)
                clear = Condition(prefix + rule.clear.point, rule.clear.op, rule.clear.value) if rule.clear else None
                watched.add(when.point)
                suffix = f"/{prefix[:-1]}" if prefix else ""
                instances.append(RuleInstance(
                    key=f"{dev.id}/{rule.id}{suffix}", device=dev.id, rule=rule.id, cls=rule.raise_class,
                    severity=rule.severity, when=when, clear=clear, sustain_s=sustain, latch=rule.latch, text=rule.text,
                    actions=tuple(Action(dev.id, prefix + p, v) for p, v in rule.actions)))
        for point in profile.points:
            if point.alarm is None or point.name in watched:
                continue
            instances.append(RuleInstance(
                key=f"{dev.id}/{point.name}", device=dev.id, rule=point.name, cls=point.alarm.cls,
                severity=point.alarm.severity, when=Condition(point.name, "!=", point.alarm.normal),
                text=point.alarm.text))
        instances.append(RuleInstance(key=f"{dev.id}/device-offline", device=dev.id, rule="device-offline",
                                      cls="fault", severity=3, when=Condition(OFFLINE, "==", True),
                                      text="设备离线"))
    groups = site_groups(site)
    for lock in site.interlocks:
        actions: list[Action] = []
        for act in lock.actions:
            targets = [act.device] if act.device else groups.get(act.group, [])
            for device_id in targets:
                profile = profiles[site.device(device_id).profile]
                for p in profile.points:
                    if p.writable and (p.name == act.point or p.name.endswith("." + act.point)):
                        actions.append(Action(device_id, p.name, act.value))
        instances.append(RuleInstance(key=f"site/{lock.id}", device="", rule=lock.id, cls=lock.raise_class,
                                      severity=lock.severity, sustain_s=lock.sustain_s, latch=lock.latch,
                                      actions=tuple(actions), interlock=lock,
                                      members=tuple(groups.get(lock.group, []))))
    return instances


def site_groups(site: SiteConfig) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for dev in site.devices:
        for g in dev.groups:
            groups.setdefault(g, []).append(dev.id)
    return groups
