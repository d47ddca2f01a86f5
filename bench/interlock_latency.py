"""Local interlock latency: a charging port's temperature crosses the cut threshold in the simulator ->
the agent has cut that port's relay (the simulator shows it off). Target: one poll interval + 100 ms.

The example charging shed at real RS-485 speed (9600 baud, five slaves on the line), with the site's
`for:` on the cut rule set to 0 s so that only polling, rule evaluation, the write and its read-back
count. Each port of the 10-port box is overheated once (the cut latches, so every trial uses a fresh
port); the run is repeated with a fresh agent. Prints every latency, the median and the worst.

    python bench/interlock_latency.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devices.profile_loader import load_profile_dir  # noqa: E402
from simulators.harness import running_simulation  # noqa: E402
from tests.support.agents import running_agent  # noqa: E402

SITE = "shed-xixi-01"


async def one_run(folder: Path, site: Path) -> list[float]:
    latencies = []
    async with (running_simulation([site], folder / "run", pace=True) as sim,
                running_agent(site, sim, folder / "data")):
        box = sim.sim.device(SITE, "box1")
        box.set_signals({f"port{n}.relay": True for n in range(1, 11)})
        box.set_signals({f"port{n}.temperature": 30.0 for n in range(1, 11)}, hold=True)
        await asyncio.sleep(6)  # identify every device, settle the poll schedule
        for n in range(1, 11):
            box.set_signals({f"port{n}.temperature": 71.5}, hold=True)
            started = time.monotonic()
            while box.value(f"port{n}.relay") is not False:
                if time.monotonic() - started > 10:
                    raise SystemExit(f"port {n} was never cut")
                await asyncio.sleep(0.002)
            latencies.append(time.monotonic() - started)
            print(f"  port {n:2}: {1000 * latencies[-1]:6.0f} ms", flush=True)
            await asyncio.sleep(0.37 * n % 1)  # spread the next injection over the poll cycle
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    poll = load_profile_dir()["xingdian-cb10"].polling["alarm"]
    folder = Path(tempfile.mkdtemp(prefix="firefleet-interlock-"))
    site = folder / "shed.yaml"
    shed = (ROOT / "examples/sites/charging-shed.yaml").read_text()
    site.write_text(shed.replace("device: box1, for: 3s}", "device: box1, for: 0s}"))
    samples: list[float] = []
    for run in range(args.runs):
        print(f"run {run + 1}:", flush=True)
        samples += asyncio.run(one_run(folder / f"r{run}", site))
    samples.sort()
    print(f"{len(samples)} cuts: median {1000 * statistics.median(samples):.0f} ms, "
          f"p90 {1000 * samples[int(0.9 * (len(samples) - 1))]:.0f} ms, worst {1000 * samples[-1]:.0f} ms; "
          f"target one poll interval + 100 ms = {1000 * poll + 100:.0f} ms")


if __name__ == "__main__":
    main()
