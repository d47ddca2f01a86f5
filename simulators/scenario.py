"""Scenario files: a timeline of steps played against a running simulation, for demos and tests.

    name: overheat on port 3
    steps:
      - {at: 0s,  site: shed-1, device: box1, set: {port3.temperature: 71.5}}   # held until released
      - {at: 20s, site: shed-1, device: box1, release: [port3.temperature]}
      - {at: 25s, site: shed-1, device: sd1, fault: {kind: no_reply}}
      - {at: 40s, site: shed-1, device: sd1, clear_fault: all}
      - {at: 45s, site: shed-1, device: panel, event: {name: fire, zone: 3, address: 12}}

`site` may be left out when the simulation has one site. Every step is checked against the running
simulation before anything plays: unknown sites, devices, signals or fault kinds are refused with line.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from devices.checked import Section
from devices.errors import SiteConfigError
from devices.yaml_source import load_yaml
from simulators.faults import FAULT_KINDS, parse_fault

if TYPE_CHECKING:
    from simulators.simulation import Simulation

__all__ = ["Scenario", "Step", "load_scenario", "parse_scenario", "play"]

log = structlog.get_logger("firefleet.sim.scenario")
_ACTIONS = ("set", "release", "fault", "clear_fault", "event")


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    site: str
    device: str
    action: str
    argument: Any
    hold: bool = True
    line: int = 0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def load_scenario(path: Path, sim: Simulation) -> Scenario:
    return parse_scenario(load_yaml(path, SiteConfigError), str(path), sim)


def parse_scenario(data: Any, file: str, sim: Simulation) -> Scenario:
    top = Section(data, file=file, path="", error=SiteConfigError, line=1)
    top.only("name", "steps")
    steps = []
    for s in top.sections("steps"):
        s.only("at", "site", "device", "hold", *_ACTIONS)
        actions = [a for a in _ACTIONS if s.has(a)]
        if len(actions) != 1:
            s.fail(f"a step does exactly one of: {', '.join(_ACTIONS)}")
        action = actions[0]
        site = s.str("site", next(iter(sim.sites)) if len(sim.sites) == 1 else None)
        if site is None:
            s.fail("site is required when several sites are simulated")
        if site not in sim.sites:
            s.fail(f"unknown site {site!r}", "site")
        device_id = s.str("device")
        if device_id not in sim.sites[site].devices:
            s.fail(f"unknown device {device_id!r} at {site}", "device")
        dev = sim.sites[site].devices[device_id]
        argument = s.raw(action)
        if action == "set":
            if not isinstance(argument, dict):
                s.fail("set maps signal names to values", "set")
            for name in argument:
                if name not in dev.signals:
                    s.fail(f"{device_id} has no signal {name!r}", "set")
        elif action == "release" and argument != "all" and not isinstance(argument, list):
            s.fail("release is a list of signal names, or all", "release")
        elif action == "fault":
            try:
                parse_fault(argument)
            except ValueError as exc:
                s.fail(str(exc), "fault")
        elif action == "clear_fault" and argument != "all" and argument not in FAULT_KINDS:
            s.fail(f"clear_fault is all or one of {', '.join(FAULT_KINDS)}", "clear_fault")
        elif action == "event" and (not isinstance(argument, dict) or "name" not in argument):
            s.fail("event needs a name and its fields", "event")
        steps.append(Step(at=s.duration("at", 0.0), site=site, device=device_id, action=action,
                          argument=argument, hold=s.bool("hold", True), line=s.line))
    steps.sort(key=lambda st: st.at)
    return Scenario(name=top.str("name", Path(file).stem), steps=tuple(steps))


def apply_step(sim: Simulation, step: Step) -> None:
    if step.action == "set":
        sim.set_signals(step.site, step.device, dict(step.argument), hold=step.hold)
    elif step.action == "release":
        sim.release(step.site, step.device, None if step.argument == "all" else list(step.argument))
    elif step.action == "fault":
        sim.inject_fault(step.site, step.device, step.argument)
    elif step.action == "clear_fault":
        sim.clear_faults(step.site, step.device, None if step.argument == "all" else step.argument)
    elif step.action == "event":
        fields = {k: v for k, v in step.argument.items() if k != "name"}
        sim.emit_event(step.site, step.device, step.argument["name"], fields)


async def play(sim: Simulation, scenario: Scenario) -> None:
    start = time.monotonic()
    for step in scenario.steps:
        delay = start + step.at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            apply_step(sim, step)
        except ValueError as exc:  # a value that does not encode: say so, keep playing
            log.warning("scenario step refused", scenario=scenario.name, line=step.line, reason=str(exc))
            continue
        log.info("scenario step", scenario=scenario.name, at=step.at, site=step.site, device=step.device,
                 action=step.action)
