"""The collector's MQTT side: consume gateways' messages, store, acknowledge. It talks to the broker through
a `Connector` (devices.mqtt_transport; unit tests pass devices.mqtt_fake's in-process broker).

Theory of operation. The collector announces itself with a retained `ff/v1/collector/state` online and a
will that sets it offline. It consumes through a shared subscription (`$share/ff-collectors/...`) so that
several collectors split the gateways between them; `shared=False` subscribes plainly for a broker
without shared subscriptions. Alarms come in on a second connection with a worker of their own (fire
first); each connection's incoming queue is bounded (cloud.main): a message beyond it is dropped unread,
hence never acknowledged, and its gateway sends it again (docs/operations.md, back-pressure).
Each message is checked (cloud.ingest), stored in one transaction
(cloud.store, on the writer thread of cloud.store.writer, so the loop reads on meanwhile), and only then
acknowledged to its gateway: a collector killed between the two simply
acknowledges again when the gateway resends, and the store skips ids it already has.

Per gateway it follows `boot` and `seq`: a gap, or a boot it has no birth for, gets a `rebirth` command;
a death is believed only when it carries the bdseq of the gateway's current birth.

Everything it sends down is sealed with the collector's signing key (devices.downlink_auth): acks and
commands for one gateway, its state for all. Gateways believe nothing else. The online state is signed
with a short expiry and renewed every STATE_RENEW_S, so a collector that hangs without its will firing
still counts as offline at the gateways within STATE_TTL_S; the will (offline) is signed at connect with
a long expiry, and an older state never replaces a newer one at a gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
import structlog

from cloud.gateway_session import HOLE_S, GatewaySession
from cloud.ingest import Ingest, Reject, Verdict
from cloud.store import Store
from cloud.store.writer import InlineWriter, Writer
from devices.backoff import next_delay
from devices.contract import Ack, Birth, Command, ContractError, Death, Heartbeat, as_command
from devices.downlink_auth import BROADCAST, Signer
from devices.episodes import Episodes
from devices.errors import BrokerUnavailable
from devices.mqtt_transport import Connector, Session, Will
from devices.protocol import COLLECTOR_STATE_TOPIC, UPLINK_KINDS, gateway_topic

__all__ = ["Collector"]

T = TypeVar("T")

log = structlog.get_logger("firefleet.cloud.collector")
SHARE_GROUP = "ff-collectors"
STATE_RENEW_S = 30.0
TELEMETRY_IN_FLIGHT = 32  # telemetry messages handled at once: checked while those before are committed together
STATE_TTL_S = 100.0  # GB 26875.1 / EN 54-21: no answer from the centre for 100 s -> a fault on site
WILL_TTL_S = 30 * 86400.0


@dataclass
class Collector:
    connector: Connector
    store: Store
    ingest: Ingest
    signer: Signer
    shared: bool = True
    reconnect_cap: float = 10.0
    hole_s: float = HOLE_S  # a missing seq is a gap after this long (the lanes may deliver out of order)
    write: Writer | None = None  # the store's writer thread (cloud.store.writer); None: `store`, inline
    on_alarm_change: Callable[[list[int]], None] = lambda alarms: None
    on_health_change: Callable[[dict[str, Any]], None] = lambda change: None
    on_site_change: Callable[[str], None] = lambda site: None  # a device went on/offline, faulty or well
    sessions: dict[str, GatewaySession] = field(default_factory=dict)
    gaps: int = 0
    failures: int = 0  # messages whose handling raised: logged, not acknowledged (the gateway resends)
    connected: bool = False
    client: Session | None = None
    sessions_open: list[Session] = field(default_factory=list)  # both connections, while connected
    _episodes: Episodes = field(default_factory=lambda: Episodes(log))

    def __post_init__(self) -> None:
        if self.write is None:
            self.write = InlineWriter(self.store)

    async def _write(self, write: Callable[[Store], Any], *, urgent: bool = False) -> Any:
        assert self.write is not None
        return await self.write(write, urgent=urgent)

    async def send_command(self, site: str, gateway: str, command: Command, ttl: float = 300.0) -> None:
        """Publish a signed command to a gateway (its durable record is the store's `commands` row)."""
        if self.client is None:
            raise ConnectionError("the collector is not connected to the broker")
        try:
            await self.client.publish(gateway_topic(site, gateway, "command"),
                                      self.signer.seal("command", gateway, msgspec.to_builtins(command), ttl=ttl),
                                      qos=1)
        except BrokerUnavailable as exc:
            raise ConnectionError(f"the broker connection failed: {exc}") from None

    def backlog(self) -> int:
        """Messages the broker delivered that this collector has not taken up yet."""
        return sum(session.backlog() for session in self.sessions_open)

    def _state(self, online: bool) -> bytes:
        return self.signer.seal("state", BROADCAST, {"online": online}, ttl=STATE_TTL_S if online else WILL_TTL_S)

    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
                attempt = 0
            except* BrokerUnavailable as group:
                attempt += 1
                log.warning("broker unreachable", reason=str(group.exceptions[0]))
            finally:
                self.connected = False
                self.client = None
                self.sessions_open = []
            await asyncio.sleep(next_delay(attempt, base=0.5, cap=self.reconnect_cap))  # the one policy, jittered

    async def _session(self) -> None:
        will = Will(COLLECTOR_STATE_TOPIC, self._state(False), qos=1, retain=True)
        name = f"ff-collector-{uuid.uuid4().hex[:8]}"
        async with (self.connector.connect(name, will) as client,
                    self.connector.connect(f"{name}-fire") as fire):
            # Fire first: alarms on a connection and a worker of their own, so a backlog of telemetry (in
            # the broker, in the client's queue, in the store) never stands between a fire and the screen.
            await fire.subscribe(self._filter("alarms"), qos=1)
            for kind in UPLINK_KINDS:
                if kind != "alarms":
                    await client.subscribe(self._filter(kind), qos=1)
            await client.publish(COLLECTOR_STATE_TOPIC, self._state(True), qos=1, retain=True)
            self.connected = True
            self.client = client
            self.sessions_open = [fire, client]
            log.info("collector online", broker=self.connector.describe, shared=self.shared)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._renew_state(client), name="collector-state")
                    tg.create_task(self._consume(fire, in_flight=1), name="collector-alarms")
                    tg.create_task(self._consume(client, in_flight=TELEMETRY_IN_FLIGHT), name="collector-telemetry")
            except asyncio.CancelledError:
                with contextlib.suppress(BrokerUnavailable, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await client.publish(COLLECTOR_STATE_TOPIC, self._state(False), qos=1, retain=True)
                raise

    def _filter(self, kind: str) -> str:
        topic = f"ff/v1/+/+/{kind}"
        return f"$share/{SHARE_GROUP}/{topic}" if self.shared else topic

    async def _renew_state(self, client: Session) -> None:
        while True:
            await asyncio.sleep(STATE_RENEW_S)
            await client.publish(COLLECTOR_STATE_TOPIC, self._state(True), qos=1, retain=True)

    async def _consume(self, client: Session, in_flight: int) -> None:
        """Handle messages in the order they came, up to `in_flight` at once: the next one is checked on the
        loop while the one before is written on the writer thread."""
        slots = asyncio.Semaphore(in_flight)
        async with asyncio.TaskGroup() as tg:
            async for message in client.messages():
                await slots.acquire()
                tg.create_task(self._handle_one(client, message.topic, message.payload, slots))

    async def _handle_one(self, client: Session, topic: str, payload: bytes, slot: asyncio.Semaphore) -> None:
        try:
            await self._handle(client, topic, payload)
        except (BrokerUnavailable, asyncio.CancelledError):
            raise
        except Exception as exc:  # one message must not stop the collector
            # Nothing was acknowledged for it: the gateway sends its records again.
            self.failures += 1
            log.error("message not handled", topic=topic, error=f"{type(exc).__name__}: {exc}")
        finally:
            slot.release()

    async def _handle(self, client: Session, topic: str, payload: bytes) -> None:
        verdict = self.ingest.check(topic, payload)
        if not verdict.ok:
            await self._refused(topic, payload, verdict)
            return
        site, gateway, message = verdict.site, verdict.gateway, verdict.message
        session = self.sessions.setdefault(gateway, GatewaySession())
        if isinstance(message, Birth):
            # followed from now: the messages after it may be handled while it is being written
            self.sessions[gateway] = GatewaySession(boot=message.boot, bdseq=message.bdseq, seq=message.seq)
            try:
                _, touched = await self._write(_touched_by(lambda s: s.save_birth(site, gateway, message)))
            except BaseException:
                self.sessions[gateway] = GatewaySession()  # not stored: its next message asks for a rebirth
                raise
            if touched:
                self.on_alarm_change(touched)  # its communication fault cleared
            self.on_health_change({"gateway": gateway, "site": site, "online": True})
            await self._resend_pending(client, site, gateway)
            return
        if isinstance(message, Death):
            if session.believes_death(message.boot, message.bdseq):
                log.info("gateway offline", gateway=gateway, site=site)
                alarm = await self._write(lambda s: s.gateway_lost(site, gateway, "death: the broker lost the gateway"))
                self.on_health_change({"gateway": gateway, "site": site, "online": False})
                if alarm is not None:
                    self.on_alarm_change([alarm])
            return  # a stale death: the gateway has already come back
        assert message is not None
        await self._follow_sequence(client, site, gateway, session, message.boot, message.seq)
        if isinstance(message, Heartbeat):
            health, seq = msgspec.to_builtins(message.health), session.seq
            came_back, touched = await self._write(
                _touched_by(lambda s: s.gateway_heartbeat(site, gateway, seq, health)))
            if came_back:
                self.on_health_change({"gateway": gateway, "site": site, "online": True})
                self.on_alarm_change(touched)
                await self._ask_rebirth(client, site, gateway)  # its devices' states are stale: ask afresh
            return
        records = verdict.records

        def store(s: Store) -> tuple[list[str], int, list[int], bool]:
            s.touched = []
            ids, new = s.store_records(site, gateway, records)
            return ids, new, list(s.touched), s.site_changed

        ids, new, touched, site_changed = await self._write(store, urgent=verdict.kind == "alarms")
        if verdict.rejects:
            await self._rejected(topic, verdict)
            ids += [r.record_id for r in verdict.rejects if r.record_id is not None]
        ack = msgspec.to_builtins(Ack(ids=ids))
        await client.publish(gateway_topic(site, gateway, "ack"), self.signer.seal("ack", gateway, ack), qos=1)
        if new and touched:
            self.on_alarm_change(touched)
        if site_changed:
            self.on_site_change(site)

    async def _refused(self, topic: str, payload: bytes, verdict: Verdict) -> None:
        """A whole message refused: counted by Ingest; logged once per gateway and reason; from a known
        gateway also kept (it may be the only trace of a broken or hostile agent)."""
        reason = verdict.refused.split(":", 1)[0]
        if reason == "downlink topic":
            return
        episode = f"{verdict.gateway}:{reason}" if verdict.known_gateway else reason  # bounded: names are free
        self._episodes.problem(episode, "message refused", topic=topic, reason=verdict.refused)
        if verdict.known_gateway:
            rejects = [Reject(None, payload, verdict.refused)]
            alarm = await self._write(lambda s: s.quarantine(verdict.site, verdict.gateway, topic, rejects))
            if alarm is not None:
                self.on_alarm_change([alarm])

    async def _rejected(self, topic: str, verdict: Verdict) -> None:
        self._episodes.problem(f"{verdict.gateway}:record", "records refused", topic=topic,
                               count=len(verdict.rejects), reason=verdict.rejects[0].reason)
        alarm = await self._write(lambda s: s.quarantine(verdict.site, verdict.gateway, topic, verdict.rejects))
        if alarm is not None:
            self.on_alarm_change([alarm])

    async def _follow_sequence(self, client: Session, site: str, gateway: str, session: GatewaySession,
                               boot: str, seq: int) -> None:
        if boot != session.boot and boot != session.asked_for:
            known = await self._write(lambda s: s.gateway(gateway))
            if known is not None and known.get("boot") == boot and known.get("online"):
                session.adopt(boot, int(known.get("bdseq") or -1), seq)  # born through another collector
        expected = session.seq + 1
        step = session.follow(boot, seq, time.monotonic(), self.hole_s)
        if step.gap:
            self.gaps += 1
            log.info("sequence gap", gateway=gateway, expected=expected, got=seq)
        if step.ask_rebirth:
            await self._ask_rebirth(client, site, gateway)

    async def _resend_pending(self, client: Session, site: str, gateway: str) -> None:
        """Gateways connect with a clean session: a command sent while it was away is sent again now, if it
        has not expired (the agent runs each command id once, so a copy it already had does nothing)."""
        now = time.time()
        for stored, expires in await self._write(lambda s: s.pending_commands(gateway, now)):
            try:
                command = as_command(stored)
            except ContractError as exc:  # written by an older collector: say so once, never send it unchecked
                log.error("stored command not sent", gateway=gateway, command=stored.get("id"), reason=str(exc))
                continue
            await client.publish(gateway_topic(site, gateway, "command"),
                                 self.signer.seal("command", gateway, msgspec.to_builtins(command), ttl=expires - now),
                                 qos=1)
            log.info("command sent again", gateway=gateway, command=command.id)

    async def _ask_rebirth(self, client: Session, site: str, gateway: str) -> None:
        command = Command(id=f"rebirth-{uuid.uuid4().hex[:8]}", action="rebirth")
        await client.publish(gateway_topic(site, gateway, "command"),
                             self.signer.seal("command", gateway, msgspec.to_builtins(command)), qos=1)


def _touched_by(write: Callable[[Store], T]) -> Callable[[Store], tuple[T, list[int]]]:
    """A write that also returns the alarms it opened or changed (`store.touched`), read in the same call:
    the store is the writer's, shared by both lanes."""
    def run(store: Store) -> tuple[T, list[int]]:
        store.touched = []
        result = write(store)
        return result, list(store.touched)
    return run
