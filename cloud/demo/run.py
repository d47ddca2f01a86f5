"""The one-command district demo: simulators, one edge agent per site, the collector, a broker, and a
scenario that shows what matters, with progress in the terminal.

Everything runs as separate processes started through the `firefleet` command (the demo imports none
of simulators, edge or cloud internals it would have to share), except the embedded broker (amqtt),
which runs in this process when no --broker is given. Each agent reaches the broker through a relay the
scenario can cut, so a gateway can lose its link, keep its local rules, and replay its backlog.

`--scale district` adds lightweight simulated gateways (simulators.gateway_fleet) up to the district's
proportions, from a seeded plan (cloud.demo.district), all through one `firefleet fleet` process.

Scenario (seconds from the start of a round; the link cut lasts 120 s interactively, 30 s headless).
Interactively it loops: after a round the district returns to normal and the next round starts.
    10  a charging port overheats in shed 1           -> prewarning, the port is cut locally
    20  smoke in shed 2                                -> fire, every port of the shed cut
    30  shed 1's gateway loses its link; 35 a cabinet door opens there... (the cabinet group's gateway)
    40  a detector at station 1 stops answering        -> fault, then a maintenance ticket
    50  a station vehicle's battery runs low           -> the station's readiness drops
   150  the cabinet group's gateway is back and replays its backlog
`--headless --duration N` exits 0 only if every scenario alarm reached the collector.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from cloud.demo.district import district_plan, inventory_lines
from cloud.demo.link_cutter import LinkCutter
from devices.broker_url import BrokerConfig
from devices.downlink_auth import generate_keys
from devices.errors import SiteConfigError

__all__ = ["run_demo"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "examples" / "sites"
PLANS = ROOT / "deploy" / "examples" / "plans"  # example floor plans, uploaded for every demo site
NOTIFY_PLAN = ROOT / "deploy" / "examples" / "notifications.yaml"  # through the provider simulator here
UITD_MAPPING = ROOT / "deploy" / "examples" / "gb26875.yaml"  # to the monitoring-centre simulator here
DEMO_USERS = {"duty": "duty_officer", "maint": "maintenance", "viewer": "district_viewer", "admin": "admin"}
STREETS = {"shed": ["西溪街道", "蒋村街道"], "station": ["文新街道", "古荡街道"], "cabinets": ["翠苑街道", "北山街道"]}


@dataclass
class Site:
    id: str
    gateway: str
    name: str
    kind: str
    street: str
    file: Path
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))


@dataclass
class Expectation:
    label: str
    site: str
    key: str
    cls: str
    at: float | None = None


def make_sites(folder: Path) -> list[Site]:
    """Two of each example site, the second with its own ids, street and place."""
    templates = [("charging-shed.yaml", "shed", "shed-xixi-01", "gw-shed-xixi-01"),
                 ("micro-station.yaml", "station", "station-wenxin-01", "gw-station-wenxin-01"),
                 ("fire-cabinets.yaml", "cabinets", "cabinets-cuiyuan-01", "gw-cabinets-cuiyuan-01")]
    sites = []
    for filename, family, site_id, gateway in templates:
        text = (EXAMPLES / filename).read_text()
        for n in (1, 2):
            new_id, new_gw = site_id[:-2] + f"{n:02d}", gateway[:-2] + f"{n:02d}"
            street = STREETS[family][n - 1]
            body = text.replace(site_id, new_id).replace(gateway, new_gw)
            body = re.sub(r"street: \S+", f"street: {street}", body, count=1)
            shift = 0.01 * (n - 1)
            lat = re.search(r"lat: (\d+\.\d+)", body)
            if lat:
                body = body.replace(lat.group(0), f"lat: {float(lat.group(1)) + shift:.4f}", 1)
            name = re.search(r"name: (\S+)", body)
            path = folder / f"{new_id}.yaml"
            path.write_text(body)
            kind = {"shed": "charging_shed", "station": "micro_station", "cabinets": "fire_cabinets"}[family]
            sites.append(Site(new_id, new_gw, (name.group(1) if name else new_id) + ("" if n == 1 else "(二)"),
                              kind, street, path))
    return sites


def write_inventory(folder: Path, sites: list[Site], light: list[dict[str, Any]] | None = None) -> Path:
    lines = ["sites:"]
    for s in sites:
        lines += [f"  - id: {s.id}", f"    name: {s.name}", f"    kind: {s.kind}", f"    street: {s.street}",
                  f"    gateway: {s.gateway}"]
        if s.kind == "micro_station":
            lines += ["    equipment:",
                      '      - {category: extinguishers, required: 8, device: em1, points: "extinguisher*.pressure",'
                      " min: 1.0, max: 1.4}",
                      '      - {category: vehicles, required: 4, device: em1, points: "vehicle*.soc", min: 80}',
                      "      - {category: monitoring, required: 2, devices: [em1, sd-garage]}"]
    for site in light or []:
        lines += inventory_lines(site)
    path = folder / "inventory.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _preferred_port(port: int) -> int:
    """`port` when it is free on loopback, else any free one (the console's URL is printed either way)."""
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.folder = args.run_dir or Path(tempfile.mkdtemp(prefix="firefleet-demo-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sites = make_sites(self.folder)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.cutters: dict[str, LinkCutter] = {}
        self.port = args.port or _preferred_port(8080)
        self.api = f"http://127.0.0.1:{self.port}"
        self.user_passwords = {name: secrets.token_urlsafe(9) for name in DEMO_USERS}
        self.expect: list[Expectation] = []
        self.started = self.round_started = time.monotonic()
        self.light: list[dict[str, Any]] = []
        if args.scale == "city" and not (str(args.store or "").startswith("postgresql://") and args.broker):
            raise SiteConfigError("--scale city runs two collectors on one PostgreSQL through a real broker: give "
                                  "--store postgresql://... and --broker mqtt://... (a mosquitto)", field="--scale")
        if args.scale in ("district", "city"):
            counts = {k: sum(1 for s in self.sites if s.kind == k) for k in ("micro_station", "charging_shed",
                                                                             "fire_cabinets")}
            self.light = district_plan(seed=2022, existing=counts, city=args.scale == "city")
        self.collectors = 2 if args.scale == "city" else 1  # the second one's API on its own port
        self.fleet_password = secrets.token_urlsafe(12)
        self.touched: set[tuple[str, str]] = set()
        self._http = httpx.AsyncClient(timeout=5)  # the status loop's one client and session (`_get`)
        self._token: str | None = None
        self._admin: str | None = None  # the admin's session: example floor plans (`_plans`), the rollout
        self.rollout: int | None = None  # the demo's rollout of a corrected detector profile
        self.uploaded: dict[tuple[str, str], int] = {}
        self.placed: set[tuple[str, str]] = set()
        self.provider = f"http://127.0.0.1:{free_port()}"  # the SMS, voice and robot platforms (sim-notify)

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    def spawn(self, name: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - the process owns it
        # Own session: Ctrl-C reaches the demo only, which then stops everything in order (after its summary).
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "devices.cli", *args], stdout=log, stderr=log,
                                            cwd=ROOT, start_new_session=True)

    async def run(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self._http.aclose)
            broker = await self._broker(stack)
            await self._start_processes(broker)
            self._print_welcome()
            scenario = asyncio.get_running_loop().create_task(self._scenario_loop(), name="scenario")
            progress = asyncio.get_running_loop().create_task(self._progress_loop(), name="progress")
            try:
                with contextlib.suppress(TimeoutError):  # asyncio.timeout: 3.11's wait_for can lose a cancel
                    async with asyncio.timeout(self.args.duration or None):
                        await stop.wait()
            finally:
                for task in (scenario, progress):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                ok = await self._summary()
                self._stop_processes()
                for cutter in self.cutters.values():
                    await cutter.close()
        return 0 if ok or not self.args.headless else 1

    async def _broker(self, stack: contextlib.AsyncExitStack) -> BrokerConfig:
        if self.args.broker:
            self.say(f"using the broker at {self.args.broker}")
            return BrokerConfig.from_url(self.args.broker)
        from cloud.demo.embedded_broker import embedded_broker

        port = free_port()
        users = {"collector": self.user_passwords["admin"], "fleet": self.fleet_password,
                 **{s.gateway: s.password for s in self.sites}}
        await stack.enter_async_context(embedded_broker(port, users, self.folder / "broker"))
        self.say(f"embedded MQTT broker (amqtt) on 127.0.0.1:{port}, password authentication")
        return BrokerConfig("127.0.0.1", port, "collector", self.user_passwords["admin"])

    async def _start_processes(self, broker: BrokerConfig) -> None:
        run = self.folder / "sim"
        sim_args = ["sim", "--control-port", "0", "--run-dir", str(run)]
        for s in self.sites:
            sim_args += ["--site", str(s.file)]
        self.spawn("simulators", *sim_args)
        for _ in range(300):
            if (run / "served.json").exists():
                break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"the simulators did not start: see {self.folder / 'simulators.log'}")
        self.control = json.loads((run / "served.json").read_text())["control"]
        self.say(f"simulators: {len(self.sites)} sites, control API {self.control}")
        inventory = write_inventory(self.folder, self.sites, self.light)
        collector_url = self._url(broker, broker.username, broker.password)
        users = [f"{name}:{role}:{self.user_passwords[name]}" for name, role in DEMO_USERS.items()]
        signing_key, public_key = generate_keys(self.folder / "keys")  # what gateways believe: signed by this
        store = self.args.store or str(self.folder / "cloud.sqlite")
        if self.args.store:
            self.say("the collector's store: PostgreSQL (--store)")
        # the example notification plan through the provider simulator (its secrets made up for this run)
        os.environ.setdefault("FF_NOTIFY_SECRET", secrets.token_urlsafe(16))
        os.environ.setdefault("FF_DINGTALK_SECRET", secrets.token_urlsafe(16))
        plan = self.folder / "notifications.yaml"
        plan.write_text(NOTIFY_PLAN.read_text(encoding="utf-8").replace("http://127.0.0.1:8765", self.provider),
                        encoding="utf-8")
        self.spawn("notify-provider", "sim-notify", "--port", self.provider.rsplit(":", 1)[1], "--collector",
                   self.api, "--dingtalk-secret-env", "FF_DINGTALK_SECRET")
        self.say(f"notification provider simulator (SMS, voice, WeChat Work, DingTalk): {self.provider}")
        centre_port = free_port()
        self.spawn("monitoring-centre", "sim-centre", "--port", str(centre_port), "--duty-check-every", "0")
        self.say(f"city monitoring centre simulator (GB/T 26875.3): 127.0.0.1:{centre_port}")
        cloud_args = ["cloud", "--db", store, "--broker", collector_url, "--notifications", str(plan),
                      "--uitd", str(self._uitd_mapping(centre_port)),
                      "--signing-key", str(signing_key),
                      "--inventory", str(inventory), "--http", f"127.0.0.1:{self.port}",
                      "--ticket-offline-after", "30", "--upkeep-every", "5", "--roster", "chief-on-duty"]
        if not self.args.broker:
            cloud_args.append("--no-shared")  # amqtt accepts shared subscriptions and delivers nothing
        for user in users:
            cloud_args += ["--user", user]
        self.spawn("collector", *cloud_args)
        for n in range(2, self.collectors + 1):  # the city: more collectors on the same store and broker
            port = free_port()
            more = [f"127.0.0.1:{port}" if arg == f"127.0.0.1:{self.port}" else arg for arg in cloud_args]
            self.spawn(f"collector-{n}", *more)
            self.say(f"collector {n} (same store, same broker, shared subscription): http://127.0.0.1:{port}/")
        for s in self.sites:
            cutter = LinkCutter(broker.host, broker.port)
            await cutter.start()
            self.cutters[s.id] = cutter
            via = BrokerConfig("127.0.0.1", cutter.port)
            password = s.password if not self.args.broker else broker.password
            username = s.gateway if not self.args.broker else broker.username
            self.spawn(f"edge-{s.id}", "edge", "--config", str(s.file), "--data-dir", str(self.folder / s.id),
                       "--bus-map", str(run / "served.json"), "--broker", self._url(via, username, password),
                       "--heartbeat", "10", "--collector-key", str(public_key), "--metrics", "127.0.0.1:0")
            self.say(f"edge agent for {s.id} ({s.name}, {s.street})")
        if self.light:
            plan = self.folder / "district-plan.json"
            plan.write_text(json.dumps(self.light, ensure_ascii=False))
            if self.args.broker:
                fleet_url = self._url(broker, broker.username, broker.password)
            else:
                fleet_url = self._url(broker, "fleet", self.fleet_password)
            self.spawn("fleet", "fleet", "--plan", str(plan), "--broker", fleet_url, "--collector-key", str(public_key))
            self.say(f"{self.args.scale} scale: {len(self.light)} lightweight simulated gateways "
                     f"({', '.join(f'{n} {k}' for k, n in Counter(site['kind'] for site in self.light).items())})")
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if self.procs["collector"].poll() is not None:
                    log = (self.folder / "collector.log").read_text(errors="replace").strip().splitlines()
                    raise RuntimeError(f"the collector stopped: {log[-1] if log else 'no output'}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.api}/api/openapi.json")).status_code == 200:
                        break
                await asyncio.sleep(0.05)

    def _uitd_mapping(self, centre_port: int) -> Path:
        """The example mapping for the demo's sites: the second of each kind at its own device address."""
        mapping = yaml.safe_load(UITD_MAPPING.read_text(encoding="utf-8"))
        mapping["centre"]["port"] = centre_port
        ours = {s.id for s in self.sites}
        seconds = [{**entry, "site": entry["site"][:-2] + "02", "address": entry["address"] + (1 << 24)}
                   for entry in mapping["sites"] if entry["site"][:-2] + "02" in ours]
        mapping["sites"] = [e for e in mapping["sites"] if e["site"] in ours] + seconds
        path = self.folder / "gb26875.yaml"
        path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
        return path

    @staticmethod
    def _url(broker: BrokerConfig, user: str | None, password: str | None) -> str:
        auth = f"{user}:{password}@" if user else ""
        return f"mqtt://{auth}{broker.host}:{broker.port}"

    def _print_welcome(self) -> None:
        print("\nfirefleet demo is running", flush=True)
        print(f"  web console    {self.api}/   (sign in as one of the users below)")
        print(f"  collector API  {self.api}/api   (OpenAPI: {self.api}/api/openapi.json)")
        for name, role in DEMO_USERS.items():
            print(f"  user {name:7} {role:16} password {self.user_passwords[name]}")
        print(f"  logs and data  {self.folder}")
        print("  Ctrl-C stops everything\n", flush=True)

    async def _set(self, site: str, device: str, values: dict[str, Any]) -> None:
        self.touched.add((site, device))
        async with httpx.AsyncClient(base_url=self.control) as client:
            (await client.post(f"/sites/{site}/devices/{device}/signals", json={"values": values})).raise_for_status()

    async def _fault(self, site: str, device: str, kind: str) -> None:
        self.touched.add((site, device))
        async with httpx.AsyncClient(base_url=self.control) as client:
            (await client.post(f"/sites/{site}/devices/{device}/faults", json={"kind": kind})).raise_for_status()

    def _expect(self, label: str, site: str, key: str, cls: str) -> None:
        if not any(e.site == site and e.key == key for e in self.expect):  # once, however many rounds
            self.expect.append(Expectation(label, site, key, cls))

    async def _at(self, second: float) -> None:
        await asyncio.sleep(max(0.0, second - (time.monotonic() - self.round_started)))

    async def _scenario_loop(self) -> None:
        """One round headless; interactively, round after round with a return to normal in between."""
        await self._scenario()
        while not self.args.headless:
            await asyncio.sleep(30)
            self.say("scenario: the district returns to normal (latched alarms stay until reset from the console)")
            for site, device in self.touched:
                with contextlib.suppress(httpx.HTTPError):
                    async with httpx.AsyncClient(base_url=self.control) as client:
                        await client.delete(f"/sites/{site}/devices/{device}/signals")
                        await client.delete(f"/sites/{site}/devices/{device}/faults")
            await asyncio.sleep(60)
            self.round_started = time.monotonic()
            self.say("scenario: the next round starts")
            await self._scenario()

    async def _scenario(self) -> None:
        shed1, shed2, station1, cabinets1 = "shed-xixi-01", "shed-xixi-02", "station-wenxin-01", "cabinets-cuiyuan-01"
        cut_for = 30.0 if self.args.headless else 120.0
        await self._at(10)
        self.say("scenario: port 3 of box 1 in shed 1 overheats (71.5 C)")
        await self._set(shed1, "box1", {"port3.temperature": 71.5})
        self._expect("port overheat, cut locally", shed1, "box1/port-overheat-cut/port3", "prewarning")
        await self._at(20)
        self.say("scenario: smoke in shed 2")
        await self._set(shed2, "sd1", {"smoke_alarm": True})
        self._expect("smoke in the shed", shed2, "sd1/smoke", "fire")
        self._expect("every port of the shed cut", shed2, "site/shed-smoke-cut", "fire")
        await self._at(30)
        self.say(f"scenario: the cabinet group's gateway loses its link for {cut_for:.0f} s")
        self.cutters[cabinets1].cut()
        await self._at(35)
        self.say("scenario: cabinet 2's door opens while its gateway is cut off (it must arrive later)")
        await self._set(cabinets1, "fc2", {"door_open": True})
        self._expect("cabinet door open (replayed)", cabinets1, "fc2/door_open", "supervisory")
        await self._at(40)
        self.say("scenario: the garage smoke detector at station 1 stops answering")
        await self._fault(station1, "sd-garage", "no_reply")
        self._expect("detector offline", station1, "sd-garage/device-offline", "fault")
        await self._at(50)
        self.say("scenario: vehicle 2's battery at station 1 runs low (41 %)")
        await self._set(station1, "em1", {"vehicle2.soc": 41})
        await self._at(55)
        self.say("scenario: the officer on call (王建国) replies 1 to the fire SMS: it acknowledges the shed's fires")
        with contextlib.suppress(httpx.HTTPError):
            await self._http.post(f"{self.provider}/control/reply", json={"phone": "13800138000", "content": "1"})
        await self._at(57)
        await self._roll_out_profile()
        await self._at(30 + cut_for)
        self.cutters[cabinets1].restore()
        self.say("scenario: the cabinet group's gateway is back: it replays its backlog")

    async def _roll_out_profile(self) -> None:
        """Issue 16: a corrected detector profile (less telemetry noise) to the charging sheds, one canary first,
        as an admin does on 配置下发; the summary says how it went. Once, and not among the lightweight
        simulated gateways of --scale (they take no commands)."""
        if self.rollout is not None or self.light:
            return
        profile = (ROOT / "firmware-profiles" / "hengan-sd100-fw1.yaml").read_text(encoding="utf-8")
        self.say("scenario: the admin rolls a corrected smoke-detector profile out to the charging sheds "
                 "(one canary first)")
        try:
            made = await self._send("/api/rollouts", {
                "target": {"kind": "charging_shed"}, "canary_share": 0.5, "verify_s": 60,
                "description": "hengan-sd100-fw1: obscuration deadband 0.1 %/m",
                "profiles": {"hengan-sd100-fw1.yaml": profile.replace("deadband: 0.05}", "deadband: 0.1}", 1)}})
            self.rollout = int(made["id"])
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            self.say(f"the rollout was not made: {exc}")

    async def _rollout_line(self) -> list[str]:
        if self.rollout is None:
            return []
        found = await self._send(f"/api/rollouts/{self.rollout}", None, method="GET")
        states = Counter(g["state"] or "queued" for g in found["gateways"])
        return [f"rollout #{self.rollout} ({found['description']}) to the charging sheds: {found['state']}, "
                + ", ".join(f"{s} {n}" for s, n in sorted(states.items()))]

    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(10)
            await self._progress()

    async def _plans(self) -> None:
        """The example floor plans (deploy/examples/plans), each site's uploaded once and its devices placed
        once they are known (after their gateway's birth); a failure is said and tried again next round."""
        listed = yaml.safe_load((PLANS / "plans.yaml").read_text(encoding="utf-8"))
        for site in self.sites:
            for plan in listed.get(site.kind, []):
                key = (site.id, plan["name"])
                if key in self.placed:
                    continue
                try:
                    if key not in self.uploaded:
                        self.uploaded[key] = (await self._send(
                            f"/api/sites/{site.id}/plans?name={plan['name']}", (PLANS / plan["file"]).read_bytes(),
                            "image/svg+xml"))["id"]
                    await self._send(f"/api/plans/{self.uploaded[key]}/positions", {"positions": {
                        device: {"x": x, "y": y} for device, (x, y) in plan["positions"].items()}})
                    self.placed.add(key)
                except httpx.HTTPError:
                    return  # its devices are not all known yet: next round

    async def _send(self, path: str, body: Any, media: str = "", method: str = "POST") -> Any:
        """A POST (or a GET) as the admin (its own session, kept like the status loop's)."""
        if self._admin is None:
            response = await self._http.post(f"{self.api}/api/login", json={
                "user": "admin", "token": True, "password": self.user_passwords["admin"]})
            response.raise_for_status()
            self._admin = response.json()["token"]
        headers = {"Authorization": f"Bearer {self._admin}"}
        if method == "GET":
            response = await self._http.get(f"{self.api}{path}", headers=headers)
        elif media:
            response = await self._http.post(f"{self.api}{path}", headers={**headers, "Content-Type": media},
                                             content=body)
        else:
            response = await self._http.post(f"{self.api}{path}", headers=headers, json=body)
        response.raise_for_status()
        return response.json()

    async def _progress(self) -> None:
        with contextlib.suppress(httpx.HTTPError, OSError):
            await self._plans()
        arrived = await self._arrived()
        done = sum(1 for e in self.expect if e.key in arrived.get(e.site, set()))
        online = ""
        with contextlib.suppress(httpx.HTTPError, ValueError):
            gateways = await self._get("/api/gateways")
            up = sum(1 for g in gateways if g["online"])
            online = f", gateways online {up}/{len(self.sites) + len(self.light)}"
        self.say(f"status: {done}/{len(self.expect)} scenario alarms at the collector{online}")

    async def _get(self, path: str) -> Any:
        """A GET as the duty user, on one session for the whole demo (signed in again only when the
        collector forgot it, e.g. after a restart): the audit trail shows one login, not one per look."""
        for _ in range(2):
            if self._token is None:
                response = await self._http.post(f"{self.api}/api/login", json={
                    "user": "duty", "token": True, "password": self.user_passwords["duty"]})
                response.raise_for_status()
                self._token = response.json()["token"]
            answer = await self._http.get(f"{self.api}{path}", headers={"Authorization": f"Bearer {self._token}"})
            if answer.status_code != 401:
                answer.raise_for_status()
                return answer.json()
            self._token = None
        answer.raise_for_status()

    async def _arrived(self) -> dict[str, set[str]]:
        try:
            alarms = await self._get("/api/alarms?all=1")
        except httpx.HTTPError:
            return {}
        out: dict[str, set[str]] = {}
        for a in alarms:
            out.setdefault(a["site"], set()).add(a["key"])
        return out

    async def _response_lines(self) -> list[str]:
        """The first minute of the shed's fire: its camera pictures, who was told and how it was answered."""
        fires = [a for a in await self._get("/api/alarms?all=1") if a["key"] == "sd1/smoke"]
        lines = []
        for fire in fires[:1]:
            detail = await self._get(f"/api/alarms/{fire['id']}")
            lines.append(f"camera pictures of the smoke in {fire['site']}: {len(detail['snapshots'])}")
            told = Counter(n["channel"] for n in detail["notifications"])
            lines.append(f"notifications for it: {', '.join(f'{c} {n}' for c, n in sorted(told.items())) or 'none'}")
            answered = [e["who"] for e in detail["log"] if e["action"] == "acknowledge"]
            lines.append(f"acknowledged by: {', '.join(answered) or 'nobody yet'}")
        frames = await self._get("/api/uitd/frames?limit=1000")
        sends = [f for f in frames if f["direction"] == "out" and f["command"] == 2]
        fires = [f for f in sends if "火警" in (f["detail"] or "")]
        lines.append(f"GB/T 26875.3 frames to the monitoring centre simulator: {len(sends)} sent, "
                     f"{sum(f['state'] == 'confirmed' for f in sends)} confirmed, {len(fires)} with the fire bit")
        taken = (await self._http.get(f"{self.provider}/control/messages")).json()
        lines.append(f"the provider simulator took {len(taken)} messages "
                     f"({', '.join(f'{c} {n}' for c, n in sorted(Counter(m['channel'] for m in taken).items()))})")
        return lines

    async def _summary(self) -> bool:
        arrived = await self._arrived()
        extra: list[str] = []
        with contextlib.suppress(httpx.HTTPError):
            tickets = await self._get("/api/tickets")
            readiness = await self._get("/api/readiness")
            what = sorted({(t["device"] or t["site"]) + " " + t["kind"] for t in tickets})  # '': the gateway
            extra.append(f"maintenance tickets open: {len(tickets)} ({', '.join(what) or 'none'})")
            stations = sorted(readiness.get("stations", []), key=lambda st: (st["score"], st["site"]))
            for st in stations[:6]:  # the weakest first; a district has dozens
                extra.append(f"readiness {st['site']}: {st['score']} %, missing {', '.join(st['missing']) or '-'}")
            if len(stations) > 6:
                mean = sum(st["score"] for st in stations) / len(stations)
                extra.append(f"readiness: {len(stations) - 6} more stations; district mean {mean:.1f} %")
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            extra += await self._response_lines()
        with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
            extra += await self._rollout_line()
        print("\nsummary", flush=True)
        ok = True
        for e in self.expect:
            got = e.key in arrived.get(e.site, set())
            ok &= got
            print(f"  {'ok  ' if got else 'MISS'} {e.label:32} {e.site:22} {e.key}")
        for line in extra:
            print(f"  {line}")
        print(f"  {'every scenario alarm reached the collector' if ok else 'some scenario alarms did not arrive'}",
              flush=True)
        return ok and bool(self.expect)

    def _stop_processes(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                proc.kill()


def run_demo(args: argparse.Namespace) -> int:
    return asyncio.run(Demo(args).run())
