"""Device behaviour that looks physical, stepped once a tick.

Charging ports: a battery's current holds at the charger's rating until about 80 % state of charge,
then tapers to a trickle; the port reports "full" below 5 % of rated current. A plug's temperature
follows its power with a first-order lag (a minute's time constant). Batteries drain, sprinkler
pressure breathes and drops while water flows. Nothing here ever overrides a held signal.
"""

from __future__ import annotations

import math
import random

from simulators.device import SimDevice

__all__ = ["seed_behaviour", "step"]

_AMBIENT_C = 18.0
_PLUG_C_PER_W = 0.22  # 70 W of charging warms a plug ~15 C above ambient
_TAU_S = 60.0
_PACK_WH = 600.0  # a typical e-bike pack (48 V, 12.5 Ah)


def seed_behaviour(dev: SimDevice, rng: random.Random) -> None:
    """Plausible starting values for a device of each kind (site-file `initial` values win after)."""
    kind = dev.profile.kind
    if kind == "charging_box":
        count = dev.profile.groups.get("port", 0)
        for n in range(1, count + 1):
            busy = rng.random() < 0.6
            dev.hidden[f"port{n}.soc"] = rng.uniform(20, 70) if busy else 100.0
            dev.signals[f"port{n}.relay"] = busy
            dev.signals[f"port{n}.state"] = "charging" if busy else "idle"
            dev.signals[f"port{n}.temperature"] = _AMBIENT_C
            for name, value in ((f"port{n}.voltage", 0.0), (f"port{n}.rated_power", 400),
                                (f"port{n}.current_limit", 3.5)):
                if name in dev.signals:
                    dev.signals[name] = value
        _set(dev, input_voltage=224.0, box_temperature=_AMBIENT_C + 4)
    elif kind == "smoke_detector":
        _set(dev, temperature=_AMBIENT_C + rng.uniform(-1, 3), battery=rng.randint(60, 98), battery_voltage=3.0,
             contamination=rng.randint(1, 12), obscuration=0.05)
    elif kind == "sprinkler_monitor":
        _set(dev, pipe_pressure=0.35, supply_pressure=0.42, water_temperature=12.0)
    elif kind == "fire_cabinet":
        for name in dev.signals:
            if name.endswith("_present"):
                dev.signals[name] = True
        _set(dev, extinguisher_1_pressure=1.2, extinguisher_2_pressure=1.18, temperature=_AMBIENT_C,
             humidity=65, battery=100)
    elif kind == "camera":
        for c in range(1, dev.profile.groups.get("channel", 0) + 1):
            _set(dev, **{f"channel{c}.online": True, f"channel{c}.recording": True})
        _set(dev, disk_used=41, uptime=1200)
    elif kind == "station_monitor":
        for n in range(1, dev.profile.groups.get("extinguisher", 0) + 1):
            _set(dev, **{f"extinguisher{n}.pressure": round(rng.uniform(1.1, 1.3), 2)})
        for v in range(1, dev.profile.groups.get("vehicle", 0) + 1):
            _set(dev, **{f"vehicle{v}.soc": rng.randint(88, 100), f"vehicle{v}.voltage": 60.0,
                         f"vehicle{v}.temperature": _AMBIENT_C, f"vehicle{v}.on_charger": True,
                         f"vehicle{v}.parked": True})
        _set(dev, station_temperature=_AMBIENT_C)


def step(dev: SimDevice, dt: float, rng: random.Random) -> None:
    kind = dev.profile.kind
    if kind == "charging_box":
        _step_charging_box(dev, dt, rng)
    elif kind == "smoke_detector":
        _step_smoke_detector(dev, dt, rng)
    elif kind == "sprinkler_monitor":
        _step_sprinkler(dev, dt, rng)
    elif kind == "camera":
        dev.update("uptime", int(dev.value("uptime", 0)) + (1 if rng.random() < dt / 3600 else 0))
    elif kind == "station_monitor":
        _step_station(dev, dt)


def _set(dev: SimDevice, **values: object) -> None:
    for name, value in values.items():
        if name in dev.signals:
            dev.signals[name] = value


def _lag(current: float, target: float, dt: float) -> float:
    return target + (current - target) * math.exp(-dt / _TAU_S)


