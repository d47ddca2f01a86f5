"""Lightweight simulated gateways, for a district-scale demo on one machine.

Each gateway speaks the edge agent's MQTT contract (docs/protocol.md): a birth with its place and
devices, heartbeats, telemetry, events and alarm records with ids, resent until the collector acks them;
a command is answered (rebirth works; anything else fails with the reason that there are no devices
behind it). There are no devices, rules or outbox: values drift a little, a few detectors are offline,
a few cabinet doors open now and then. Many gateways share one MQTT connection (the embedded demo broker
cannot hold thousands), so a lightweight gateway has no death of its own: its connection's will is
nobody's. The broker is reached through devices.mqtt_transport.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from devices.backoff import next_delay
from devices.broker_url import BrokerConfig
from devices.contract import (
    Alarm,
    Batch,
    Birth,
    BirthDevice,
    CommandState,
    Event,
    Health,
    Heartbeat,
    Place,
    Reading,
    Record,
)
from devices.downlink_auth import DownlinkRefused, TrustedKeys, Verifier
from devices.errors import BrokerUnavailable
from devices.mqtt_transport import Connector, MqttConnector, Session
from devices.protocol import ProtocolError, encode, gateway_topic, parse_topic

__all__ = ["LightGateway", "run_fleet"]

RESEND_AFTER_S = 30.0


@dataclass
class LightGateway:
    site: str
    gateway: str
    place: Place
    devices: list[dict[str, Any]]
    verifier: Verifier
    boot: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    seq: int = 0
    counter: int = 0
    unacked: dict[str, tuple[str, Record, float]] = field(default_factory=dict)  # id -> (kind, record, sent)
    refused: int = 0  # downlink messages not signed by the collector
    heartbeat_s: float = 60.0

    def message(self, message: Birth | Heartbeat | Batch) -> bytes:
        self.seq += 1
        return encode(msgspec.structs.replace(message, boot=self.boot, seq=self.seq))

    def birth(self) -> bytes:
        devices = [BirthDevice(id=d["id"], name=d["name"], kind=d["kind"], profile=d["profile"],
                               configured_profile=d["profile"], online=d.get("online", True), values=d["values"])
                   for d in self.devices]
        return self.message(Birth(boot=self.boot, site=self.site, place=self.place, agent_version="light",
                                  heartbeat_s=self.heartbeat_s, devices=devices, t=time.time(), trusted=True))

    def batch(self, *records: Record) -> bytes:
        return self.message(Batch(boot=self.boot, records=[msgspec.Raw(encode(r)) for r in records]))

    def stamp(self) -> dict[str, Any]:
        """A new record's id and times."""
        self.counter += 1
        return {"id": f"{self.gateway}-{self.boot}-{self.counter}", "site": self.site, "t": time.time(),
                "mono": time.monotonic(), "trusted": True}

    def record(self, kind: str, record: Record) -> tuple[str, Record]:
        self.unacked[record.id] = (kind, record, time.monotonic())
        return kind, record


async def run_fleet(plan_file: Path, broker: BrokerConfig, keys: TrustedKeys, *, per_connection: int = 100,
                    seed: int = 7, report_every: float = 60.0, stop: asyncio.Event | None = None) -> int:
    """Run the plan's gateways until `stop`; each sends a heartbeat and a reading every `report_every` s."""
    plan = json.loads(plan_file.read_text())
    gateways = [LightGateway(s["id"], s["gateway"], Place(s["name"], s["kind"], s["street"], s["lat"], s["lon"]),
                             s["devices"], Verifier(keys, s["gateway"]), heartbeat_s=report_every) for s in plan]
    stop = stop or asyncio.Event()
    connector = MqttConnector(broker, keepalive=30, timeout=20, pending_calls_threshold=10_000)
    print(f"{len(gateways)} lightweight gateways over {-(-len(gateways) // per_connection)} MQTT connections",
          flush=True)
    async with asyncio.TaskGroup() as tg:
        for start in range(0, len(gateways), per_connection):
            tg.create_task(_connection(gateways[start:start + per_connection], connector, random.Random(seed + start),
                                       stop, report_every, name=f"fleet-{start // per_connection}"))
        await stop.wait()
    return 0


