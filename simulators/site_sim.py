"""Everything one site file describes, simulated: its devices, their buses and their physics.

Each RTU bus becomes one pseudo-terminal shared by its slaves, each TCP bus one loopback port, each
plain serial device one pseudo-terminal. `endpoints()` says where each bus is served, in the terms a
gateway's bus map uses (`path` for a serial line, `host` and `port` for TCP).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devices.profile import Profile
from devices.serial_frames import format_line_event
from devices.site_config import SiteConfig
from simulators import physics
from simulators.camera import CameraHttp
from simulators.device import SimDevice
from simulators.rtu_line import RtuLine
from simulators.serial_line import SerialDeviceLine
from simulators.tcp_server import TcpEndpoint

__all__ = ["SiteSimulator"]

TICK_S = 1.0


class SiteSimulator:
    def __init__(self, site: SiteConfig, profiles: Mapping[str, Profile], run_dir: Path, *, pace: bool = True,
                 seed: int = 1, tcp_host: str = "127.0.0.1") -> None:
        self.site = site
        self.rng = random.Random(f"{seed}:{site.id}")
        self.devices: dict[str, SimDevice] = {}
        for i, cfg in enumerate(site.devices):
            dev = SimDevice(cfg, profiles[cfg.profile], site.id, seed=seed * 1000 + i)
            physics.seed_behaviour(dev, self.rng)
            dev.set_signals(cfg.initial)
            self.devices[cfg.id] = dev
        self.servers: dict[str, RtuLine | TcpEndpoint | SerialDeviceLine] = {}
        self.cameras: dict[str, CameraHttp] = {}  # bus -> its cameras' snapshot endpoint
        for bus in site.buses:
            on_bus = [self.devices[d.id] for d in site.devices_on(bus.id)]
            link = run_dir / site.id / bus.id
            if bus.type == "modbus_rtu":
                self.servers[bus.id] = RtuLine(bus, on_bus, link, pace=pace)
            elif bus.type == "modbus_tcp":
                self.servers[bus.id] = TcpEndpoint(bus, on_bus, host=tcp_host)
                if any(d.profile.snapshot is not None for d in on_bus):
                    self.cameras[bus.id] = CameraHttp(on_bus, self.smoke, host=tcp_host)
            elif on_bus:
                self.servers[bus.id] = SerialDeviceLine(bus, on_bus[0], link, pace=pace)

    def endpoints(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for bus_id, server in self.servers.items():
            if isinstance(server, TcpEndpoint):
                out[bus_id] = {"type": "modbus_tcp", "host": server.host, "port": server.port}
                if bus_id in self.cameras:
                    out[bus_id]["http_port"] = self.cameras[bus_id].port
            else:
                out[bus_id] = {"type": server.bus.type, "path": str(server.link_path), "baud": server.bus.baud}
        return out

    def smoke(self) -> float:
        """How smoky the site is, 0 to 1, as its cameras see it: a detector in alarm, or the thickest smoke
        any detector reads (obscuration, %/m, 4.5 in alarm), or a charging box whose lid sensor sees smoke."""
        level = 0.0
        for dev in self.devices.values():
            if dev.profile.kind == "smoke_detector":
                alarmed = bool(dev.value("smoke_alarm", False)) or dev.value("alarm_state") == "alarm"
                level = max(level, 1.0 if alarmed else float(dev.value("obscuration", 0.0) or 0.0) / 4.5)
            elif dev.value("lid_smoke", False):
                level = 1.0
        return min(1.0, level)

    def emit_line_event(self, device_id: str, event_name: str, fields: Mapping[str, Any]) -> str:
        """Make a fire panel print an event line; returns the line. ValueError on a bad event."""
        dev = self.devices[device_id]
        framing = dev.profile.lines
        if framing is None:
            raise ValueError(f"{device_id} does not print event lines")
        event = next((e for e in framing.events if e.name == event_name), None)
        if event is None:
            raise ValueError(f"unknown event {event_name!r} (one of {', '.join(e.name for e in framing.events)})")
        values: dict[str, Any] = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "text": "", "loop": 1, "zone": 1,
                                  "address": 1, **fields}
        try:
            line = format_line_event(event, values)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"event fields do not fit the panel's format: {exc}") from None
        dev.pending_lines.append(line)
        server = self.servers.get(dev.config.bus)
        if isinstance(server, SerialDeviceLine):
            server.notify_lines()
        return line

    async def run(self, ready: asyncio.Event) -> None:
        """Serve every bus and step the physics until cancelled; `ready` is set once all buses listen."""
        async with asyncio.TaskGroup() as tg:
            events = []
            for bus_id, server in [*self.servers.items(), *self.cameras.items()]:
                event = asyncio.Event()
                events.append(event)
                tg.create_task(server.serve(event), name=f"sim:{self.site.id}:{bus_id}")
            for event in events:
                await event.wait()
            ready.set()
            tg.create_task(self._physics(), name=f"sim:{self.site.id}:physics")

    async def _physics(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for dev in self.devices.values():
                physics.step(dev, now - last, self.rng)
            last = now
