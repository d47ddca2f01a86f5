"""Several sites simulated in one process, and the operations the control API and scenarios share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devices.profile import Profile
from devices.site_config import SiteConfig
from simulators.device import SimDevice
from simulators.faults import parse_fault
from simulators.site_sim import SiteSimulator

__all__ = ["Simulation", "UnknownDevice"]


class UnknownDevice(LookupError):
    pass


class Simulation:
    def __init__(self, sites: list[SiteConfig], profiles: Mapping[str, Profile], run_dir: Path, *,
                 pace: bool = True, seed: int = 1) -> None:
        ids = [s.id for s in sites]
        if len(set(ids)) != len(ids):
            raise ValueError(f"site ids must be unique, got {ids}")
        self.run_dir = run_dir
        self.sites = {s.id: SiteSimulator(s, profiles, run_dir, pace=pace, seed=seed) for s in sites}

    def device(self, site_id: str, device_id: str) -> SimDevice:
        try:
            return self.sites[site_id].devices[device_id]
        except KeyError:
            raise UnknownDevice(f"no device {device_id!r} at site {site_id!r}") from None

    def endpoints(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {site_id: sim.endpoints() for site_id, sim in self.sites.items()}

    def describe(self, dev: SimDevice) -> dict[str, Any]:
        return {
            "site": dev.site_id, "id": dev.id, "name": dev.config.name, "kind": dev.profile.kind,
            "profile": dev.profile.id, "bus": dev.config.bus, "unit": dev.config.unit,
            "signals": dev.signals, "held": sorted(dev.held),
            "faults": [f.as_dict() for f in dev.faults.active()],
            "requests": dev.requests, "answered": dev.answered,
        }

    # -- operations (control API and scenarios) --------------------------------------------------
    def set_signals(self, site_id: str, device_id: str, values: dict[str, Any], hold: bool = True) -> None:
        self.device(site_id, device_id).set_signals(values, hold=hold)

    def release(self, site_id: str, device_id: str, names: list[str] | None = None) -> None:
        self.device(site_id, device_id).release(names)

    def inject_fault(self, site_id: str, device_id: str, spec: Any) -> dict[str, Any]:
        fault = parse_fault(spec)
        self.device(site_id, device_id).faults.add(fault, time.monotonic())
        return fault.as_dict()

    def clear_faults(self, site_id: str, device_id: str, kind: str | None = None) -> None:
        self.device(site_id, device_id).faults.clear(kind)

    def emit_event(self, site_id: str, device_id: str, event: str, fields: dict[str, Any]) -> str:
        self.device(site_id, device_id)
        return self.sites[site_id].emit_line_event(device_id, event, fields)

    async def run(self, ready: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            events = []
            for site_id, sim in self.sites.items():
                event = asyncio.Event()
                events.append(event)
                tg.create_task(sim.run(event), name=f"sim:{site_id}")
            for event in events:
                await event.wait()
            ready.set()
