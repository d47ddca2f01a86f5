"""The crash soak: alarm raise/clear cycles at the simulators while the edge agent is killed (SIGKILL), the
collector is killed and mosquitto is restarted, at random moments. What reached the agent must reach the
collector's API exactly once, in order. Used by bench/soak.py (long) and tests/integration/test_soak.py.

Each cycle holds a tamper switch on for `hold_s`, then off for `hold_s`: long enough for an agent killed
in between to come back and read it, so every injected condition reaches the agent. At the API the
alarm's log must then show, per cycle, one raise (raised or repeated) and one clear, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from simulators.harness import running_simulation
from tests.support.collector_process import CollectorProcess
from tests.support.keys import public_key
from tests.support.mosquitto import Mosquitto

__all__ = ["SoakReport", "run_soak"]

ROOT = Path(__file__).resolve().parent.parent.parent
SHED = ROOT / "deploy" / "examples" / "sites" / "charging-shed.yaml"
SITE, KEY = "shed-xixi-01", "sd3/tamper"


@dataclass
class SoakReport:
    cycles: int = 0
    agent_kills: int = 0
    collector_kills: int = 0
    broker_restarts: int = 0
    raises_seen: int = 0
    clears_seen: int = 0
    out_of_order: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return max(0, self.cycles - self.raises_seen) + max(0, self.cycles - self.clears_seen)

    @property
    def duplicated(self) -> int:
        return max(0, self.raises_seen - self.cycles) + max(0, self.clears_seen - self.cycles)

    def lines(self) -> list[str]:
        worst = max(self.delays, default=0.0)
        median = sorted(self.delays)[len(self.delays) // 2] if self.delays else 0.0
        return [f"conditions injected   {self.cycles} raises + {self.cycles} clears",
                f"crashes               agent SIGKILL x{self.agent_kills}, collector SIGKILL x{self.collector_kills}, "
                f"mosquitto restart x{self.broker_restarts}",
                f"seen at the API       {self.raises_seen} raises, {self.clears_seen} clears",
                f"lost                  {self.lost}",
                f"duplicated            {self.duplicated}",
                f"out of order          {self.out_of_order}",
                f"injection -> API      median {median:.1f} s, worst {worst:.1f} s"]


class _Agent:
    """`firefleet edge` as its own process, so it can be killed like a Pi losing power."""

    def __init__(self, folder: Path, broker: Mosquitto) -> None:
        self.folder, self.broker = folder, broker
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = open(self.folder / "agent.log", "ab")  # noqa: SIM115 - the process writes to it
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devices.cli", "edge", "--config", str(SHED), "--data-dir", str(self.folder / "d"),
            "--bus-map", str(self.folder / "run" / "served.json"), "--broker", self.broker.url, "--heartbeat", "5",
            "--collector-key", str(public_key()), stdout=asyncio.subprocess.DEVNULL, stderr=log)

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                await self.kill()


async def _log_counts(http: httpx.AsyncClient) -> tuple[int, int, int]:
    """(raises, clears, out-of-order) in the alarm logs of the tamper key, oldest alarm first."""
    listed = await http.get("/api/alarms", params={"all": "1"})
    listed.raise_for_status()
    alarms = [a for a in listed.json() if a["key"] == KEY]
    raises = clears = disorder = 0
    for alarm in sorted(alarms, key=lambda a: a["id"]):
        condition = None
        detail = await http.get(f"/api/alarms/{alarm['id']}")
        detail.raise_for_status()
        for entry in detail.json()["log"]:
            if entry["who"] != "site":
                continue
            if entry["action"] in ("raised", "repeated"):
                raises += 1
                disorder += condition == "active"
                condition = "active"
            elif entry["action"] == "condition cleared":
                clears += 1
                disorder += condition != "active"
                condition = "cleared"
    return raises, clears, disorder


async def run_soak(folder: Path, *, cycles: int = 40, agent_kills: int = 10, collector_kills: int = 5,
                   broker_restarts: int = 3, hold_s: float = 4.0, seed: int = 1,
                   progress: bool = False) -> SoakReport:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    # the crash plan: at which cycle, and how far into it, each crash happens
    plan = sorted([(rng.uniform(1, cycles), "agent") for _ in range(agent_kills)]
                  + [(rng.uniform(1, cycles), "collector") for _ in range(collector_kills)]
                  + [(rng.uniform(1, cycles), "broker") for _ in range(broker_restarts)])
    report = SoakReport()
    broker = Mosquitto(folder / "mq", extra_config=f"persistence true\npersistence_location {folder / 'mq'}/\n")
    broker.start()
    collector = CollectorProcess(folder / "cloud", broker.url)
    await collector.start()
    agent = _Agent(folder, broker)
    try:
        async with running_simulation([SHED], folder / "run") as sim, httpx.AsyncClient(
                base_url=collector.url, timeout=10) as http:
            http.headers["Authorization"] = f"Bearer {await collector.token()}"
            tamper = sim.sim.device(SITE, "sd3")
            await agent.start()
            await asyncio.sleep(4)
            started = time.monotonic()

            async def crash(kind: str) -> None:
                nonlocal collector
                if kind == "agent":
                    await agent.kill()
                    report.agent_kills += 1
                    await agent.start()
                elif kind == "collector":
                    collector.kill()
                    assert collector.proc is not None
                    await collector.proc.wait()
                    report.collector_kills += 1
                    await collector.start()
                else:
                    broker.restart()
                    report.broker_restarts += 1

            async def crashes() -> None:
                for at, kind in plan:
                    await asyncio.sleep(max(0.0, started + at * 2 * hold_s - time.monotonic()))
                    await crash(kind)

            injected: list[float] = []
            seen: dict[int, float] = {}

            async def watch() -> None:
                """When each raise first shows at the API (polled twice a second)."""
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        raises, _, _ = await _log_counts(http)
                        for k in range(1, raises + 1):
                            seen.setdefault(k, time.monotonic())
                    await asyncio.sleep(0.5)

            crasher = asyncio.get_running_loop().create_task(crashes(), name="soak-crashes")
            watcher = asyncio.get_running_loop().create_task(watch(), name="soak-watch")
            for n in range(1, cycles + 1):
                injected.append(time.monotonic())
                tamper.set_signals({"tamper": True}, hold=True)
                await asyncio.sleep(hold_s)
                tamper.set_signals({"tamper": False}, hold=True)
                await asyncio.sleep(hold_s)
                report.cycles = n
                if progress:
                    print(f"  cycle {n}/{cycles}: crashes so far agent {report.agent_kills}, collector "
                          f"{report.collector_kills}, broker {report.broker_restarts}", flush=True)
            await crasher
            # let everything settle: every backlog drained, every ack in
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    raises, clears, disorder = await _log_counts(http)
                    report.raises_seen, report.clears_seen, report.out_of_order = raises, clears, disorder
                    if raises >= cycles and clears >= cycles:
                        break
                await asyncio.sleep(1.0)
            await asyncio.sleep(5)  # anything still coming would be a duplicate
            watcher.cancel()
            report.raises_seen, report.clears_seen, report.out_of_order = await _log_counts(http)
            report.delays = [seen[k] - at for k, at in enumerate(injected, start=1) if k in seen]
    finally:
        await agent.stop()
        await collector.stop()
        broker.stop()
    return report

