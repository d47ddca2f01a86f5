"""The agent's MQTT session with the collector (docs/protocol.md), over a `Connector` (devices.mqtt_transport;
unit tests pass devices.mqtt_fake's in-process broker).

On every connect: a will (death) carrying this connection's `bdseq`, then subscriptions (collector state,
acks, commands), then a birth with the full snapshot. While the collector's retained state says online,
the publisher drains the outbox in priority order (alarms, events, pictures, telemetry), records accepted before
this connection marked historical, each message numbered (`boot`, `seq`). A record stays in the outbox
until an ack names it; records not acked within `resend_after` seconds are sent again (the collector
de-duplicates by id). Reconnects back off with jitter, capped. Cancellation passes through untouched.

Everything that comes down (acks, commands, the collector's state) is believed only when the collector
signed it for this gateway (devices.downlink_auth), whatever the broker let through: anything unsigned,
forged, expired or replayed is refused, counted, logged once per episode and reported to the collector
as a `downlink_refused` event. The collector state also expires: a collector that stops renewing it
counts as offline, as its will would say.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import msgpack
import msgspec
import structlog

from devices.backoff import next_delay
from devices.contract import Ack, Batch, Birth, Command, ContractError, Death, Health, Heartbeat, as_ack, as_command
from devices.downlink_auth import DownlinkRefused, Verifier
from devices.episodes import Episodes
from devices.errors import BrokerUnavailable
from devices.mqtt_transport import Connector, Session, Will
from devices.protocol import COLLECTOR_STATE_TOPIC, LANE_TOPIC, LANES, encode, gateway_topic
from edge.inflight import Inflight
from edge.outbox import Outbox

__all__ = ["Uplink"]

log = structlog.get_logger("firefleet.edge.uplink")
BATCH = {"alarm": 50, "event": 100, "attachment": 2, "telemetry": 200}  # two picture chunks fill a message
MAX_INFLIGHT = 4000  # records sent and not yet acknowledged; past this, wait for acks


class Uplink:
    def __init__(self, connector: Connector, site: str, gateway: str, outbox: Outbox, *,
                 birth: Callable[[], Birth], health: Callable[[], Health],
                 on_command: Callable[[Command], None], verifier: Verifier,
                 on_refused: Callable[[str, str], None] = lambda kind, reason: None, heartbeat_s: float = 30.0,
                 resend_after: float = 10.0, reconnect_cap: float = 15.0, clock_trusted: Callable[[], bool] =
                 lambda: True, monotonic: Callable[[], float] = time.monotonic,
                 max_inflight: int = MAX_INFLIGHT) -> None:
        self.connector = connector
        self._monotonic = monotonic
        self.site, self.gateway = site, gateway
        self.outbox = outbox
        self._birth, self._health, self._on_command = birth, health, on_command
        self.verifier = verifier
        self._on_refused = on_refused
        self._clock_trusted = clock_trusted
        self.heartbeat_s = heartbeat_s
        self.resend_after = resend_after
        self.reconnect_cap = reconnect_cap
        self.boot = uuid.uuid4().hex[:12]
        self.bdseq = 0
        self.seq = 0
        self.connected = False
        self.collector_online = False
        self.connected_since = 0.0
        self.sent = 0
        self.rejected_downlink = 0
        self.inflight = Inflight(resend_after=resend_after, limit=max_inflight)
        self._more = asyncio.Event()
        self.link_changed = asyncio.Event()  # set whenever link_ok may have changed (see link_expires_in)
        self._rebirth_due = False
        self._stopped = False
        self._over: asyncio.Event | None = None
        self._episodes = Episodes(log.bind(site=site, gateway=gateway))

    @property
    def link_ok(self) -> bool:
        return self.connected and self.collector_live()

    def link_expires_in(self) -> float | None:
        """Seconds until the collector's signed state runs out unless renewed (None: no state, or no way to
        tell time yet): link_ok turns false then without any message arriving."""
        if not self.link_ok:
            return None
        now = self.verifier.now(time.time(), self._clock_trusted(), time.monotonic())
        return None if now is None else max(0.0, self.verifier.state_expires - now)

    def collector_live(self) -> bool:
        """The collector said it is online, and said so recently enough (its signed state has not expired)."""
        return self.collector_online and not self.verifier.state_expired(trusted=self._clock_trusted())

    def stop(self) -> None:
        """Leave the reconnect loop and end the session at the next turn (see ModbusBusWorker.stop)."""
        self._stopped = True
        if self._over is not None:
            self._over.set()
        self._more.set()

    def rebirth(self) -> None:
        """Publish a fresh birth (the collector saw a gap, or asked)."""
        self._rebirth_due = True
        self._more.set()

    def kick(self) -> None:
        """New records are in the outbox."""
        self._more.set()

    def topic(self, kind: str) -> str:
        return gateway_topic(self.site, self.gateway, kind)

    async def run(self) -> None:
        attempt = 0
        while not self._stopped:
            try:
                await self._session()
                attempt = 0
            except* BrokerUnavailable as group:  # raised bare by connect, grouped by the session's tasks
                attempt += 1
                self._episodes.problem("broker", "broker unreachable", reason=str(group.exceptions[0]))
            finally:
                self.connected = self.collector_online = False
                self.link_changed.set()
                self.inflight.clear()
            await asyncio.sleep(next_delay(attempt, base=0.5, cap=self.reconnect_cap))

    async def _session(self) -> None:
        # bdseq counts connections, not attempts: the will carries the next number, which becomes this
        # session's only once the broker has accepted the connection
        will = Will(self.topic("death"), encode(Death(boot=self.boot, bdseq=self.bdseq + 1)), qos=1)
        async with self.connector.connect(f"ff-{self.gateway}", will) as client:
            self.bdseq += 1
            self.connected = True
            self.link_changed.set()
            self.connected_since = time.time()
            self._episodes.resolved("broker", "broker connected", broker=self.connector.describe)
            for kind in ("ack", "command"):
                await client.subscribe(self.topic(kind), qos=1)
            await client.subscribe(COLLECTOR_STATE_TOPIC, qos=1)
            await self._publish(client, "birth", msgspec.structs.replace(self._birth(), bdseq=self.bdseq))
            # Python 3.11's asyncio.wait_for (inside the MQTT client's publish) can swallow a cancellation
            # that lands as a PUBACK arrives; so the senders also stop when the receiver ends, whatever
            # happened to their own cancellation.
            over = self._over = asyncio.Event()
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._receive(client, over), name="uplink-receive")
                    tg.create_task(self._drain(client, over), name="uplink-drain")
                    tg.create_task(self._heartbeats(client, over), name="uplink-heartbeat")
            except asyncio.CancelledError:
                # A clean disconnect does not fire the will: say goodbye ourselves (bounded wait).
                with contextlib.suppress(BrokerUnavailable, TimeoutError):
                    async with asyncio.timeout(2.0):
                        await client.publish(self.topic("death"), encode(Death(boot=self.boot, bdseq=self.bdseq)),
                                             qos=1)
                raise

    async def _publish(self, client: Session, kind: str, message: Birth | Heartbeat | Batch) -> None:
        self.seq += 1
        mine = self.seq
        try:
            await client.publish(self.topic(kind), encode(msgspec.structs.replace(message, boot=self.boot, seq=mine)),
                                 qos=1)
        except BaseException:
            if self.seq == mine:
                self.seq -= 1  # never sent: the next message takes its number, so no gap is seen
            raise

    async def _receive(self, client: Session, over: asyncio.Event) -> None:
        try:
            await self._receive_messages(client)
        finally:
            over.set()

    async def _receive_messages(self, client: Session) -> None:
        kinds = {COLLECTOR_STATE_TOPIC: "state", self.topic("ack"): "ack", self.topic("command"): "command"}
        async for message in client.messages():
            kind = kinds.get(message.topic)
            if kind is None:
                continue
            try:
                body = self.verifier.open(kind, message.payload, trusted=self._clock_trusted())
                typed = as_ack(body) if kind == "ack" else as_command(body) if kind == "command" else None
            except (DownlinkRefused, ContractError) as exc:
                self.rejected_downlink += 1
                if self._episodes.problem(f"downlink:{kind}", "downlink refused", kind=kind, reason=str(exc)):
                    self._on_refused(kind, str(exc))
                continue
            self._episodes.resolved(f"downlink:{kind}", "downlink accepted again", kind=kind)
            if kind == "state":
                online = body.get("online") is True
                if online != self.collector_online:
                    log.info("collector " + ("online" if online else "offline"), gateway=self.gateway)
                self.collector_online = online
                self.link_changed.set()  # a renewed state moves the expiry too
                self._more.set()
            elif isinstance(typed, Ack):
                self.outbox.ack(typed.ids)
                for record_id in typed.ids:
                    if record_id.startswith(self.outbox.outbox_id + ":"):
                        tail = record_id.rsplit(":", 1)[1]
                        if tail.isdigit():
                            self.inflight.acked(int(tail))
                self._more.set()
            elif isinstance(typed, Command):
                self._on_command(typed)  # runs in its own task: acks and state keep being read meanwhile

    async def _drain(self, client: Session, over: asyncio.Event) -> None:
        while not over.is_set():
            if self._rebirth_due:
                self._rebirth_due = False
                await self._publish(client, "birth", msgspec.structs.replace(self._birth(), bdseq=self.bdseq))
            if self.collector_live():
                self.inflight.expire(self._monotonic())
                sent_any = False
                room = self.inflight.room()
                for lane in LANES if room else ():
                    batch = self.outbox.next_batch(min(BATCH[lane], room), skip_rows=self.inflight.rows, lane=lane)
                    if not batch:
                        continue
                    records = [msgspec.Raw(_historical(r.body) if r.created < self.connected_since else r.body)
                               for r in batch]
                    await self._publish(client, LANE_TOPIC[lane], Batch(boot=self.boot, records=records))
                    self.inflight.sent((r.row for r in batch), self._monotonic())
                    self.sent += len(batch)
                    sent_any = True
                    break  # look again from the top: a new alarm goes before the next telemetry batch
                if sent_any:
                    continue
            self._more.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._more.wait()

    async def _heartbeats(self, client: Session, over: asyncio.Event) -> None:
        while not over.is_set():
            await self._publish(client, "heartbeat", Heartbeat(boot=self.boot, health=self._health()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_s):
                    await over.wait()


def _historical(body: bytes) -> bytes:
    """A stored record marked as accepted before this connection (replayed backlog, not live news)."""
    fields = msgpack.unpackb(body, raw=False)
    fields["historical"] = True
    return encode(fields)
