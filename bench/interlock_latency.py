"""Local interlock latency: a charging port's temperature crosses the cut threshold in the simulator ->
the agent has cut that port's relay (the simulator shows it off). Target: one poll interval + 100 ms.

The example charging shed at real RS-485 speed (9600 baud, five slaves on the line), with the site's
`for:` on the cut rule set to 0 s so that only polling, rule evaluation and the write count. Each port of
the 10-port box is overheated once (the cut latches, so every trial uses a fresh port), with a fresh agent
per run. The agent runs as its own process (`firefleet edge`), under each budget of bench/pi_budget.py in
turn: this machine's core, a Pi-class CPU quota, and the quota with SD-card fsyncs; the figures are printed
side by side, with the wire-time floor of this line and the outbox's commit time under each budget.

    python bench/interlock_latency.py [--runs 2] [--budgets x86,pi,pi-sd] [--baud 9600]

At 9600 baud the example line is overloaded (its alarm points need more wire than it has, and one round
of the cut inputs alone is longer than the 500 ms target allows); `--baud 19200` measures the same shed
on a line with room, which is what `firefleet edge --check` tells the installer to do.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pi_budget import BUDGETS, Budget, applied  # noqa: E402
from devices.profile_loader import load_profile_dir  # noqa: E402
from devices.site_config import load_site  # noqa: E402
from edge.line_load import line_loads  # noqa: E402
from simulators.harness import running_simulation  # noqa: E402

SITE = "shed-xixi-01"
LINE = "rs485-1"
COMMIT_PROBE = """
import sys, time, statistics
from pathlib import Path
from edge.outbox import Outbox
from edge.clock import Clock
from edge.records import RecordMaker
box, make = Outbox(Path(sys.argv[1])), RecordMaker("s", Clock())
took = []
for n in range(40):
    alarm = make.alarm(key=f"k{n}", device="d", rule="r", cls="fire", severity=1, active=True, value=1, text="")
    started = time.perf_counter()
    box.append(alarm)
    took.append(time.perf_counter() - started)
print(1000 * statistics.median(took))
"""


def commit_ms(budget: Budget, folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    with applied(budget, folder) as how:
        out = subprocess.run([sys.executable, "-c", COMMIT_PROBE, str(folder / "probe.sqlite")], cwd=ROOT, env=how.env,
                             preexec_fn=how.preexec, capture_output=True, text=True, check=True)
    return float(out.stdout)


async def one_run(folder: Path, site: Path, budget: Budget) -> list[float]:
    latencies = []
    folder.mkdir(parents=True, exist_ok=True)
    async with running_simulation([site], folder / "run", pace=True) as sim:
        box = sim.sim.device(SITE, "box1")
        box.set_signals({f"port{n}.relay": True for n in range(1, 11)})
        box.set_signals({f"port{n}.temperature": 30.0 for n in range(1, 11)}, hold=True)
        with applied(budget, folder) as how, open(folder / "agent.log", "wb") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "devices.cli", "edge", "--config", str(site), "--data-dir",
                 str(folder / "data"), "--bus-map", str(folder / "run" / "served.json")],
                cwd=ROOT, env=how.env, preexec_fn=how.preexec, stdout=subprocess.DEVNULL, stderr=log)
            try:
                await asyncio.sleep(8)  # start, identify every device, settle the poll schedule
                for n in range(1, 11):
                    box.set_signals({f"port{n}.temperature": 71.5}, hold=True)
                    started = time.monotonic()
                    while box.value(f"port{n}.relay") is not False:
                        if time.monotonic() - started > 10:
                            raise SystemExit(f"port {n} was never cut (see {folder / 'agent.log'})")
                        await asyncio.sleep(0.002)
                    latencies.append(time.monotonic() - started)
                    await asyncio.sleep(0.37 * n % 1)  # spread the next injection over the poll cycle
            finally:
                agent.terminate()
                agent.wait(20)
    return latencies


def summary(samples: list[float]) -> str:
    samples = sorted(samples)
    return (f"median {1000 * statistics.median(samples):4.0f}  p90 {1000 * samples[int(0.9 * (len(samples) - 1))]:4.0f}"
            f"  worst {1000 * samples[-1]:4.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--budgets", default="x86,pi,pi-sd", help="of " + ", ".join(BUDGETS))
    parser.add_argument("--baud", type=int, default=9600, help="of the shed's RS-485 line")
    args = parser.parse_args()
    poll = load_profile_dir()["xingdian-cb10"].polling["alarm"]
    folder = Path(tempfile.mkdtemp(prefix="firefleet-interlock-"))
    site = folder / "shed.yaml"
    shed = (ROOT / "deploy/examples/sites/charging-shed.yaml").read_text()
    line = "type: modbus_rtu, port: /dev/ttyUSB0, baud: 9600,"
    assert line in shed, "the example shed's RS-485 line changed: update the bench"
    site.write_text(shed.replace("device: box1, for: 3s}", "device: box1, for: 0s}")
                    .replace(line, line.replace("9600", str(args.baud))))
    load = next(x for x in line_loads(load_site(site, load_profile_dir()), load_profile_dir()) if x.bus.id == LINE)
    print(f"line {LINE} (wire floor, from the profiles): {load.describe()}")
    results = {}
    for key in args.budgets.split(","):
        budget = BUDGETS[key]
        print(f"{budget.describe()}: outbox commit of one alarm, median {commit_ms(budget, folder / key):.1f} ms",
              flush=True)
        samples: list[float] = []
        for run in range(args.runs):
            got = asyncio.run(one_run(folder / f"{key}-{run}", site, budget))
            print(f"  run {run + 1}: " + " ".join(f"{1000 * s:.0f}" for s in got), flush=True)
            samples += got
        results[key] = samples
    print(f"target one poll interval + 100 ms = {1000 * poll + 100:.0f} ms")
    for key, samples in results.items():
        print(f"  {BUDGETS[key].name:30} {len(samples):3} cuts: {summary(samples)}")


if __name__ == "__main__":
    main()
