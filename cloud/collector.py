"""The one module of the collector that imports aiomqtt: consume gateways' messages, store, acknowledge.

Theory of operation. The collector announces itself with a retained `ff/v1/collector/state` online and a
will that sets it offline. It consumes through a shared subscription (`$share/ff-collectors/...`) so that
several collectors split the gateways between them; `shared=False` subscribes plainly for a broker
without shared subscriptions. Each message is checked (cloud.ingest), stored in one transaction
(cloud.store), and only then acknowledged to its gateway: a collector killed between the two simply
acknowledges again when the gateway resends, and the store skips ids it already has.

Per gateway it follows `boot` and `seq`: a gap, or a boot it has no birth for, gets a `rebirth` command;
a death is believed only when it carries the bdseq of the gateway's current birth.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import structlog

from cloud.ingest import Ingest
from cloud.store import Store
from devices.broker_url import BrokerConfig
from devices.protocol import COLLECTOR_STATE_TOPIC, encode, gateway_topic

__all__ = ["Collector"]

log = structlog.get_logger("firefleet.cloud.collector")
SHARE_GROUP = "ff-collectors"


@dataclass
class _GatewaySession:
    boot: str = ""
    bdseq: int = -1
    seq: int = 0
    rebirth_requested: bool = False


@dataclass
class Collector:
    broker: BrokerConfig
    store: Store
    ingest: Ingest
    shared: bool = True
    on_alarm_change: Callable[[list[int]], None] = lambda alarms: None
    on_health_change: Callable[[dict[str, Any]], None] = lambda change: None
    sessions: dict[str, _GatewaySession] = field(default_factory=dict)
    gaps: int = 0
    failures: int = 0  # messages whose handling raised: logged, not acknowledged (the gateway resends)
    connected: bool = False
    client: aiomqtt.Client | None = None

    async def send_command(self, site: str, gateway: str, command: dict[str, Any]) -> None:
        """Publish a command to a gateway (its durable record is the store's `commands` row)."""
        if self.client is None:
            raise ConnectionError("the collector is not connected to the broker")
        await self.client.publish(gateway_topic(site, gateway, "command"), encode(command), qos=1)

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
                attempt = 0
            except* aiomqtt.MqttError as group:
                attempt += 1
                log.warning("broker unreachable", reason=str(group.exceptions[0]))
            finally:
                self.connected = False
                self.client = None
            await asyncio.sleep(min(10.0, 0.5 * 2 ** min(attempt, 5)))

    async def _session(self) -> None:
        will = aiomqtt.Will(COLLECTOR_STATE_TOPIC, encode({"online": False}), qos=1, retain=True)
        tls = ssl.create_default_context(cafile=self.broker.ca_file) if self.broker.tls else None
        async with aiomqtt.Client(self.broker.host, self.broker.port, username=self.broker.username,
                                  password=self.broker.password, identifier=f"ff-collector-{uuid.uuid4().hex[:8]}",
                                  will=will, keepalive=15, timeout=10, tls_context=tls) as client:
            client.pending_calls_threshold = 1000
            topic = "ff/v1/+/+/+"
            await client.subscribe(f"$share/{SHARE_GROUP}/{topic}" if self.shared else topic, qos=1)
            await client.publish(COLLECTOR_STATE_TOPIC, encode({"online": True}), qos=1, retain=True)
            self.connected = True
            self.client = client
            log.info("collector online", host=self.broker.host, port=self.broker.port, shared=self.shared)
            try:
                async for message in client.messages:
                    payload = message.payload if isinstance(message.payload, (bytes, bytearray)) else b""
                    try:
                        await self._handle(client, str(message.topic), bytes(payload))
                    except (aiomqtt.MqttError, asyncio.CancelledError):
                        raise
                    except Exception as exc:  # one message must not stop the collector
                        # Nothing was acknowledged for it: the gateway sends its records again.
                        self.failures += 1
                        log.error("message not handled", topic=str(message.topic), error=f"{type(exc).__name__}: {exc}")
            except asyncio.CancelledError:
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await client.publish(COLLECTOR_STATE_TOPIC, encode({"online": False}), qos=1, retain=True)
                raise

    async def _handle(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        verdict = self.ingest.check(topic, payload)
        if not verdict.ok:
            if verdict.refused.split(":", 1)[0] != "downlink topic":
                log.warning("message refused", topic=topic, reason=verdict.refused)
            return
        site, gateway, kind, message = verdict.site, verdict.gateway, verdict.kind, verdict.message
        session = self.sessions.setdefault(gateway, _GatewaySession())
        if kind == "birth":
            self.store.save_birth(site, gateway, message)
            self.on_health_change({"gateway": gateway, "site": site, "online": True})
            self.sessions[gateway] = _GatewaySession(boot=message["boot"], bdseq=int(message.get("bdseq", 0)),
                                                     seq=int(message.get("seq", 0)))
            return
        if kind == "death":
            if message.get("boot") == session.boot and message.get("bdseq") == session.bdseq:
                self.store.gateway_seen(gateway, online=False)
                log.info("gateway offline", gateway=gateway, site=site)
                self.on_health_change({"gateway": gateway, "site": site, "online": False})
            return  # a stale death: the gateway has already come back
        await self._follow_sequence(client, site, gateway, session, message)
        if kind == "heartbeat":
            health = message.get("health")
            self.store.gateway_heartbeat(site, gateway, session.seq, health if isinstance(health, dict) else {})
            return
        ids, new = self.store.store_records(site, gateway, message["records"])
        await client.publish(gateway_topic(site, gateway, "ack"), encode({"ids": ids}), qos=1)
        if new and self.store.touched:
            self.on_alarm_change(list(self.store.touched))

    async def _follow_sequence(self, client: aiomqtt.Client, site: str, gateway: str, session: _GatewaySession,
                               message: dict[str, Any]) -> None:
        boot, seq = message["boot"], int(message.get("seq", 0))
        if boot == session.boot and seq <= session.seq + 1:
            session.seq = max(session.seq, seq)
            return
        if boot == session.boot:
            self.gaps += 1
            log.info("sequence gap", gateway=gateway, expected=session.seq + 1, got=seq)
        session.seq = seq
        if not session.rebirth_requested or boot != session.boot:
            session.rebirth_requested = True
            command = {"id": f"rebirth-{uuid.uuid4().hex[:8]}", "action": "rebirth"}
            await client.publish(gateway_topic(site, gateway, "command"), encode(command), qos=1)
