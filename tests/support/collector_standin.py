"""The test's stand-in for the collector: an MQTT client (the real connector of devices.mqtt_transport) that
keeps what gateways send and acks it.

It publishes the retained collector state (online, with an offline will) and signs what it sends down with
the test run's collector key, as the collector does; it de-duplicates records by id,
keeps the order in which records arrived, and acknowledges only while `acking` is set, so a test can
check that the edge deletes nothing before the ack.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from devices.broker_url import BrokerConfig
from devices.contract import Batch, Birth, ContractError, decode_message, decode_record
from devices.errors import BrokerUnavailable
from devices.mqtt_transport import MqttConnector, Session, Will
from devices.protocol import COLLECTOR_STATE_TOPIC, decode, gateway_topic, parse_topic
from tests.support.keys import signer


@dataclass
class Received:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> record, first copy
    order: list[tuple[str, str]] = field(default_factory=list)  # (kind, id) in arrival order
    copies: int = 0
    births: list[dict[str, Any]] = field(default_factory=list)
    deaths: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)  # of every uplink message that carried one, as received

    def alarms(self, key: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.records.values() if r.get("type") == "alarm" and (key is None or r["key"] == key)]


class CollectorStandIn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.received = Received()
        self.acking = True
        self.changed = asyncio.Event()
        self._unacked: dict[tuple[str, str], list[str]] = {}
        self._client: Session | None = None
        self._ack_due = asyncio.Event()
        self.ready = asyncio.Event()  # subscribed and online: a gateway started now is heard from its birth
        self.errors: list[str] = []

    async def run(self) -> None:
        sign = signer()
        will = Will(COLLECTOR_STATE_TOPIC, sign.seal("state", "*", {"online": False}, ttl=86400), qos=1, retain=True)
        connector = MqttConnector(BrokerConfig.from_url(f"mqtt://127.0.0.1:{self.port}"), keepalive=5, timeout=5)
        while True:
            try:
                async with connector.connect("standin-collector", will) as client:
                    self._client = client
                    await client.publish(COLLECTOR_STATE_TOPIC, sign.seal("state", "*", {"online": True}, ttl=3600),
                                         qos=1, retain=True)
                    await client.subscribe("ff/v1/+/+/+", qos=1)
                    self.ready.set()
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._receive(client))
                        tg.create_task(self._acker(client))
            except* BrokerUnavailable:
                pass
            self._client = None
            await asyncio.sleep(0.2)

    async def _receive(self, client: Session) -> None:
        async for message in client.messages():
            try:
                self._handle(message.topic, message.payload)
            except (ValueError, KeyError, TypeError) as exc:
                self.errors.append(f"{message.topic}: {exc!r}")
            self._ack_due.set()

    async def _acker(self, client: Session) -> None:
        while True:
            await self._ack_due.wait()
            self._ack_due.clear()
            if self.acking:
                await self.flush_acks(client)

    def _handle(self, topic: str, payload: bytes) -> None:
        site, gateway, kind = parse_topic(topic)
        if kind in ("ack", "command"):
            return
        message = decode(payload)
        self._check_contract(kind, payload, message)
        r = self.received
        if isinstance(message.get("seq"), int):
            r.seqs.append(message["seq"])
        if kind == "birth":
            r.births.append(message)
        elif kind == "death":
            r.deaths.append(message)
        elif kind == "heartbeat":
            r.heartbeats.append(message)
        else:
            ids = []
            for record in message.get("records", []):
                r.copies += 1
                ids.append(record["id"])
                if record["id"] not in r.records:
                    r.records[record["id"]] = record
                    r.order.append((kind, record["id"]))
            self._unacked.setdefault((site, gateway), []).extend(ids)
        self.changed.set()

    def _check_contract(self, kind: str, payload: bytes, message: dict[str, Any]) -> None:
        """What the agent sends must pass the collector's checks, field by field (devices.contract)."""
        try:
            decoded = decode_message(kind, payload)
            if isinstance(decoded, Birth) and any(k.startswith("_") for d in decoded.devices for k in d.values):
                self.errors.append("a birth carries internal values (_offline): they are the agent's, not points")
            if isinstance(decoded, Batch):
                for raw in decoded.records:
                    decode_record(raw, kind)
        except ContractError as exc:
            self.errors.append(f"{kind} does not fit the contract: {exc}")

    async def flush_acks(self, client: Session) -> None:
        for (site, gateway), ids in list(self._unacked.items()):
            if ids:
                await client.publish(gateway_topic(site, gateway, "ack"), signer().seal("ack", gateway, {"ids": ids}),
                                     qos=1)
            self._unacked[(site, gateway)] = []

    async def send_command(self, site: str, gateway: str, command: dict[str, Any]) -> None:
        assert self._client is not None, "the stand-in is not connected"
        await self._client.publish(gateway_topic(site, gateway, "command"), signer().seal("command", gateway, command),
                                   qos=1)

    async def ack_pending(self) -> None:
        """Start acknowledging, and acknowledge everything received so far."""
        self.acking = True
        self._ack_due.set()

    async def wait_for(self, predicate: Any, timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate(self.received):
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self.changed.wait()


@contextlib.asynccontextmanager
async def running_standin(port: int) -> AsyncIterator[CollectorStandIn]:
    standin = CollectorStandIn(port)
    task = asyncio.get_running_loop().create_task(standin.run(), name="collector-standin")
    try:
        async with asyncio.timeout(15):
            await standin.ready.wait()  # else a gateway's birth could reach the broker before we listen
        yield standin
    finally:
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)  # not a bare await: a lost cancel would hang the run
        if not done:
            raise AssertionError(f"the collector stand-in did not stop within 10 s: {task.get_stack(limit=5)}")
        with contextlib.suppress(asyncio.CancelledError):
            task.result()
    assert standin.errors == [], f"what the gateway sent broke the contract: {standin.errors[:3]}"
