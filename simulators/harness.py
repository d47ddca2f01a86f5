"""Run simulations inside a test's event loop: `async with running_simulation(sites, run_dir) as h`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from simulators.main import serve
from simulators.simulation import Simulation

__all__ = ["SimulationHandle", "running_simulation"]


@dataclass
class SimulationHandle:
    sim: Simulation
    control_url: str

    def endpoint(self, site: str, bus: str) -> dict[str, Any]:
        return self.sim.endpoints()[site][bus]


@contextlib.asynccontextmanager
async def running_simulation(site_files: Sequence[Path], run_dir: Path, *, pace: bool = False,
                             profiles_dir: Path | None = None) -> AsyncIterator[SimulationHandle]:
    profiles = load_profile_dir(profiles_dir)
    sim = Simulation([load_site(p, profiles) for p in site_files], profiles, run_dir, pace=pace)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.get_running_loop().create_task(serve(sim, sock, stop=stop, started=started, quiet=True),
                                                  name="simulation-under-test")
    started_wait = asyncio.ensure_future(started.wait())
    done, _ = await asyncio.wait({task, started_wait}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:  # failed to start: raise its error
        started_wait.cancel()
        task.result()
    try:
        yield SimulationHandle(sim, f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        stop.set()
        done, _ = await asyncio.wait({task}, timeout=10)  # not wait_for: it would wait on a stuck cancel
        if not done:
            task.cancel()
            raise RuntimeError(f"the simulation did not stop within 10 s of being asked: {task.get_stack(limit=5)}")
        task.result()
