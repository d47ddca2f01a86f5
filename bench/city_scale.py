"""City scale: 25,000 gateways (about 700,000 devices) through one mosquitto into several collectors on one
PostgreSQL, side by side with one collector on SQLite at the same offered load. Issue 13's goals: ~50,000
readings/s ingested, at least 0.5x what a bare MQTT subscriber drains of the same stream, and a fire on the
duty screen in under a second while all of that goes on.

Everything real and on loopback: a mosquitto started here; the collectors as their own processes
(`firefleet cloud`); the gateways from `firefleet fleet` (lightweight gateways speaking the MQTT contract,
each sending one batch of readings per report, as an agent's outbox does); PostgreSQL on this machine's
server (a database of its own, dropped after). Beside them, in this process:
- a bare subscriber on every telemetry topic counts the readings the broker delivers (the baseline);
- a probe gateway (one site kept out of the fleet) raises a fire every 2 s and times it to each
  collector's event stream (one collector ingests it; the others learn of it through PostgreSQL);
- a console poller fetches /api/sites once a second, as the duty console's map does (`--console both`
  runs each store without it too: what the site list costs ingest);
- with --browser, the duty console in chromium on the last collector: the fire's row is timed too.
It waits until 95 % of the gateways are online (printing how many, and how long that took), then
measures. Every 10 s a progress line; at the end readings/s (stored rows counted in the database), the ratio to the
bare drain, fire latencies, /api/sites times, and CPU and peak RSS of every process. All of it shares this
machine's cores: the figures are for the whole city on one box, not for one collector's share of a rack.

    python bench/city_scale.py [--gateways 25000] [--collectors 2] [--seconds 120] [--report-every 14]
                               [--stores postgresql,sqlite] [--browser] [--console poll|none|both]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import database  # noqa: E402
from cloud.demo.district import district_plan, inventory_lines  # noqa: E402
from devices.broker_url import BrokerConfig  # noqa: E402
from devices.contract import Alarm, Place  # noqa: E402
from devices.downlink_auth import Verifier, load_public_keys  # noqa: E402
from devices.mqtt_transport import MqttConnector  # noqa: E402
from devices.protocol import decode, gateway_topic  # noqa: E402
from simulators.gateway_fleet import LightGateway  # noqa: E402
from tests.support.collector_process import CollectorProcess  # noqa: E402
from tests.support.keys import public_key  # noqa: E402
from tests.support.mosquitto import Mosquitto  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
DEVICES_PER_GATEWAY = 28  # 700,000 devices over 25,000 gateways (the city figures)


def city_plan(gateways: int) -> list[dict[str, Any]]:
    """The city's sites, each filled up with smoke detectors to the city's average of devices per gateway."""
    plan = district_plan(seed=13, existing={}, city=True)
    step = max(1, len(plan) // gateways)
    plan = plan[::step][:gateways]  # every kind, in the city's proportions
    for site in plan:
        have = len(site["devices"])
        site["devices"] += [{"id": f"sd{n}", "name": f"烟感{n}", "kind": "smoke_detector",
                             "profile": "hengan-sd100-fw1", "values": {"smoke_alarm": False, "battery": 90,
                                                                       "temperature": 18.5, "obscuration": 0.05}}
                            for n in range(have + 1, DEVICES_PER_GATEWAY + 1)]
    return plan


class Usage:
    """CPU seconds and peak RSS of processes, from /proc."""

    @staticmethod
    def cpu(pids: list[int]) -> float:
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / TICK
        return total

    @staticmethod
    def peak_rss_mb(pid: int) -> float:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    @staticmethod
    def named(name: str) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if (entry / "comm").read_text().strip() == name:
                        pids.append(int(entry.name))
        return pids


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def ms(values: list[float]) -> str:
    if not values:
        return "none"
    return (f"p50 {1000 * statistics.median(values):.0f} ms, p99 {1000 * percentile(values, 99):.0f} ms, "
            f"max {1000 * max(values):.0f} ms ({len(values)})")


async def bare_drain(port: int, counted: list[int]) -> None:
    """The baseline: every telemetry message the broker delivers, its readings counted (outer decode only)."""
    async with aiomqtt.Client("127.0.0.1", port, identifier="bench-bare", max_queued_incoming_messages=0) as client:
        await client.subscribe("ff/v1/+/+/telemetry", qos=0)
        async for message in client.messages:
            counted[0] += len(decode(bytes(message.payload)).get("records", []))


async def probe(broker: BrokerConfig, site: dict[str, Any], sent: dict[str, tuple[float, float]],
                stop: asyncio.Event) -> None:
    """One gateway of the city's inventory, not in the fleet: a fire every 2 s (a new key each time)."""
    g = LightGateway(site["id"], site["gateway"], Place(site["name"], site["kind"], site["street"], site["lat"],
                                                        site["lon"]),
                     site["devices"], Verifier(load_public_keys([public_key()]), site["gateway"]))
    async with MqttConnector(broker).connect(f"bench-probe-{g.gateway}") as client:
        await client.publish(gateway_topic(g.site, g.gateway, "birth"), g.birth(), qos=1)
        n = 0
        while not stop.is_set():
            await asyncio.sleep(2.0)
            n += 1
            key = f"sd1/probe-{n}"
            record = Alarm(key=key, device="sd1", rule=f"probe-{n}", cls="fire", severity=1, state="active",
                           text="烟雾报警（测量）", value=True, **g.stamp())
            sent[key] = (asyncio.get_running_loop().time(), time.time())
            await client.publish(gateway_topic(g.site, g.gateway, "alarms"), g.batch(record), qos=1)


