"""A configuration set applied in place (issue 16.1): what an apply costs the lines of one gateway.

The shed's edge agent on its simulated lines at real RS-485 pace; each round applies a set that changes the
smoke detectors' profile (so `rs485-1` restarts and `box2-serial` must not), then the original set again.
For every bus it prints the longest time its devices went without a request (read at the simulators)
during a window around each apply, against the same window length with no apply, side by side (this
machine is noisy: the ratio is the figure), and how long apply and verify took.

    python bench/config_apply.py [--rounds 10] [--window 8]
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

from devices.config_bundle import bundle_digest  # noqa: E402
from devices.contract import ConfigBundle  # noqa: E402
from simulators.harness import running_simulation  # noqa: E402
from tests.support.agents import running_agent  # noqa: E402
from tests.support.rollout import PROFILE, narrowed_profile  # noqa: E402

SHED = ROOT / "deploy" / "examples" / "sites" / "charging-shed.yaml"
SITE = "shed-xixi-01"
BUSES = {"rs485-1": ["box1", "sd1", "sd2", "sd3", "spr1"], "box2-serial": ["box2"]}


def bundle(profile: str) -> ConfigBundle:
    return ConfigBundle(sha256=bundle_digest("", {PROFILE: profile}), profiles={PROFILE: profile}, verify_s=60)


async def longest_gaps(sim: object, seconds: float) -> dict[str, float]:
    """Per bus, the longest stretch in `seconds` with no request to any of its devices (sampled every 5 ms)."""
    devices = {bus: [sim.sim.device(SITE, d) for d in names] for bus, names in BUSES.items()}  # type: ignore[attr-defined]
    last = {bus: (sum(d.requests for d in devs), time.monotonic()) for bus, devs in devices.items()}
    worst = dict.fromkeys(BUSES, 0.0)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.005)
        now = time.monotonic()
        for bus, devs in devices.items():
            count = sum(d.requests for d in devs)
            if count != last[bus][0]:
                last[bus] = (count, now)
            worst[bus] = max(worst[bus], now - last[bus][1])
    return worst


async def main(rounds: int, window: float) -> None:
    original = (ROOT / "firmware-profiles" / PROFILE).read_text()
    with tempfile.TemporaryDirectory(prefix="ff-bench-apply-") as folder:
        run = Path(folder)
        async with running_simulation([SHED], run / "run", pace=True) as sim, \
                running_agent(SHED, sim, run / "agent") as agent:
            deadline = time.monotonic() + 60
            while not all(agent._online(d.id) for d in agent.site.devices):
                assert time.monotonic() < deadline, "devices never came online"
                await asyncio.sleep(0.1)
            await asyncio.sleep(2)
            quiet: dict[str, list[float]] = {b: [] for b in BUSES}
            applying: dict[str, list[float]] = {b: [] for b in BUSES}
            took: list[float] = []
            for n in range(rounds):
                for gaps_of in (quiet, applying):
                    watch = asyncio.create_task(longest_gaps(sim, window))
                    if gaps_of is applying:
                        await asyncio.sleep(1.0)
                        started = time.monotonic()
                        await agent.configure(bundle(narrowed_profile() if n % 2 == 0 else original + "\n"),
                                              f"cmd-bench-{n}")
                        took.append(time.monotonic() - started)
                    for bus, gap in (await watch).items():
                        gaps_of[bus].append(gap)
                print(f"round {n + 1}/{rounds}: apply+verify {took[-1]:.2f} s; longest gap "
                      + ", ".join(f"{b} {applying[b][-1] * 1000:.0f} ms (quiet {quiet[b][-1] * 1000:.0f})"
                                  for b in BUSES), flush=True)
    print(f"\n{rounds} applies of a changed detector profile, window {window:g} s each, real RS-485 pace")
    print(f"{'bus':14} {'quiet max ms':>13} {'apply max ms':>13} {'ratio':>6}")
    for bus in BUSES:
        q, a = max(quiet[bus]), max(applying[bus])
        print(f"{bus:14} {q * 1000:13.0f} {a * 1000:13.0f} {a / q:6.2f}")
    print(f"apply + verify: median {statistics.median(took):.2f} s, max {max(took):.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--window", type=float, default=8.0, help="seconds watched per round (default 8)")
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.window))