def _step_charging_box(dev: SimDevice, dt: float, rng: random.Random) -> None:
    count = dev.profile.groups.get("port", 0)
    box_lid_smoke = bool(dev.value("lid_smoke", False))
    total = 0.0
    for n in range(1, count + 1):
        p = f"port{n}."
        if box_lid_smoke:  # the LN-20S cuts every port by itself when its lid sensor sees smoke
            dev.update(p + "relay", False)
        on = bool(dev.value(p + "relay"))
        soc = dev.hidden.get(p + "soc", 100.0)
        rated_w = float(dev.value(p + "rated_power", 400) or 400)
        volts = 36.0 + 12.0 * soc / 100 if on else 0.0
        full_current = min(rated_w / 48.0, float(dev.value(p + "current_limit", 3.5) or 3.5)) * 0.55
        taper = 1.0 if soc < 80 else max(0.03, (100 - soc) / 20)
        current = full_current * taper if on and soc < 99.9 else 0.0
        power = volts * current
        soc = min(100.0, soc + power * dt / 3600 / _PACK_WH * 100)
        dev.hidden[p + "soc"] = soc
        state = ("full" if current < 0.05 * full_current else "charging") if on else "idle"
        dev.update(p + "state", state)
        dev.update(p + "voltage", round(volts, 1))
        dev.update(p + "current", round(current, 2))
        dev.update(p + "power", int(power))
        if p + "energy" in dev.signals:
            dev.update(p + "energy", round(float(dev.value(p + "energy", 0.0)) + power * dt / 3.6e6, 4))
        if p + "charge_minutes" in dev.signals and on and current > 0:
            dev.hidden[p + "seconds"] = dev.hidden.get(p + "seconds", 0.0) + dt
            dev.update(p + "charge_minutes", int(dev.hidden[p + "seconds"] // 60))
        temp = float(dev.value(p + "temperature") or _AMBIENT_C)
        target = _AMBIENT_C + _PLUG_C_PER_W * power + rng.uniform(-0.2, 0.2)
        dev.update(p + "temperature", round(_lag(temp, target, dt), 1))
        total += power
    dev.update("input_power", int(total + 6))
    dev.update("total_power", int(total + 6))
    dev.update("residual_current", max(0, int(3 + rng.uniform(-1, 1))))


def _step_smoke_detector(dev: SimDevice, dt: float, rng: random.Random) -> None:
    smoke = bool(dev.value("smoke_alarm", False)) or dev.value("alarm_state") in ("alarm", "prealarm")
    base = 4.5 if smoke else 0.05
    dev.update("obscuration", round(max(0.0, base + rng.uniform(-0.02, 0.02)), 2))
    dev.hidden["drain"] = dev.hidden.get("drain", 0.0) + dt / 21600  # 1 % a simulated 6 h
    if dev.hidden["drain"] >= 1:
        dev.hidden["drain"] = 0.0
        dev.update("battery", max(0, int(dev.value("battery", 0)) - 1))
    if "low_battery" in dev.signals:
        dev.update("low_battery", int(dev.value("battery", 100)) < 15)


def _step_sprinkler(dev: SimDevice, dt: float, rng: random.Random) -> None:
    flowing = bool(dev.value("water_flow", False))
    current = dev.value("pipe_pressure")
    if current is None:
        return
    target = 0.08 if flowing else 0.35
    value = target + (float(current) - target) * math.exp(-dt / (5.0 if flowing else 30.0))
    dev.update("pipe_pressure", round(value + rng.uniform(-0.002, 0.002), 3))


def _step_station(dev: SimDevice, dt: float) -> None:
    for v in range(1, dev.profile.groups.get("vehicle", 0) + 1):
        p = f"vehicle{v}."
        soc = float(dev.value(p + "soc", 100))
        charging = bool(dev.value(p + "on_charger")) and soc < 100
        dev.update(p + "charging", charging)
        rate = 1.0 / 60 if charging else -0.05 / 60  # % per second
        dev.hidden[p + "soc"] = min(100.0, max(0.0, dev.hidden.get(p + "soc", soc) + rate * dt))
        if abs(dev.hidden[p + "soc"] - soc) >= 1:
            dev.update(p + "soc", int(dev.hidden[p + "soc"]))
        dev.update(p + "voltage", round(48 + 12 * soc / 100, 1))
