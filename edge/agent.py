"""The edge agent: one task group that owns every long-lived task of a site's gateway.

    bus workers (one per bus) --values--> rule engine --transitions--> outbox (alarms, events)
          ^                                   |                            |
          +------ writes (interlocks) --------+                  uplink (when a broker is configured)
    telemetry: report-on-change (deadband) readings, buffered up to a second, then one transaction

Rules and interlocks run whether or not any network is up; the uplink only reads the outbox. Alarms and
events are committed before anything else happens with them; telemetry waits in memory for at most one
second (a kill -9 loses at most that second of readings, never an alarm).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import structlog

from devices.broker_url import BrokerConfig
from devices.contract import Alarm, Birth, BirthDevice, CommandStep, Health, Place, Reading
from devices.downlink_auth import TrustedKeys, Verifier
from devices.errors import SiteConfigError
from devices.mqtt_transport import Connector, MqttConnector
from devices.profile import LineEvent, Profile
from devices.site_config import SiteConfig
from edge.bus_worker import ModbusBusWorker, WriteRequest
from edge.clock import Clock
from edge.health import ProcessHealth
from edge.modbus_link import ModbusLink
from edge.outbox import Outbox
from edge.polled_device import PolledDevice, candidates_for
from edge.records import UNASSIGNED, RecordMaker
from edge.rules import OFFLINE, RuleEngine, RuleInstance, Transition, build_instances, site_groups
from edge.serial_link import SerialLink
from edge.serial_worker import SerialWorker
from edge.state_store import StateStore
from edge.uplink import Uplink
from edge.watchdog import notify, watchdog_period

__all__ = ["EdgeAgent"]

log = structlog.get_logger("firefleet.edge")
AGENT_VERSION = "0.1.0"
TELEMETRY_FLUSH_S = 1.0
LINK_FAULT_AFTER_S = 20.0  # collector unreachable this long -> local fault (target <= 30 s)
COMMANDS_REMEMBERED_S = 86400.0  # a command id run within a day is never run again (signed ones expire sooner)


class EdgeAgent:
    def __init__(self, site: SiteConfig, profiles: Mapping[str, Profile], data_dir: Path, *,
                 broker: BrokerConfig | Connector | None = None, bus_map: Mapping[str, Mapping[str, Any]] | None = None,
                 clock: Clock | None = None, heartbeat_s: float = 30.0, reconnect_cap: float = 15.0,
                 link_fault_after: float = LINK_FAULT_AFTER_S,
                 collector_keys: TrustedKeys | None = None) -> None:
        self.site = site
        self.profiles = profiles
        self.clock = clock or Clock()
        self.data_dir = data_dir
        self.outbox = Outbox(data_dir / "outbox.sqlite")
        self.state = StateStore(data_dir / "state.sqlite")
        self.engine = RuleEngine(build_instances(site, profiles), site_groups(site))
        self.engine.restore(self.state.get("rules", {}))
        self.health = ProcessHealth(data_dir)
        self.workers: dict[str, ModbusBusWorker | SerialWorker] = {}
        self._worker_of: dict[str, ModbusBusWorker | SerialWorker] = {}
        self.records = RecordMaker(site.id, self.clock)
        self._telemetry: list[Reading] = []
        self._reported: dict[str, dict[str, Any]] = {}
        self._profile_of = {d.id: profiles[d.profile] for d in site.devices}  # for deadbands, per poll
        self._pending_actions: set[asyncio.Task[None]] = set()
        self._link_lost_since: float | None = None
        self._link_fault = False
        self.link_fault_after = link_fault_after
        self.stopping = asyncio.Event()
        self.reload_requested = False
        self.alarms_recorded = 0  # alarm records committed to the outbox since start
        self._build_workers(bus_map or {})
        self._tasks: asyncio.TaskGroup | None = None
        self._writing: set[tuple[str, str]] = set()  # (device, point) with a write queued or in flight
        self._overridden: dict[str, set[tuple[str, str]]] = {}  # interlock key -> points a person overrode
        self._commands_done: dict[str, float] = dict(self.state.get("commands_done", {}))  # id -> when
        if broker is not None and not collector_keys:
            raise SiteConfigError("an agent with a broker needs the collector's public key (--collector-key): "
                                  "it believes no command, ack or collector state that key did not sign",
                                  field="--collector-key")
        verifier = Verifier(collector_keys or {}, site.gateway_id)
        connector = MqttConnector(broker) if isinstance(broker, BrokerConfig) else broker
        self.uplink = Uplink(connector, site.id, site.gateway_id, self.outbox, birth=self._birth, health=self._health,
                             on_command=self._command, verifier=verifier, on_refused=self._downlink_refused,
                             heartbeat_s=heartbeat_s, reconnect_cap=reconnect_cap,
                             clock_trusted=self.clock.trusted) if connector else None
        self._log = log.bind(site=site.id, gateway=site.gateway_id)

    # -- construction ------------------------------------------------------------------------------
    def _build_workers(self, bus_map: Mapping[str, Mapping[str, Any]]) -> None:
        for bus in self.site.buses:
            where = bus_map.get(bus.id, {})
            on_bus = self.site.devices_on(bus.id)
            if not on_bus:
                continue
            worker: ModbusBusWorker | SerialWorker
            if bus.type == "serial":
                dev = on_bus[0]
                link = SerialLink(where.get("path", bus.port), bus.baud, bus.parity, bus.stop_bits)
                worker = SerialWorker(bus, dev, self.profiles[dev.profile], link, self)
            else:
                if bus.type == "modbus_tcp":
                    modbus = ModbusLink.tcp(where.get("host", bus.host), int(where.get("port", bus.tcp_port)))
                else:
                    modbus = ModbusLink.rtu(where.get("path", bus.port), bus.baud, bus.parity, bus.stop_bits)
                devices = [PolledDevice(d, self.profiles[d.profile], candidates_for(self.profiles[d.profile],
                                                                                   self.profiles)) for d in on_bus]
                worker = ModbusBusWorker(bus, devices, modbus, self)
            self.workers[bus.id] = worker
            for dev in on_bus:
                self._worker_of[dev.id] = worker

    # -- running -----------------------------------------------------------------------------------
    async def run(self) -> None:
        """Run until `stopping` is set; then flush telemetry and close the stores."""
        self._log.info("edge agent starting", devices=len(self.site.devices), buses=len(self.workers),
                       rules=len(self.engine.instances), uplink=bool(self.uplink))
        try:
            async with asyncio.TaskGroup() as tg:
                self._tasks = tg
                tasks = [tg.create_task(w.run(), name=f"bus:{bus_id}") for bus_id, w in self.workers.items()]
                tasks.append(tg.create_task(self._housekeeping(), name="housekeeping"))
                if self.uplink is not None:
                    tasks.append(tg.create_task(self.uplink.run(), name="uplink"))
                notify("READY=1")
                await self.stopping.wait()
                notify("STOPPING=1")
                for worker in self.workers.values():
                    worker.stop()
                if self.uplink is not None:
                    self.uplink.stop()
                for task in (*tasks, *self._pending_actions):
                    task.cancel()
                self._tasks = None
        finally:
            self._flush_telemetry()
            self.state.put("rules", self.engine.snapshot())
            self.outbox.close()
            self.state.close()
            self._log.info("edge agent stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)

    async def _housekeeping(self) -> None:
        period = watchdog_period()
        last_dog = 0.0
        while not self.stopping.is_set():
            await asyncio.sleep(0.25)
            now = self.clock.wall()
            self._apply(self.engine.tick(now))
            self._flush_telemetry()
            self._supervise_link()
            if period is not None and time.monotonic() - last_dog >= period:
                notify("WATCHDOG=1")
                last_dog = time.monotonic()

    # -- sink: what the bus workers report ---------------------------------------------------------
    def on_values(self, device: str, values: dict[str, Any]) -> None:
        self._apply(self.engine.update(device, values, self.clock.wall()))
        self._reassert(device, values)
        changed = self._report_on_change(device, values)
        if changed:
            self._telemetry.append(self.records.reading(device, changed))
            if len(self._telemetry) >= 5000:
                self._flush_telemetry()

    def on_health(self, device: str, online: bool, reason: str) -> None:
        self._event(device, "device_online" if online else "device_offline", {"reason": reason})
        if not online:
            self._reported.pop(device, None)  # report every value afresh when it returns
        self._apply(self.engine.set_offline(device, not online, self.clock.wall()))

    def on_event(self, device: str, kind: str, details: dict[str, Any]) -> None:
        self._event(device, kind, details)

    def on_line_event(self, device: str, event: LineEvent, fields: dict[str, Any]) -> None:
        """A fire panel's printed event: an alarm in its own right, keyed by loop, zone and address."""
        where = f"L{fields.get('loop', 0)}-Z{fields.get('zone', 0)}-A{fields.get('address', 0)}"
        key = f"{device}/{where}/{event.cls}"
        self._alarm(self.records.alarm(key=key, device=device, rule=f"panel-{event.cls}", cls=event.cls,
                                       severity=1 if event.cls == "fire" else 3, active=event.condition == "active",
                                       value=fields, text=str(fields.get("text", ""))))

    # -- records -----------------------------------------------------------------------------------
    def _report_on_change(self, device: str, values: Mapping[str, Any]) -> dict[str, Any]:
        last = self._reported.setdefault(device, {})
        profile = self._profile_of[device]
        changed = {}
        for name, value in values.items():
            old = last.get(name, _MISSING)
            if old is not _MISSING and _within_deadband(profile, name, old, value):
                continue
            last[name] = value
            changed[name] = value
        return changed

    def _flush_telemetry(self) -> None:
        if self._telemetry:
            batch, self._telemetry = self._telemetry, []
            self.outbox.append_many(batch)
            self._kick()

    def _alarm(self, alarm: Alarm) -> None:
        self.alarms_recorded += 1
        self.outbox.append(alarm)
        self._log.info("alarm " + alarm.state, key=alarm.key, cls=alarm.cls)
        self._kick()

    def _event(self, device: str, kind: str, details: Mapping[str, Any]) -> None:
        self.outbox.append(self.records.event(device, kind, details))
        self._kick()

    def _kick(self) -> None:
        if self.uplink is not None:
            self.uplink.kick()

    # -- rules -> alarms and actions ---------------------------------------------------------------
    def _apply(self, transitions: list[Transition]) -> None:
        if not transitions:
            return
        for tr in transitions:
            inst = tr.instance
            self._alarm(self.records.alarm(key=inst.key, device=inst.device, rule=inst.rule, cls=inst.cls,
                                           severity=inst.severity, active=tr.kind == "raise", value=tr.value,
                                           text=inst.text))
            if tr.kind == "raise":
                for action in inst.actions:
                    self.write(action.device, action.point, action.value, cause=inst.key)
            else:
                self._overridden.pop(inst.key, None)  # an override lasts while its interlock holds
        self.state.put("rules", self.engine.snapshot())

    def write(self, device: str, point: str, value: Any, *, cause: str) -> asyncio.Future[str]:
        """Queue a write on the device's bus; its outcome becomes an `action` event."""
        worker = self._worker_of[device]
        request = WriteRequest(device, point, value)
        worker.submit(request)
        self._writing.add((device, point))
        request.done.add_done_callback(lambda fut: self._action_done(device, point, value, cause, fut))
        return request.done

    # -- interlocks outrank people -----------------------------------------------------------------
    def _holding(self, device: str, point: str, value: Any) -> RuleInstance | None:
        """The active rule whose action wants this point otherwise (latched ones too: reset them first)."""
        for inst in self.engine.acting():
            for action in inst.actions:
                if (action.device, action.point) == (device, point) and action.value != value:
                    return inst
        return None

    def _reassert(self, device: str, values: Mapping[str, Any]) -> None:
        """An interlock whose condition holds puts its action back after any write that undid it (a person
        at the box, a forged or mistaken command): within one poll of the point, unless overridden."""
        for inst in self.engine.acting():
            for action in inst.actions:
                if action.device != device or action.point not in values or values[action.point] == action.value:
                    continue
                if (device, action.point) in self._writing or (device, action.point) in self._overridden.get(
                        inst.key, set()):
                    continue
                self._log.warning("interlock re-asserted", key=inst.key, device=device, point=action.point)
                self.write(device, action.point, action.value, cause=f"{inst.key}:re-asserted")

    def _action_done(self, device: str, point: str, value: Any, cause: str, fut: asyncio.Future[str]) -> None:
        self._writing.discard((device, point))
        if fut.cancelled():
            return
        result = fut.result()
        self._event(device, "action", {"point": point, "value": value, "cause": cause, "result": result})
        if result not in ("verified", "sent"):
            self._log.warning("action failed", device=device, point=point, result=result, cause=cause)

    # -- link supervision --------------------------------------------------------------------------
    def _supervise_link(self) -> None:
        if self.uplink is None:
            return
        now = time.monotonic()
        if self.uplink.link_ok:
            self._link_lost_since = None
            if self._link_fault:
                self._link_fault = False
                self._link_alarm("cleared")
            return
        if self._link_lost_since is None:
            self._link_lost_since = now
        elif not self._link_fault and now - self._link_lost_since >= self.link_fault_after:
            self._link_fault = True
            self._link_alarm("active")

    def _link_alarm(self, state: str) -> None:
        self._alarm(self.records.alarm(key=f"{self.site.gateway_id}/collector-link", device="", rule="collector-link",
                                       cls="fault", severity=2, active=state == "active", value=None,
                                       text="与监控中心通信中断"))
        if self.site.indicator is not None:
            device, point = self.site.indicator
            self.write(device, point, state == "active", cause="collector-link")

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

    def _command(self, command: dict[str, Any]) -> None:
        """A signed command from the collector: run in its own task (the MQTT receive loop goes on reading
        acks and state meanwhile), once per command id, even across restarts."""
        cid = command.get("id")
        if not isinstance(cid, str) or not cid or len(cid) > 120:
            return
        if cid in self._commands_done:
            self._log.info("command already run", command=cid)
            return
        now = self.clock.wall()
        self._commands_done = {k: t for k, t in self._commands_done.items() if now - t < COMMANDS_REMEMBERED_S}
        self._commands_done[cid] = now
        self.state.put("commands_done", self._commands_done)
        if self._tasks is None:
            self._command_state(cid, "failed", "the agent is stopping")
            return
        task = self._tasks.create_task(self._run_command(cid, command), name=f"command:{cid}")
        self._pending_actions.add(task)
        task.add_done_callback(self._pending_actions.discard)

    async def _run_command(self, cid: str, command: dict[str, Any]) -> None:
        """Durable requests from the collector: executing, then successful or failed with a reason."""
        self._command_state(cid, "executing", "")
        action = command.get("action")
        try:
            if action == "write":
                device, point = str(command.get("device")), str(command.get("point"))
                if device not in self._worker_of:
                    raise ValueError(f"unknown device {device!r}")
                self._interlock_permits(cid, device, point, command)
                async with asyncio.timeout(30):  # not wait_for: on 3.11 it can swallow a cancellation
                    result = await asyncio.shield(self.write(device, point, command.get("value"),
                                                             cause=f"command:{cid}"))
                if result not in ("verified", "sent"):
                    raise ValueError(result)
            elif action == "acknowledge":
                key = str(command.get("key"))
                self._apply(self.engine.acknowledge(key, self.clock.wall()))
            elif action == "rebirth":
                if self.uplink is not None:
                    self.uplink.rebirth()
            elif action == "reload_config":
                self.reload_requested = True  # the command loop rebuilds the agent from the site file
                self.stopping.set()
            else:
                raise ValueError(f"unknown action {action!r}")
        except (ValueError, TimeoutError) as exc:
            self._command_state(cid, "failed", str(exc) or "timed out")
            return
        self._command_state(cid, "successful", "")

    def _interlock_permits(self, cid: str, device: str, point: str, command: Mapping[str, Any]) -> None:
        """A person's write never undoes an interlock that holds, unless the command carries an explicit
        override with a reason (audited at the collector, and here as an event)."""
        holding = self._holding(device, point, command.get("value"))
        if holding is None:
            return
        override = command.get("override")
        reason = override.get("reason") if isinstance(override, dict) else None
        if not isinstance(reason, str) or not reason.strip():
            value = self.engine.values.get(holding.device, {}).get(holding.when.point) if holding.when else None
            raise ValueError(f"refused: interlock {holding.key} holds"
                             f"{f' ({holding.when.point} = {value})' if value is not None and holding.when else ''}"
                             "; reset it on site first, or override with a reason")
        self._overridden.setdefault(holding.key, set()).add((device, point))
        self._event(device, "interlock_override", {"key": holding.key, "point": point, "command": cid,
                                                   "reason": reason[:200]})
        self._log.warning("interlock overridden", key=holding.key, device=device, point=point, reason=reason)

    def _downlink_refused(self, kind: str, reason: str) -> None:
        """Someone sent this gateway an unsigned, forged, expired or replayed message: tell the collector."""
        self._event("", "downlink_refused", {"kind": kind, "reason": reason[:200]})

    def _command_state(self, cid: str, state: CommandStep, reason: str) -> None:
        self.outbox.append(self.records.command_state(cid, state, reason))
        self._kick()


_MISSING = object()


def _within_deadband(profile: Profile, name: str, old: Any, new: Any) -> bool:
    if old == new:
        return True
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(new, bool):
        try:
            deadband = profile.point(name).deadband
        except KeyError:
            return False
        return abs(new - old) < deadband
    return False
