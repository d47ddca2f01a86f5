"""Run the simulators of one or more site files until Ctrl-C, SIGTERM or --duration.

Prints where every bus is served (pseudo-terminal paths, TCP ports) and writes the same as JSON to
`served.json` in the run folder, so a gateway or a test can map the site file's buses onto them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys
import tempfile
from pathlib import Path

import uvicorn

from devices.logs import configure_logging
from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from simulators.control_api import build_app
from simulators.quiet_server import QuietServer
from simulators.scenario import Scenario, load_scenario, play
from simulators.simulation import Simulation

__all__ = ["run_from_args", "serve"]


def run_from_args(args: argparse.Namespace) -> int:
    configure_logging()
    profiles = load_profile_dir(args.profiles)
    sites = [load_site(path, profiles) for path in args.site]
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="firefleet-sim-"))
    sim = Simulation(sites, profiles, run_dir, pace=args.pace == "real")
    scenario = load_scenario(args.scenario, sim) if args.scenario else None
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", args.control_port))
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.control_port} for the control API: {exc.strerror}"
              " (choose another with --control-port, or 0 for any free port)", file=sys.stderr)
        return 2
    return asyncio.run(serve(sim, sock, scenario=scenario, duration=args.duration))


async def serve(sim: Simulation, sock: socket.socket, *, scenario: Scenario | None = None,
                duration: float | None = None, stop: asyncio.Event | None = None,
                started: asyncio.Event | None = None, quiet: bool = False) -> int:
    """Serve until `stop` is set (by default: SIGINT or SIGTERM) or `duration` passes."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    scenario_tasks: set[asyncio.Task[None]] = set()
    server = QuietServer(uvicorn.Config(build_app(sim, scenario_tasks), log_level="warning", lifespan="off"))
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        sim_task = tg.create_task(sim.run(ready), name="simulation")
        await ready.wait()
        sock.listen(64)
        api_task = tg.create_task(server.serve(sockets=[sock]), name="control-api")
        while not server.started:
            await asyncio.sleep(0.01)
        control = f"http://127.0.0.1:{sock.getsockname()[1]}"
        served = {"control": control, "sites": sim.endpoints()}
        (sim.run_dir / "served.json").write_text(json.dumps(served, indent=2))
        if not quiet:
            _print_served(sim, control)
        if started is not None:
            started.set()
        if scenario is not None:
            scenario_tasks.add(tg.create_task(play(sim, scenario), name=f"scenario:{scenario.name}"))
        with contextlib.suppress(TimeoutError):  # asyncio.timeout: 3.11's wait_for can lose a cancel (gh-86296)
            async with asyncio.timeout(duration):
                await stop.wait()
        if not quiet:
            print("stopping simulators", flush=True)
        server.should_exit = True
        await api_task
        for task in (sim_task, *scenario_tasks):
            task.cancel()
    return 0


def _print_served(sim: Simulation, control: str) -> None:
    n_devices = sum(len(s.devices) for s in sim.sites.values())
    print(f"firefleet simulators: {len(sim.sites)} sites, {n_devices} devices", flush=True)
    for site_id, site_sim in sim.sites.items():
        site = site_sim.site
        print(f"  {site_id}  {site.name}  ({site.kind}, {site.street})")
        for bus_id, where in site_sim.endpoints().items():
            place = where.get("path") or f"{where['host']}:{where['port']}"
            speed = f"{where['baud']} baud" if "baud" in where else ""
            units = ", ".join(f"{d.unit}:{d.id}" for d in site.devices_on(bus_id))
            print(f"    {bus_id:14} {where['type']:11} {place:52} {speed:11} {units}")
    print(f"control API: {control}   (GET /devices, POST .../signals, .../faults)")
    print(f"served map:  {sim.run_dir / 'served.json'}", flush=True)