async def _connection(group: list[LightGateway], connector: Connector, rng: random.Random, stop: asyncio.Event,
                      report_every: float, *, name: str) -> None:
    by_gateway = {g.gateway: g for g in group}
    attempt = 0
    while not stop.is_set():
        try:
            async with connector.connect(f"ff-{name}") as client:
                attempt = 0
                for g in group:
                    await client.subscribe(gateway_topic(g.site, g.gateway, "ack"), qos=1)
                    await client.subscribe(gateway_topic(g.site, g.gateway, "command"), qos=1)
                async with asyncio.TaskGroup() as tg:
                    life = tg.create_task(_life(group, client, rng, stop, report_every), name=f"{name}-life")
                    down = tg.create_task(_downlink(by_gateway, client), name=f"{name}-downlink")
                    await stop.wait()
                    life.cancel()
                    down.cancel()
        except* (BrokerUnavailable, OSError):
            attempt += 1
            await asyncio.sleep(next_delay(attempt, base=2.0, cap=15.0, rng=rng))  # the broker is restarting


async def _life(group: list[LightGateway], client: Session, rng: random.Random, stop: asyncio.Event,
                report_every: float) -> None:
    """Births spread over half a minute (at most), then a tenth of the group reports every tenth of `report_every`."""
    for g in group:
        await client.publish(gateway_topic(g.site, g.gateway, "birth"), g.birth(), qos=1)
        for dev in g.devices:
            if not dev.get("online", True):
                await _send(client, g, *g.record("events", Event(device=dev["id"], kind="device_offline",
                                                                 **g.stamp())))
        await asyncio.sleep(min(30.0, report_every) / max(1, len(group)))
    turn = 0
    while not stop.is_set():
        await asyncio.sleep(report_every / 10)
        turn += 1
        for g in group[turn % 10::10]:
            health = Health(outbox=len(g.unacked), light=True, downlink_refused=g.refused)
            await client.publish(gateway_topic(g.site, g.gateway, "heartbeat"),
                                 g.message(Heartbeat(boot=g.boot, health=health)), qos=1)
            readings = [g.record("telemetry", Reading(device=dev["id"], values=_drift(dev["values"], rng),
                                                      **g.stamp()))[1]
                        for dev in g.devices if dev.get("online", True)]
            if readings:  # one batch per report, as an agent's outbox sends them
                await client.publish(gateway_topic(g.site, g.gateway, "telemetry"), g.batch(*readings), qos=1)
            if g.place.kind == "fire_cabinets" and rng.random() < 0.002:
                await _door(client, g, rng)
            for rid, (kind, rec, sent) in list(g.unacked.items()):
                if time.monotonic() - sent > RESEND_AFTER_S:
                    g.unacked[rid] = (kind, rec, time.monotonic())
                    await client.publish(gateway_topic(g.site, g.gateway, kind), g.batch(rec), qos=1)


async def _door(client: Session, g: LightGateway, rng: random.Random) -> None:
    values = g.devices[0]["values"]
    values["door_open"] = not values["door_open"]
    await _send(client, g, *g.record("alarms", Alarm(
        key="fc1/door_open", device="fc1", rule="door_open", cls="supervisory", severity=4,
        state="active" if values["door_open"] else "cleared", text="柜门打开", value=values["door_open"],
        **g.stamp())))


async def _downlink(by_gateway: dict[str, LightGateway], client: Session) -> None:
    async for message in client.messages():
        try:
            _, gateway, kind = parse_topic(message.topic)
        except ProtocolError:
            continue
        g = by_gateway.get(gateway)
        if g is None:
            continue
        try:
            body = g.verifier.open(kind, message.payload)
        except DownlinkRefused:
            g.refused += 1
            continue
        if kind == "ack":
            for rid in body.get("ids", []):
                g.unacked.pop(rid, None)
        elif kind == "command" and isinstance(body.get("id"), str):
            ok = body.get("action") == "rebirth"
            if ok:
                await client.publish(gateway_topic(g.site, g.gateway, "birth"), g.birth(), qos=1)
            reason = "" if ok else "a lightweight simulated gateway has no devices to act on"
            await _send(client, g, *g.record("events", CommandState(
                command=body["id"], state="successful" if ok else "failed", reason=reason, **g.stamp())))


async def _send(client: Session, g: LightGateway, kind: str, rec: Record) -> None:
    await client.publish(gateway_topic(g.site, g.gateway, kind), g.batch(rec), qos=1)


def _drift(values: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A reading: the temperatures and pressures that moved a little; when none did, one value anyway, so
    the collector does not mark the device stale."""
    changed = {}
    for key, value in values.items():
        if isinstance(value, float) and ("temperature" in key or "pressure" in key) and rng.random() < 0.3:
            values[key] = changed[key] = round(value + rng.uniform(-0.02, 0.02) * max(1.0, abs(value)), 2)
    return changed or {k: v for k, v in list(values.items())[:1]}

