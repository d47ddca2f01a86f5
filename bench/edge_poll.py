"""Edge polling benchmark: the agent against a straightforward sequential pymodbus loop, side by side.

Part 1, a site of 200 devices polled at 1 s (8 RS-485 lines at 115200 baud, 25 smoke detectors each,
simulated with real wire pacing in a separate process): devices polled per second, CPU share and peak
RSS of the polling process, for `firefleet edge` and for a sequential loop that reads the same blocks of
the same devices one after another.

Part 1 is run again with the agent under the Pi-class budgets of bench/pi_budget.py (a CPU quota sized to
a Pi 4 core, then with SD-card fsyncs too): its CPU is printed as a share of that quota'd core.

Part 2, RTU efficiency: one line with 8 detectors whose alarm class is polled as fast as possible, at
9600 and at 115200 baud: frames per second achieved as a share of the wire's frame budget (request +
reply + the standard's silent interval before each frame, back to back), for the agent and for the
sequential loop.

    python bench/edge_poll.py [--seconds 20] [--budgets pi,pi-sd]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pi_budget import BUDGETS, Budget, applied  # noqa: E402
from devices.decode import plan_reads  # noqa: E402
from devices.profile_loader import load_profile_dir  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def site_file(folder: Path, name: str, lines: int, per_line: int, baud: int) -> Path:
    text = [f"site: {{id: {name}, name: bench, kind: charging_shed, street: bench, location: {{lat: 30, lon: 120}}}}",
            f"gateway: {{id: gw-{name}}}", "buses:"]
    text += [f"  - {{id: line{n}, type: modbus_rtu, port: /dev/ttyUSB{n}, baud: {baud}}}" for n in range(lines)]
    text.append("devices:")
    text += [f"  - {{id: sd{n}-{u}, profile: hengan-sd100-fw1, bus: line{n}, unit: {u}}}"
             for n in range(lines) for u in range(1, per_line + 1)]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(text) + "\n")
    return path


def detector_profiles(folder: Path, alarm_period: str, *, pause: bool = True) -> Path:
    """A copy of the shipped profiles whose detector alarm class is due every `alarm_period` (and, without
    `pause`, with no pause between frames). Refuses to return a copy that did not change."""
    out = folder / f"profiles-{alarm_period}"
    shutil.copytree(ROOT / "firmware-profiles", out)
    base = out / "hengan-sd100-base.yaml"
    text = re.sub(r"polling: \{alarm: [^,]+,", f"polling: {{alarm: {alarm_period},", base.read_text(), count=1)
    if not pause:
        text = text.replace("inter_frame_pause: 20ms", "inter_frame_pause: 0ms")
    if f"alarm: {alarm_period}," not in text:
        raise SystemExit(f"could not set the detectors' alarm period in {base}")
    base.write_text(text)
    return out


class Process:
    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None,
                 preexec: Callable[[], None] | None = None) -> None:
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(log, "wb"), cwd=ROOT,  # noqa: SIM115
                                     env=env, preexec_fn=preexec)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_sim(site: Path, run: Path) -> tuple[Process, dict[str, Any]]:
    run.mkdir(parents=True, exist_ok=True)
    sim = Process([sys.executable, "-m", "devices.cli", "sim", "--site", str(site), "--control-port", "0",
                   "--run-dir", str(run), "--pace", "real"], run.parent / f"sim-{site.stem}.log")
    deadline = time.monotonic() + 30
    while not (run / "served.json").exists():
        if time.monotonic() > deadline or sim.proc.poll() is not None:
            raise SystemExit("simulator did not start")
        time.sleep(0.1)
    time.sleep(0.3)
    return sim, json.loads((run / "served.json").read_text())


def sim_requests(served: dict[str, Any]) -> int:
    with urllib.request.urlopen(served["control"] + "/devices", timeout=10) as response:
        return sum(d["requests"] for d in json.load(response))


def measure(poller: Process, served: dict[str, Any], seconds: float, warmup: float = 8.0) -> dict[str, float]:
    time.sleep(warmup)
    r0, c0, t0 = sim_requests(served), poller.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    r1, c1, t1 = sim_requests(served), poller.cpu_seconds(), time.monotonic()
    return {"requests_per_s": (r1 - r0) / (t1 - t0), "cpu_percent": 100 * (c1 - c0) / (t1 - t0),
            "peak_rss_mb": poller.peak_rss_mb()}


# -- the baseline: a straightforward sequential pymodbus loop -------------------------------------------
async def sequential_loop(served_path: str, site_path: str, profiles_path: str, period: float) -> None:
    from pymodbus.client import AsyncModbusSerialClient

    from devices.decode import decode_point
    from devices.site_config import load_site

    profiles = load_profile_dir(Path(profiles_path))
    site = load_site(Path(site_path), profiles)
    served = json.loads(Path(served_path).read_text())["sites"][site.id]
    clients = {}
    for bus in site.buses:
        client = AsyncModbusSerialClient(port=served[bus.id]["path"], baudrate=bus.baud, timeout=0.5, retries=0)
        await client.connect()
        clients[bus.id] = client
    work = []
    for dev in site.devices:
        profile = profiles[dev.profile]
        blocks = plan_reads([p for p in profile.points if p.poll == "alarm"], profile.quirks)
        work.append((clients[dev.bus], dev.unit, blocks))
    while True:
        started = time.monotonic()
        for client, unit, blocks in work:
            for block in blocks:
                reply = await client.read_input_registers(block.start, count=block.count, device_id=unit)
                if not reply.isError():
                    for p in block.points:
                        decode_point(p, reply.registers[p.address - block.start:p.end - block.start])
        await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))


def run_agent(site: Path, run: Path, profiles: Path, seconds: float, budget: Budget) -> dict[str, float]:
    sim, served = start_sim(site, run)
    try:
        with applied(budget, run) as how:
            poller = Process([sys.executable, "-m", "devices.cli", "edge", "--config", str(site), "--data-dir",
                              str(run / "data"), "--bus-map", str(run / "served.json"), "--profiles", str(profiles)],
                             run / f"agent-{site.stem}.log", env=how.env, preexec=how.preexec)
            try:
                return measure(poller, served, seconds)
            finally:
                poller.stop()
    finally:
        sim.stop()


def run_pair(site: Path, run: Path, profiles: Path, seconds: float,
             period: float) -> tuple[dict[str, float], dict[str, float]]:
    agent = run_agent(site, run / "agent", profiles, seconds, BUDGETS["x86"])
    sim, served = start_sim(site, run / "sequential")
    try:
        poller = Process([sys.executable, __file__, "--sequential", str(run / "sequential" / "served.json"),
                          str(site), str(profiles), str(period)], run / f"sequential-{site.stem}.log")
        try:
            return agent, measure(poller, served, seconds)
        finally:
            poller.stop()
    finally:
        sim.stop()


def wire_budget(baud: int, registers: int) -> float:
    """Request/reply pairs a second an 8N1 line carries back to back: request 8 bytes, reply 5 + 2n bytes,
    and the silent interval the standard requires before each frame (3.5 characters, fixed at 1.75 ms
    above 19200 baud)."""
    char = 10 / baud
    gap = max(3.5 * char, 0.00175)
    return 1 / ((8 + 5 + 2 * registers) * char + 2 * gap)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per run (default 20)")
    parser.add_argument("--budgets", default="pi,pi-sd", help="part 1 again under these (of "
                        + ", ".join(BUDGETS) + "; empty for none)")
    parser.add_argument("--sequential", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sequential:
        served, site, profiles, period = args.sequential
        asyncio.run(sequential_loop(served, site, profiles, float(period)))
        return
    folder = Path(tempfile.mkdtemp(prefix="firefleet-bench-"))
    print(f"part 1: 200 smoke detectors on 8 RS-485 lines at 115200 baud, alarm class every 1 s "
          f"({args.seconds:.0f} s windows)", flush=True)
    site = site_file(folder, "two-hundred", 8, 25, 115200)
    every_second = detector_profiles(folder, "1s")
    agent, seq = run_pair(site, folder / "p1", every_second, args.seconds, 1.0)
    print("  schedule: 200 alarm reads/s (every device every second) + 20 status reads/s (every 10 s)")
    print(f"  firefleet edge : {agent['requests_per_s']:7.1f} requests/s (alarm + status classes)  "
          f"CPU {agent['cpu_percent']:5.1f} %  peak RSS {agent['peak_rss_mb']:5.1f} MB")
    print(f"  sequential loop: {seq['requests_per_s']:7.1f} requests/s (alarm class only; 200/s needed)  "
          f"CPU {seq['cpu_percent']:5.1f} %  peak RSS {seq['peak_rss_mb']:5.1f} MB")
    per_k = {who: 10 * r["cpu_percent"] / max(r["requests_per_s"], 1e-9) for who, r in (("agent", agent),
                                                                                        ("sequential", seq))}
    print(f"  CPU per 1,000 requests: firefleet edge {per_k['agent']:.2f} CPU-s, sequential loop "
          f"{per_k['sequential']:.2f} CPU-s: ratio {per_k['agent'] / max(per_k['sequential'], 1e-9):.2f}x "
          "(target <= 1x, with everything the agent does beyond the loop)")
    for key in filter(None, args.budgets.split(",")):
        budget = BUDGETS[key]
        got = run_agent(site, folder / f"p1-{key}", every_second, args.seconds, budget)
        quota = budget.cpu_percent or 100.0
        print(f"  {budget.describe()}\n    firefleet edge : {got['requests_per_s']:7.1f} requests/s  CPU "
              f"{got['cpu_percent']:5.1f} % of one core = {100 * got['cpu_percent'] / quota:5.1f} % of the Pi-class "
              f"core (goal <= 25 %)  peak RSS {got['peak_rss_mb']:5.1f} MB (goal <= 60 MB)", flush=True)
    profiles = detector_profiles(folder, "10ms", pause=False)
    registers = 1  # a detector's alarm class is one status register
    print("part 2: one line, 8 detectors, alarm class polled as fast as the line allows", flush=True)
    for baud in (9600, 115200):
        site = site_file(folder, f"line-{baud}", 1, 8, baud)
        agent, seq = run_pair(site, folder / f"p2-{baud}", profiles, args.seconds / 2, 0.0)
        frames = wire_budget(baud, registers)
        print(f"  {baud:6} baud, budget {frames:6.1f} frames/s: firefleet edge {agent['requests_per_s']:6.1f} "
              f"({100 * agent['requests_per_s'] / frames:4.1f} %), sequential loop {seq['requests_per_s']:6.1f} "
              f"({100 * seq['requests_per_s'] / frames:4.1f} %)", flush=True)
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