async def watch(events: asyncio.Queue[dict[str, Any]], sent: dict[str, tuple[float, float]],
                seen: list[float]) -> None:
    """Each probe fire's first arrival on one collector's event stream (later events of it, such as its
    escalation, are not arrivals)."""
    arrived: set[str] = set()
    while True:
        event = await events.get()
        key = event.get("key", "")
        started = sent.get(key)
        if started is not None and key not in arrived and event.get("condition") == "active":
            arrived.add(key)
            seen.append(event["at"] - started[0])


async def poll_sites(url: str, token: str, took: list[float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as api:
        while not stop.is_set():
            began = time.perf_counter()
            response = await api.get("/api/sites")
            if response.status_code == 200:
                took.append(time.perf_counter() - began)
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))


def count_rows(location: str, table: str = "readings", where: str = "1 = 1") -> int:
    from cloud.store.sql import connect

    sql = connect(location)
    try:
        return int(sql.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").rows[0][0])
    finally:
        sql.close()


@contextlib.asynccontextmanager
async def console(url: str) -> AsyncIterator[Any]:
    from bench.alarm_latency import open_console

    async with contextlib.AsyncExitStack() as stack:
        yield await open_console(url, stack)


async def one_store(kind: str, location: str, folder: Path, plan: list[dict[str, Any]], collectors: int,
                    seconds: float, report_every: float, browser: bool, console_poll: bool) -> dict[str, Any]:
    probe_site, fleet_sites = plan[0], plan[1:]
    (folder / "plan.json").write_text(json.dumps(fleet_sites, ensure_ascii=False))
    inventory = folder / "inventory.yaml"
    inventory.write_text("\n".join(["sites:", *[line for s in plan for line in inventory_lines(s)]]) + "\n")
    broker = Mosquitto(folder / "mq")
    broker.start()
    procs = [CollectorProcess(folder / f"collector{n}", broker.url, inventory=inventory, db=location)
             for n in range(collectors)]
    for proc in procs:
        await proc.start()
    print(f"  {len(procs)} collector(s) up on {kind}; starting {len(fleet_sites):,} gateways "
          f"({sum(len(s['devices']) for s in fleet_sites):,} devices, a batch each every {report_every:g} s)",
          flush=True)
    fleet = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devices.cli", "fleet", "--plan", str(folder / "plan.json"), "--broker", broker.url,
        "--per-connection", "100", "--report-every", str(report_every), "--collector-key", str(public_key()),
        stdout=asyncio.subprocess.DEVNULL, stderr=open(folder / "fleet.log", "ab"))  # noqa: SIM115
    stop = asyncio.Event()
    bare = [0]
    sent: dict[str, tuple[float, float]] = {}
    fire: list[list[float]] = [[] for _ in procs]
    sites_took: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    result: dict[str, Any] = {"kind": kind, "collectors": len(procs), "poll": console_poll}
    loop = asyncio.get_running_loop()
    try:
        async with contextlib.AsyncExitStack() as stack:
            for n, proc in enumerate(procs):
                events = await stack.enter_async_context(proc.events())
                tasks.append(loop.create_task(watch(events, sent, fire[n])))
            tasks.append(loop.create_task(bare_drain(broker.port, bare)))
            if console_poll:
                tasks.append(loop.create_task(poll_sites(procs[0].url, await procs[0].token(), sites_took, stop)))
            page = await stack.enter_async_context(console(procs[-1].url)) if browser else None
            tasks.append(loop.create_task(probe(BrokerConfig.from_url(broker.url), probe_site, sent, stop)))
            # births spread over 30 s, then every gateway reports; a city's births take the collectors a while
            began = time.monotonic()
            while True:
                await asyncio.sleep(10)
                online, waited = count_rows(location, "gateways", "online = 1"), time.monotonic() - began
                print(f"  warming up: {online:,} of {len(plan):,} gateways online after {waited:.0f} s", flush=True)
                if (online >= 0.95 * len(plan) and waited >= max(35.0, 2.5 * report_every)) or waited > 300:
                    break
            result["warmup_s"], result["online"] = time.monotonic() - began, online
            for series in (*fire, sites_took):
                series.clear()
            pids = {**{f"collector{n}": [p.proc.pid] for n, p in enumerate(procs) if p.proc}, "fleet": [fleet.pid],
                    "mosquitto": [broker.process.pid] if broker.process else [], "postgres": Usage.named("postgres")}
            cpu0 = {name: Usage.cpu(p) for name, p in pids.items()}
            stored0, bare0, t0 = count_rows(location), bare[0], time.monotonic()
            last = (stored0, bare0, t0)
            while time.monotonic() - t0 < seconds:
                await asyncio.sleep(10)
                stored, now = count_rows(location), time.monotonic()
                print(f"  [{now - t0:5.0f} s] stored {(stored - last[0]) / (now - last[2]):8,.0f} readings/s, "
                      f"bare drain {(bare[0] - last[1]) / (now - last[2]):8,.0f}/s, fires timed "
                      f"{min(len(f) for f in fire)}, /api/sites {ms(sites_took[-10:])}", flush=True)
                last = (stored, bare[0], now)
            elapsed = time.monotonic() - t0
            result.update(stored=(last[0] - stored0) / elapsed, bare=(bare[0] - bare0) / elapsed,
                          fire=fire, sites=list(sites_took),
                          cpu={name: 100 * (Usage.cpu(p) - cpu0[name]) / elapsed for name, p in pids.items()},
                          rss={f"collector{n}": Usage.peak_rss_mb(p.proc.pid) for n, p in enumerate(procs) if p.proc}
                          | {"fleet": Usage.peak_rss_mb(fleet.pid)})
            if page is not None:
                seen = await page.evaluate("() => window.benchSeen")
                result["console"] = [seen[f"{key}:active"] / 1000 - wall for key, (_, wall) in sent.items()
                                     if f"{key}:active" in seen]
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        fleet.terminate()
        await fleet.wait()
        for proc in procs:
            await proc.stop()
        broker.stop()
    return result


