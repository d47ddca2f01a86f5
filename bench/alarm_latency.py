"""Alarm latency: a device's state changes in the simulator -> the alarm is on the duty console, over
at least 200 alarms. Target: p99 <= 1 s on this machine.

Everything real and on loopback: simulators at real RS-485 speed, the edge agent, a mosquitto started
here, the collector as its own process, and the web console in Debian's chromium (Playwright), where a
MutationObserver notes when each alarm's row shows the new condition. Side by side, the same alarms timed
at a plain MQTT subscriber on the gateway's alarm topic (the edge's share: poll + rules + outbox +
publish) and at the collector's event stream read by a plain HTTP client (plus store + ack + stream); the
console adds the browser's share (event -> queue redrawn).

The agent runs as its own process (`firefleet edge`), once under each budget of bench/pi_budget.py (this
machine's core; a Pi-class CPU quota; the quota with SD-card fsyncs), and the figures are printed side by
side. `--snapshots on,off` runs each budget twice: with the shed's camera taking a picture for every
supervisory alarm it covers (box1's door, a new picture each time it opens: `every: 1s`) and with no
camera, so the alarms' own latency can be compared with pictures flowing behind them.

    python bench/alarm_latency.py [--rounds 32] [--no-browser] [--budgets x86,pi,pi-sd] [--snapshots on,off]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import yaml
from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pi_budget import BUDGETS, Budget, applied  # noqa: E402
from devices.protocol import decode  # noqa: E402
from simulators.harness import running_simulation  # noqa: E402
from tests.support.collector_process import PASSWORD, CollectorProcess  # noqa: E402
from tests.support.keys import public_key  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

SITE = "shed-xixi-01"
SHED = ROOT / "deploy" / "examples" / "sites" / "charging-shed.yaml"
# point alarms polled in the alarm class (every second), with no sustain time
TOGGLES = {"sd1": ["tamper", "fault", "dirty_chamber"], "sd3": ["tamper", "fault", "dirty_chamber"],
           "sd2": ["tamper", "fault", "sounder_open"],
           "box1": ["rcd_tripped", "meter_fault", "over_voltage", "door_open"]}


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# In the page: the wall time at which each alarm row first shows a condition (key:condition -> ms).
OBSERVE = """() => {
  window.benchSeen = {};
  const note = () => {
    for (const row of document.querySelectorAll('#alarm-queue tr[data-key]')) {
      const mark = row.dataset.key + ':' + row.dataset.condition;
      if (!(mark in window.benchSeen)) window.benchSeen[mark] = Date.now();
    }
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true, attributes: true});
  note();
}"""


async def open_console(url: str, stack: contextlib.AsyncExitStack) -> Page:
    playwright = await stack.enter_async_context(async_playwright())
    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    stack.push_async_callback(browser.close)
    page = await browser.new_page(viewport={"width": 1366, "height": 768})
    await page.goto(url + "/")
    await page.fill("#login-user", "duty")
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_selector("#stream-state.live")
    await page.evaluate(OBSERVE)
    return page


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def mqtt_watch(port: int, seen: dict[str, float], ready: asyncio.Event) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-watch") as client:
        await client.subscribe(f"ff/v1/{SITE}/+/alarms", qos=1)
        ready.set()
        async for message in client.messages:
            for rec in decode(bytes(message.payload)).get("records", []):
                seen.setdefault(f"{rec['key']}:{rec['state']}", time.monotonic())


def shed_file(folder: Path, snapshots: str) -> Path:
    """The shed as shipped, with its camera taking a picture at every covered alarm (on) or no camera (off)."""
    site = yaml.safe_load(SHED.read_text())
    if snapshots == "on":
        site["cameras"] = [{**cam, "every": "1s"} for cam in site.get("cameras", [])]
    else:
        site.pop("cameras", None)
    path = folder / f"shed-{snapshots}.yaml"
    path.write_text(yaml.safe_dump(site, allow_unicode=True))
    return path


@contextlib.asynccontextmanager
async def agent_process(folder: Path, broker_url: str, budget: Budget, snapshots: str) -> AsyncIterator[None]:
    with applied(budget, folder) as how, open(folder / "agent.log", "wb") as log:
        agent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devices.cli", "edge", "--config", str(shed_file(folder, snapshots)),
            "--data-dir", str(folder / "data"),
            "--bus-map", str(folder / "run" / "served.json"), "--broker", broker_url, "--heartbeat", "5",
            "--collector-key", str(public_key()), cwd=ROOT, env=how.env, preexec_fn=how.preexec,
            stdout=subprocess.DEVNULL, stderr=log)
        try:
            yield
        finally:
            agent.terminate()
            await agent.wait()


async def run(rounds: int, browser: bool, budget: Budget, snapshots: str) -> list[tuple[str, list[float]]]:
    folder = Path(tempfile.mkdtemp(prefix="firefleet-latency-"))
    broker = Mosquitto(folder / "mq")
    broker.start()
    collector = CollectorProcess(folder / "cloud", broker.url)
    await collector.start()
    mqtt_seen: dict[str, float] = {}
    stream_lat: list[float] = []
    mqtt_lat: list[float] = []
    console_lat: list[float] = []
    try:
        async with (collector.events() as events,
                    running_simulation([SHED], folder / "run", pace=True) as sim,
                    agent_process(folder, broker.url, budget, snapshots),
                    contextlib.AsyncExitStack() as stack):
            page = await open_console(collector.url, stack) if browser else None
            ready = asyncio.Event()
            watcher = asyncio.get_running_loop().create_task(mqtt_watch(broker.port, mqtt_seen, ready))
            await ready.wait()
            await asyncio.sleep(6)  # identify devices, settle the schedule
            for r in range(rounds):
                active = r % 2 == 0
                started: dict[str, float] = {}
                wall: dict[str, float] = {}
                state = "active" if active else "cleared"
                if page is not None:
                    await page.evaluate("() => { window.benchSeen = {}; }")
                for device, points in TOGGLES.items():
                    dev = sim.sim.device(SITE, device)
                    for point in points:
                        dev.set_signals({point: active}, hold=True)
                        started[f"{device}/{point}"] = time.monotonic()
                        wall[f"{device}/{point}"] = time.time()
                pending = set(started)
                async with asyncio.timeout(30):
                    while pending:
                        event = await events.get()
                        if event["key"] in pending and event["condition"] == state:
                            pending.discard(event["key"])
                            if active:
                                stream_lat.append(event["at"] - started[event["key"]])
                if active:
                    for key, t0 in started.items():
                        if f"{key}:active" in mqtt_seen:
                            mqtt_lat.append(mqtt_seen.pop(f"{key}:active") - t0)
                if active and page is not None:
                    marks = [f"{key}:{state}" for key in started]
                    async with asyncio.timeout(30):
                        while True:
                            seen = await page.evaluate("() => window.benchSeen")
                            if all(m in seen for m in marks):
                                break
                            await asyncio.sleep(0.1)
                    console_lat += [seen[f"{key}:{state}"] / 1000 - t0 for key, t0 in wall.items()]
                print(f"  round {r + 1:2}/{rounds}: {len(started)} alarms {state}", flush=True)
                await asyncio.sleep(0.3)
            watcher.cancel()
    finally:
        await collector.stop()
        broker.stop()
    with contextlib.closing(sqlite3.connect(collector.db)) as db:
        pictures, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM snapshots").fetchone()
    print(f"  camera pictures stored at the collector: {pictures} ({size / 1e6:.1f} MB)", flush=True)
    return [("plain MQTT subscriber (edge share)", mqtt_lat), ("collector event stream (HTTP client)", stream_lat),
            ("duty console row in chromium", console_lat)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=32, help="toggle rounds; every other raises 13 alarms")
    parser.add_argument("--no-browser", action="store_true", help="skip the console in chromium")
    parser.add_argument("--budgets", default="x86,pi,pi-sd", help="of " + ", ".join(BUDGETS))
    parser.add_argument("--snapshots", default="on", help="on, off, or on,off (side by side)")
    args = parser.parse_args()
    results = {}
    for key in args.budgets.split(","):
        for snapshots in args.snapshots.split(","):
            print(f"{BUDGETS[key].describe()}; camera pictures {snapshots}", flush=True)
            results[(key, snapshots)] = asyncio.run(run(
                args.rounds, not args.no_browser and Path("/usr/bin/chromium").exists(), BUDGETS[key], snapshots))
    print("target: p99 <= 1000 ms from state change to the duty console (alarm points are polled every 500 ms)")
    for (key, snapshots), figures in results.items():
        print(f"{BUDGETS[key].name}, camera pictures {snapshots}")
        for name, values in figures:
            if values:
                print(f"  {name:36}: {len(values)} alarms, p50 {1000 * statistics.median(values):.0f} ms, "
                      f"p99 {1000 * percentile(values, 99):.0f} ms, max {1000 * max(values):.0f} ms")


if __name__ == "__main__":
    main()
