"""The edge agent: the wiring, and one task group that owns every long-lived task of a site's gateway.

    bus workers (one per bus) --values--> rule engine --transitions--> outbox (alarms, events)
          ^                                   |                            |
          +------ writes (interlocks) --------+                  uplink (when a broker is configured)
    telemetry (edge.telemetry): report-on-change readings, committed within a second

Rules and interlocks run whether or not any network is up; the uplink only reads the outbox. What the
agent does between them lives in modules named for it: interlocks outranking people (edge.interlocks),
commands (edge.command_runner), the collector-link fault (edge.link_supervisor), records (edge.records).
Nothing here polls on a clock: sustain timers and the telemetry flush are timers armed when due, the link
supervisor waits on the uplink's change event or the moment its state is due to change.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import signal
from collections.abc import Coroutine, Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec
import structlog

from devices.broker_url import BrokerConfig
from devices.contract import (
    AgentPackage,
    Alarm,
    Birth,
    BirthDevice,
    CommandStep,
    ConfigBundle,
    Health,
    LogQuery,
    Place,
)
from devices.downlink_auth import TrustedKeys, Verifier
from devices.errors import SiteConfigError
from devices.logs import add_sink, ensure_sinks, remove_sink
from devices.mqtt_transport import Connector, MqttConnector
from devices.profile import LineEvent, Profile
from devices.site_config import BusConfig, SiteConfig
from edge.bus_worker import ModbusBusWorker, WriteRequest, finish
from edge.clock import Clock
from edge.command_runner import CommandRunner
from edge.config_diff import bus_fingerprints, changed_buses
from edge.config_sets import ConfigSets, Operation
from edge.health import ProcessHealth
from edge.interlocks import Interlocks
from edge.link_supervisor import LinkSupervisor
from edge.log_file import LogFile
from edge.metrics import serve_metrics
from edge.modbus_link import ModbusLink
from edge.operations import Operations
from edge.outbox import Outbox
from edge.polled_device import PolledDevice, candidates_for
from edge.records import UNASSIGNED, RecordMaker
from edge.register_link import RegisterLink
from edge.rtu_link import RtuLink
from edge.rules import OFFLINE, RuleEngine, Transition, build_instances, cut_inputs, site_groups
from edge.serial_link import SerialLink
from edge.serial_worker import SerialWorker
from edge.snapshots import SnapshotError, Snapshots
from edge.state_store import StateStore
from edge.telemetry import Telemetry
from edge.updates import Updates
from edge.uplink import Uplink
from edge.watchdog import notify, watchdog_period

__all__ = ["EdgeAgent"]

log = structlog.get_logger("firefleet.edge")


def _installed_version() -> str:
    """The agent's version as installed (a wheel's metadata; a checkout's pyproject through its editable
    install): what the birth, the fleet page and an update compare."""
    try:
        return metadata.version("firefleet")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"

AGENT_VERSION = _installed_version()
TELEMETRY_FLUSH_S = 1.0
LINK_FAULT_AFTER_S = 20.0  # collector unreachable this long -> local fault (target <= 30 s)
BUS_STOP_S = 5.0  # a bus worker being replaced has this long to finish its exchange and close its line
# what a bus worker reports that fails an operation's verify (the device does not work with the new set)
VERIFY_PROBLEMS = {"unknown_firmware": "its identity {identity} matches none of its profiles",
                   "point_unreadable": "it refuses to read {points}"}


class EdgeAgent:
    def __init__(self, site: SiteConfig, profiles: Mapping[str, Profile], data_dir: Path, *,
                 broker: BrokerConfig | Connector | None = None, bus_map: Mapping[str, Mapping[str, Any]] | None = None,
                 clock: Clock | None = None, heartbeat_s: float = 30.0, reconnect_cap: float = 15.0,
                 link_fault_after: float = LINK_FAULT_AFTER_S,
                 collector_keys: TrustedKeys | None = None,
                 links: Mapping[str, RegisterLink] | None = None, metrics_at: str | None = None,
                 config_sets: ConfigSets | None = None, recovered: Operation | None = None,
                 updates: Updates | None = None) -> None:
        self.site = site
        self.profiles = profiles
        self.clock = clock or Clock()
        self.data_dir = data_dir
        ensure_sinks()  # before binding: a bound logger keeps the processors it was made with
        self._log = log.bind(site=site.id, gateway=site.gateway_id)
        self.outbox = Outbox(data_dir / "outbox.sqlite")
        self.state = StateStore(data_dir / "state.sqlite")
        self.engine = RuleEngine(build_instances(site, profiles), site_groups(site))
        self.engine.restore(self.state.get("rules", {}))
        self.health = ProcessHealth(data_dir)
        self.records = RecordMaker(site.id, self.clock)
        self._profile_of = {d.id: profiles[d.profile] for d in site.devices}
        self.telemetry = Telemetry(self.outbox, self.records, self._profile_of, on_stored=self._kick,
                                   flush_after=TELEMETRY_FLUSH_S)
        self.interlocks = Interlocks(self.engine, write=lambda d, p, v, cause: self.write(d, p, v, cause=cause),
                                     event=self._event, log=self._log)
        self.commands = CommandRunner(self, self.interlocks, self.state, log=self._log)
        self.snapshots = Snapshots(site, profiles, self.outbox, self.records, bus_map=bus_map or {}, spawn=self.spawn,
                                   stored=self._kick, log=self._log)
        self.link = LinkSupervisor(link_fault_after)
        self.workers: dict[str, ModbusBusWorker | SerialWorker] = {}
        self._worker_of: dict[str, ModbusBusWorker | SerialWorker] = {}
        self._bus_tasks: dict[str, asyncio.Task[None]] = {}
        self._bus_map, self._links = bus_map or {}, links or {}
        self._device_problems: dict[str, str] = {}  # device -> what its bus worker said is wrong (verify)
        self.config_sets = config_sets  # the installed configuration sets (edge.config_sets); None: not managed
        self.operations = Operations(self, config_sets, updates, AGENT_VERSION, self._log)
        self._pending_actions: set[asyncio.Task[None]] = set()
        self._rules_timer: asyncio.TimerHandle | None = None
        self._rules_due_at: float | None = None
        self._unsaved: list[Alarm] = []  # alarms of rules that acted, committed right after the action
        self.stopping = asyncio.Event()
        self.reload_requested = False
        self.alarms_recorded = 0  # alarm records committed to the outbox since start
        self._cut = cut_inputs(self.engine.instances.values())
        self._tasks: asyncio.TaskGroup | None = None
        for bus in site.buses:
            self._add_worker(bus)
        self.metrics_at = metrics_at  # HOST:PORT of /metrics (edge.metrics); None: not served
        self._versions = _versions(site, profiles.values())
        self.log_file = LogFile(data_dir / "agent.log", site.gateway_id)
        self.metrics_port: int | None = None
        if broker is not None and not collector_keys:
            raise SiteConfigError("an agent with a broker needs the collector's public key (--collector-key): "
                                  "it believes no command, ack or collector state that key did not sign",
                                  field="--collector-key")
        verifier = Verifier(collector_keys or {}, site.gateway_id)
        connector = MqttConnector(broker) if isinstance(broker, BrokerConfig) else broker
        self.uplink = Uplink(connector, site.id, site.gateway_id, self.outbox, birth=self._birth, health=self._health,
                             on_command=lambda command: self.commands.take(command, self.clock.wall()),
                             verifier=verifier, on_refused=self._downlink_refused, heartbeat_s=heartbeat_s,
                             reconnect_cap=reconnect_cap, clock_trusted=self.clock.trusted) if connector else None
        if recovered is not None and config_sets is not None:  # an operation a kill or power cut interrupted
            self.command_state(recovered.command, "failed" if recovered.state == "failed" else "rolled_back",
                               recovered.reason)
            config_sets.reported()

    # -- construction ------------------------------------------------------------------------------
    def _add_worker(self, bus: BusConfig) -> ModbusBusWorker | SerialWorker | None:
        """The bus's worker, on its real line (or, in unit tests, the RegisterLink given for its id)."""
        where = self._bus_map.get(bus.id, {})
        on_bus = self.site.devices_on(bus.id)
        if not on_bus:
            return None
        worker: ModbusBusWorker | SerialWorker
        if bus.type == "serial":
            dev = on_bus[0]
            link = SerialLink(where.get("path", bus.port), bus.baud, bus.parity, bus.stop_bits)
            worker = SerialWorker(bus, dev, self.profiles[dev.profile], link, self)
        else:
            modbus: RegisterLink
            if bus.id in self._links:
                modbus = self._links[bus.id]
            elif bus.type == "modbus_tcp":
                modbus = ModbusLink.tcp(where.get("host", bus.host), int(where.get("port", bus.tcp_port)))
            else:
                modbus = RtuLink(SerialLink(where.get("path", bus.port), bus.baud, bus.parity, bus.stop_bits),
                                 bus.baud, bits_per_char=10 + (bus.parity != "N") + (bus.stop_bits - 1))
            devices = [PolledDevice(d, self.profiles[d.profile],
                                    candidates_for(self.profiles[d.profile], self.profiles),
                                    urgent=self._cut.get(d.id, frozenset())) for d in on_bus]
            worker = ModbusBusWorker(bus, devices, modbus, self)
        self.workers[bus.id] = worker
        for dev in on_bus:
            self._worker_of[dev.id] = worker
        if self._tasks is not None:
            self._bus_tasks[bus.id] = self._tasks.create_task(worker.run(), name=f"bus:{bus.id}")
        return worker

    async def _remove_worker(self, bus_id: str) -> list[WriteRequest]:
        """Stop a bus's worker and wait for it to close its line; the writes it had not served yet."""
        worker = self.workers.pop(bus_id, None)
        task = self._bus_tasks.pop(bus_id, None)
        if worker is None:
            return []
        worker.stop()
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=BUS_STOP_S)
            if not done:
                task.cancel()
                await asyncio.wait({task})
        for device in [d for d, w in self._worker_of.items() if w is worker]:
            del self._worker_of[device]
        waiting = []
        while not worker.writes.empty():
            waiting.append(worker.writes.get_nowait())
        return waiting

    # -- running -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until `stopping` is set; then flush telemetry and close the stores."""
        add_sink(self.log_file)  # the agent's own log file, for the `logs` command (edge.log_file)
        self._log.info("edge agent starting", devices=len(self.site.devices), buses=len(self.workers),
                       rules=len(self.engine.instances), uplink=bool(self.uplink))
        metrics = None
        if self.metrics_at:
            try:
                metrics, self.metrics_port = serve_metrics(self, self.metrics_at)
                self._log.info("metrics served", at=f"{self.metrics_at.rpartition(':')[0]}:{self.metrics_port}")
            except (OSError, ValueError) as exc:  # a side feature: the site is protected without it
                self._log.error("metrics not served", at=self.metrics_at, reason=str(exc))
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = tg
                self._bus_tasks = {bus_id: tg.create_task(w.run(), name=f"bus:{bus_id}")
                                   for bus_id, w in self.workers.items()}
                tasks: list[asyncio.Task[None]] = []
                if self.uplink is not None:
                    tasks.append(tg.create_task(self.uplink.run(), name="uplink"))
                    tasks.append(tg.create_task(self._supervise_link(self.uplink), name="link-supervisor"))
                period = watchdog_period()
                if period is not None:
                    tasks.append(tg.create_task(_watchdog(period), name="watchdog"))
                self._arm_rules_timer()
                updating = self.operations.update_at_start()
                if updating is not None:
                    tasks.append(tg.create_task(self.operations.confirm_update(updating), name="update-verify"))
                notify("READY=1")
                await self.stopping.wait()
                notify("STOPPING=1")
                for worker in self.workers.values():
                    worker.stop()
                if self.uplink is not None:
                    self.uplink.stop()
                for task in (*self._bus_tasks.values(), *tasks, *self._pending_actions):
                    task.cancel()
                self._tasks = None
        finally:
            remove_sink(self.log_file)
            if metrics is not None:
                metrics.shutdown()
                metrics.server_close()
            if self._rules_timer is not None:
                self._rules_timer.cancel()
            self._save_alarms()
            self.telemetry.flush()
            self.state.put("rules", self.engine.snapshot())
            self.outbox.close()
            self.state.close()
            self._log.info("edge agent stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)

    def _arm_rules_timer(self) -> None:
        """One timer, for the earliest sustain timer of the rules (a `for: 5s` that runs out between polls)."""
        due = self.engine.next_due()
        if due == self._rules_due_at:
            return
        if self._rules_timer is not None:
            self._rules_timer.cancel()
            self._rules_timer = None
        self._rules_due_at = due
        if due is not None:
            self._rules_timer = asyncio.get_running_loop().call_later(max(0.0, due - self.clock.wall()),
                                                                      self._rules_due)

    def _rules_due(self) -> None:
        self._rules_timer = self._rules_due_at = None
        self._apply(self.engine.tick(self.clock.wall()))
        self._arm_rules_timer()

    async def _supervise_link(self, uplink: Uplink) -> None:
        """The collector-link fault, looked at whenever the link changes or is due to (see LinkSupervisor)."""
        while True:
            now = self.clock.mono()
            change = self.link.update(uplink.link_ok, now)
            if change is not None:
                self._link_alarm(change)
            wake = self.link.due_in(now) if not uplink.link_ok else uplink.link_expires_in()
            uplink.link_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(None if wake is None else wake + 0.01):
                    await uplink.link_changed.wait()

    # -- sink: what the bus workers report ---------------------------------------------------------
    def on_values(self, device: str, values: dict[str, Any]) -> None:
        self._apply(self.engine.update(device, values, self.clock.wall()))
        self.interlocks.reassert(device, values)
        self.telemetry.observe(device, values)
        self._arm_rules_timer()

    def on_health(self, device: str, online: bool, reason: str) -> None:
        self._event(device, "device_online" if online else "device_offline", {"reason": reason})
        if not online:
            self.telemetry.forget(device)
        self._apply(self.engine.set_offline(device, not online, self.clock.wall()))

    def on_event(self, device: str, kind: str, details: dict[str, Any]) -> None:
        if kind in VERIFY_PROBLEMS:
            self._device_problems[device] = VERIFY_PROBLEMS[kind].format(**{"points": "", **details})
        self._event(device, kind, details)

    def on_line_event(self, device: str, event: LineEvent, fields: dict[str, Any]) -> None:
        """A fire panel's printed event: an alarm in its own right, keyed by loop, zone and address."""
        where = f"L{fields.get('loop', 0)}-Z{fields.get('zone', 0)}-A{fields.get('address', 0)}"
        key = f"{device}/{where}/{event.cls}"
        self._alarm(self.records.alarm(key=key, device=device, rule=f"panel-{event.cls}", cls=event.cls,
                                       severity=1 if event.cls == "fire" else 3, active=event.condition == "active",
                                       value=fields, text=str(fields.get("text", ""))))

    # -- records -----------------------------------------------------------------------------------
    def _alarm(self, *alarms: Alarm) -> None:
        """Commit alarms to the outbox (one transaction) and wake the uplink."""
        self.outbox.append_many(alarms)
        self.alarms_recorded += len(alarms)
        for alarm in alarms:
            self._log.info("alarm " + alarm.state, key=alarm.key, cls=alarm.cls)
        self._kick()
        self.snapshots.after(alarms)  # pictures follow the alarms they belong to, never before them

    def _event(self, device: str, kind: str, details: Mapping[str, Any]) -> None:
        self.outbox.append(self.records.event(device, kind, details))
        self._kick()

    def _kick(self) -> None:
        if self.uplink is not None:
            self.uplink.kick()

    # -- rules -> alarms and actions ---------------------------------------------------------------
    def _apply(self, transitions: list[Transition]) -> None:
        """Act first, then record: a rule's writes are queued on their bus at once, and its alarms are
        committed (synchronous=FULL) just after, once the bus worker has had its turn to put the write on
        the wire. A kill -9 in between loses neither: the rule state is saved only with the alarms, so a
        restarted agent raises (and cuts) again on its first reading of a condition that still holds."""
        if not transitions:
            return
        for tr in transitions:
            inst = tr.instance
            if tr.kind == "raise":
                for action in inst.actions:
                    self.write(action.device, action.point, action.value, cause=inst.key)
            else:
                self.interlocks.released(inst.key)
            self._unsaved.append(self.records.alarm(
                key=inst.key, device=inst.device, rule=inst.rule, cls=inst.cls, severity=inst.severity,
                active=tr.kind == "raise", value=tr.value, text=inst.text))
        if len(self._unsaved) == len(transitions):  # the first since the last save: one save for them all
            try:
                asyncio.get_running_loop().call_soon(self._save_alarms)
            except RuntimeError:  # no loop (a test driving the engine by hand): save now
                self._save_alarms()

    def _save_alarms(self) -> None:
        if not self._unsaved:
            return
        alarms, self._unsaved = self._unsaved, []
        self._alarm(*alarms)
        self.state.put("rules", self.engine.snapshot())

    def write(self, device: str, point: str, value: Any, *, cause: str) -> asyncio.Future[str]:
        """Queue a write on the device's bus; its outcome becomes an `action` event."""
        worker = self._worker_of[device]
        request = WriteRequest(device, point, value)
        worker.submit(request)
        self.interlocks.writing.add((device, point))
        request.done.add_done_callback(lambda fut: self._action_done(device, point, value, cause, fut))
        return request.done

    def _action_done(self, device: str, point: str, value: Any, cause: str, fut: asyncio.Future[str]) -> None:
        self.interlocks.writing.discard((device, point))
        if fut.cancelled():
            return
        result = fut.result()
        self._event(device, "action", {"point": point, "value": value, "cause": cause, "result": result})
        if result not in ("verified", "sent"):
            self._log.warning("action failed", device=device, point=point, result=result, cause=cause)

    def _link_alarm(self, state: str) -> None:
        self._alarm(self.records.alarm(key=f"{self.site.gateway_id}/collector-link", device="", rule="collector-link",
                                       cls="fault", severity=2, active=state == "active", value=None,
                                       text="与监控中心通信中断"))
        if self.site.indicator is not None:
            device, point = self.site.indicator
            self.write(device, point, state == "active", cause="collector-link")

    # -- what commands may ask (edge.command_runner.CommandHost) ----------------------------------
    def knows_device(self, device: str) -> bool:
        return device in self._worker_of

    def acknowledge(self, key: str) -> None:
        self._apply(self.engine.acknowledge(key, self.clock.wall()))

    async def snapshot(self, key: str, camera: str, command: str) -> str:
        cameras = self.snapshots.cameras_for(key, camera)
        if not cameras:
            raise ValueError(f"no camera covers {key!r}" if not camera else f"{camera!r} is not a camera of this site")
        sizes = []
        for cam in cameras:
            try:
                sizes.append(await self.snapshots.take(cam, key, command))
            except SnapshotError as exc:
                raise ValueError(str(exc)) from None
        return f"{len(sizes)} picture(s), {sum(sizes)} bytes"

    async def logs(self, query: LogQuery, command: str) -> str:
        """The log lines a person asked for, gzip-compressed, in chunks behind the alarms (edge.log_file)."""
        lines, count, cut = await asyncio.to_thread(self.log_file.query, query.since, query.until, query.level,
                                                    query.text, query.max_bytes)
        packed = gzip.compress(lines or b"\n")
        self.outbox.append_many(self.records.attachment(packed, key="logs", device=self.site.gateway_id, channel=1,
                                                        ref=f"logs.{command}", media="application/gzip",
                                                        command=command))
        self._kick()
        return f"{count} lines, {len(packed)} bytes compressed" + (" (the newest of more)" if cut else "")

    async def configure(self, bundle: ConfigBundle, command: str) -> str:
        return await self.operations.configure(bundle, command)

    async def update(self, package: AgentPackage, command: str) -> str | None:
        return await self.operations.update(package, command)

    async def apply_config(self, site: SiteConfig, profiles: Mapping[str, Profile]) -> list[str]:
        """Run a new site file and profiles in place. The rule engine is swapped in one step (it carries the
        old one's state and values: an interlock that holds goes on holding, and one that fires meanwhile
        acts at once); then only the buses whose line, devices, profiles or cut inputs changed are stopped
        and started again, the others keep polling. Returns the restarted buses."""
        engine = RuleEngine(build_instances(site, profiles), site_groups(site))
        engine.carry(self.engine)
        cut = cut_inputs(engine.instances.values())
        changed = changed_buses(bus_fingerprints(self.site, self.profiles, self._cut),
                                bus_fingerprints(site, profiles, cut))
        gone = [i for i in self.engine.active() if i.key not in engine.instances]
        self.engine, self.interlocks.engine, self._cut = engine, engine, cut
        self.site, self.profiles = site, profiles
        self._profile_of.clear()
        self._profile_of.update({d.id: profiles[d.profile] for d in site.devices})
        self._versions = _versions(site, profiles.values())
        self.snapshots = Snapshots(site, profiles, self.outbox, self.records, bus_map=self._bus_map,
                                   spawn=self.spawn, stored=self._kick, log=self._log)
        for inst in gone:  # a rule the new set no longer has: its alarm ends with it
            self.interlocks.released(inst.key)
            self._unsaved.append(self.records.alarm(key=inst.key, device=inst.device, rule=inst.rule, cls=inst.cls,
                                                    severity=inst.severity, active=False, value=None,
                                                    text=f"{inst.text} (规则已随配置删除)"))
        self._save_alarms()
        self._device_problems.clear()
        for bus_id in changed:
            waiting = await self._remove_worker(bus_id)
            bus = next((b for b in site.buses if b.id == bus_id), None)
            worker = self._add_worker(bus) if bus is not None else None
            for request in waiting:  # an interlock's write queued on the old worker is not lost
                if worker is not None and request.device in self._worker_of:
                    self._worker_of[request.device].submit(request)
                else:
                    finish(request, "refused: the device left the configuration")
        self._log.info("configuration applied", buses_restarted=changed, rules=len(engine.instances),
                       devices=len(site.devices))
        self.rebirth()
        if self._tasks is not None:
            self._arm_rules_timer()
        return changed

    # -- what operations look at (edge.operations) -------------------------------------------------
    def unsettled(self, buses: list[str]) -> tuple[list[str], list[str]]:
        """Devices of these buses not yet identified and answering, and what their workers said is wrong
        with one since the last apply (unknown firmware, a point it refuses)."""
        waiting, devices = [], set()
        for bus_id in buses:
            devices |= {d.id for d in self.site.devices_on(bus_id)}
            worker = self.workers.get(bus_id)
            if isinstance(worker, ModbusBusWorker):
                waiting += [d for d, polled in worker.devices.items()
                            if not (polled.identified and polled.health.online)]
            elif worker is not None and not worker.health.online:
                waiting.append(worker.device.id)
        return waiting, [f"{d}: {why}" for d, why in self._device_problems.items() if d in devices]

    def healthy(self) -> bool:
        """Connected to the broker (when it has one) and every bus worker running."""
        return (self.uplink is None or self.uplink.link_ok) and all(not t.done() for t in self._bus_tasks.values())

    def rebirth(self) -> None:
        if self.uplink is not None:
            self.uplink.rebirth()

    def reload(self) -> None:
        self.reload_requested = True  # the command loop rebuilds the agent from the site file
        self.stopping.set()

    def command_state(self, command: str, state: CommandStep, reason: str) -> None:
        self.outbox.append(self.records.command_state(command, state, reason))
        self._kick()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None] | None:
        if self._tasks is None:
            coro.close()
            return None
        task = self._tasks.create_task(coro, name=name)
        self._pending_actions.add(task)
        task.add_done_callback(self._pending_actions.discard)
        return task

    # -- uplink callbacks --------------------------------------------------------------------------
    def _birth(self) -> Birth:
        """The full snapshot; the uplink numbers it (boot, seq, bdseq) as it sends it."""
        devices = []
        for dev in self.site.devices:
            worker = self._worker_of.get(dev.id)
            polled = worker.devices.get(dev.id) if isinstance(worker, ModbusBusWorker) else None
            profile = polled.profile if polled else self._profile_of[dev.id]
            devices.append(BirthDevice(
                id=dev.id, name=dev.name, profile=profile.id, configured_profile=dev.profile, kind=profile.kind,
                location=dev.location, bus=dev.bus, unit=dev.unit, groups=list(dev.groups),
                online=self._online(dev.id),
                values={k: v for k, v in self.engine.values.get(dev.id, {}).items() if k != OFFLINE}))
        place = Place(name=self.site.name, kind=self.site.kind, street=self.site.street, lat=self.site.lat,
                      lon=self.site.lon)
        stamp = self.records.stamp()
        return Birth(boot=UNASSIGNED, site=self.site.id, place=place, agent_version=AGENT_VERSION, devices=devices,
                     config_version=self._versions[0], profiles_version=self._versions[1],
                     heartbeat_s=self.uplink.heartbeat_s if self.uplink is not None else 30.0,
                     active_alarms=[i.key for i in self.engine.active()], t=stamp["t"], mono=stamp["mono"],
                     trusted=stamp["trusted"], clk=stamp["clk"])

    def _online(self, device: str) -> bool:
        worker = self._worker_of.get(device)
        if isinstance(worker, ModbusBusWorker):
            return worker.devices[device].health.online
        return worker.health.online if worker is not None else False

    def _health(self) -> Health:
        return msgspec.structs.replace(
            self.health.sample(), outbox=self.outbox.depth(), clock_trusted=self.clock.trusted(),
            buses={bus_id: w.counters.as_dict() for bus_id, w in self.workers.items()},
            devices_offline=[d.id for d in self.site.devices if not self._online(d.id)],
            downlink_refused=self.uplink.rejected_downlink if self.uplink is not None else 0)

    def _downlink_refused(self, kind: str, reason: str) -> None:
        """Someone sent this gateway an unsigned, forged, expired or replayed message: tell the collector."""
        self._event("", "downlink_refused", {"kind": kind, "reason": reason[:200]})


def _versions(site: SiteConfig, profiles: Iterable[Profile]) -> tuple[str, str]:
    """Digests of the site file and of the profile set the agent runs (every profile it loaded, also those a
    device's identity may turn out to need): what the fleet page compares."""
    def digest(paths: Iterable[str]) -> str:
        sha = hashlib.sha256()
        for path in sorted(set(paths)):
            with contextlib.suppress(OSError):
                sha.update(Path(path).read_bytes())
        return sha.hexdigest()[:12]
    return digest([site.file]), digest(p.file for p in profiles)


async def _watchdog(period: float) -> None:
    """systemd's watchdog: alive as long as the event loop turns."""
    while True:
        notify("WATCHDOG=1")
        await asyncio.sleep(period)