def report(result: dict[str, Any]) -> None:
    print(f"{result['kind']}, {result['collectors']} collector(s), {result['online']:,} gateways online after "
          f"{result['warmup_s']:.0f} s{'' if result['poll'] else ', no console polling'}:")
    print(f"  readings stored  {result['stored']:10,.0f}/s  ({result['stored'] / max(1.0, result['bare']):.2f}x the "
          f"bare drain of {result['bare']:,.0f}/s; goal 50,000/s and >= 0.5x)")
    for n, seen in enumerate(result["fire"]):
        print(f"  fire -> event stream of collector {n}: {ms(seen)}")
    if "console" in result:
        print(f"  fire -> console row in chromium: {ms(result['console'])}")
    if result["poll"]:
        print(f"  /api/sites each second: {ms(result['sites'])}")
    print("  CPU (% of one core): " + ", ".join(f"{k} {v:.0f}" for k, v in result["cpu"].items())
          + f"  (this machine: {os.cpu_count()} cores)")
    print("  peak RSS: " + ", ".join(f"{k} {v:.0f} MB" for k, v in result["rss"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gateways", type=int, default=25_000)
    parser.add_argument("--collectors", type=int, default=2, help="on PostgreSQL (SQLite: always one)")
    parser.add_argument("--seconds", type=float, default=120, help="measured, after the warm-up")
    parser.add_argument("--report-every", type=float, default=14.0,
                        help="seconds between a gateway's batches (14 s: 700,000 devices -> 50,000 readings/s)")
    parser.add_argument("--stores", default="postgresql,sqlite")
    parser.add_argument("--browser", action="store_true", help="also time the fire's row in chromium")
    parser.add_argument("--console", default="poll", help="poll: a console fetches /api/sites every second; "
                        "none: no console; both: each store twice, to see what the polling costs ingest")
    args = parser.parse_args()
    plan = city_plan(args.gateways)
    offered = sum(len(s["devices"]) for s in plan) / args.report_every
    print(f"city: {len(plan):,} gateways, {sum(len(s['devices']) for s in plan):,} devices; offered about "
          f"{offered:,.0f} readings/s in {len(plan) / args.report_every:,.0f} messages/s", flush=True)
    results = []
    polls = {"poll": [True], "none": [False], "both": [False, True]}[args.console]
    for kind in args.stores.split(","):
        for poll in polls:
            folder = Path(tempfile.mkdtemp(prefix=f"firefleet-city-{kind}-"))
            with database(kind, folder) as location:
                if location is None:
                    continue
                results.append(asyncio.run(one_store(kind, location, folder, plan,
                                                     args.collectors if kind == "postgresql" else 1, args.seconds,
                                                     args.report_every, args.browser, poll)))
    for result in results:
        report(result)


if __name__ == "__main__":
    main()
