"""firefleet as the user information transmission device (用户信息传输装置) of every mapped site: one
GB/T 26875.3 session per site to the city's monitoring centre, from the collector (`--uitd FILE`).

Theory of operation. Each alarm change of a mapped device becomes the state word of its component (the OR
of every open alarm of that component: fire, fault, supervisory, shielded, with "normal operation" set)
and, when that word changed, a component-state frame (command 2, type 2) in the site's queue: fires first,
then the rest in the order they happened. A site's session sends one frame at a time and waits for the
centre's confirm (command 3, same serial); unconfirmed after 10 s it is sent again, three times; then the
site's "监控中心链路中断" fault is raised at the collector, the connection is dropped and made again, and
the frame goes first on the new one (nothing is given up). A deny (command 6) is recorded and the frame
dropped (sending the same bytes again would be denied again).

From the centre: a clock sync (type 90) sets the session's clock (every later time tag is on the centre's
time); a duty check (type 91) is confirmed and put on the duty consoles as a duty check (查岗) of our own,
and its answer by an officer is sent as the device's operation "查岗应答" (type 24, bit 5); reads of the
system state (61) and the device state (81) are answered (command 5); anything else, and any frame that
fails its checksum, length, command or version, is denied. Every frame in and out is recorded
(cloud.store.uitd) with what became of it. Only the leading collector holds the sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog

from cloud.event_hub import EventHub
from cloud.leadership import Leadership
from cloud.store import Store
from cloud.store.writer import Writer
from cloud.uitd_mapping import UitdMapping, UitdSite
from devices.backoff import next_delay
from devices.gb26875 import (
    CMD_ANSWER,
    CMD_CONFIRM,
    CMD_CONTROL,
    CMD_DENY,
    CMD_REQUEST,
    CMD_SEND,
    DEVICE_CENTRE_LINK_FAULT,
    DEVICE_NORMAL,
    OP_DUTY_ANSWER,
    STATE_FAULT,
    STATE_FIRE,
    STATE_NORMAL,
    STATE_SHIELDED,
    STATE_SUPERVISORY,
    AppUnit,
    BadFrame,
    ClockSync,
    ComponentState,
    DeviceOperation,
    DeviceState,
    DutyCheck,
    Frame,
    Framer,
    Gb26875Error,
    ReadRequest,
    SystemState,
    decode_app,
    encode_app,
    encode_frame,
)

__all__ = ["RESEND_AFTER_S", "RETRIES", "SiteSession", "Transfers", "run_uitd", "state_word"]

log = structlog.get_logger("firefleet.cloud.uitd")
RESEND_AFTER_S: Final = 10.0
RETRIES: Final = 3
STATE_EVERY_S: Final = 300.0  # the device's own state, sent on connect and this often
BIT_OF_CLASS: Final = {"fire": STATE_FIRE, "fault": STATE_FAULT, "supervisory": STATE_SUPERVISORY}


def state_word(alarms: list[dict[str, Any]], now: float) -> int:
    """A component's state word from its open alarms: normal operation, and a bit per active class."""
    word = STATE_NORMAL
    for alarm in alarms:
        if alarm["condition"] == "active":
            word |= BIT_OF_CLASS.get(alarm["class"], 0)
        if max(alarm.get("shelved_until") or 0, 0) > now:
            word |= STATE_SHIELDED
    return word


@dataclass
class Pending:
    serial: int
    wire: bytes
    frame_id: int
    sent_at: float
    tries: int = 1
    fire: bool = False


class Transfers:
    """The frame sent and not yet confirmed. Pure: times are passed in."""

    def __init__(self, resend_after: float = RESEND_AFTER_S, retries: int = RETRIES) -> None:
        self.resend_after, self.retries = resend_after, retries
        self.pending: Pending | None = None

    def sent(self, serial: int, wire: bytes, frame_id: int, now: float, fire: bool = False) -> None:
        self.pending = Pending(serial, wire, frame_id, now, fire=fire)

    def answered(self, serial: int) -> Pending | None:
        if self.pending is not None and self.pending.serial == serial:
            done, self.pending = self.pending, None
            return done
        return None

    def due(self, now: float) -> tuple[Pending | None, Pending | None]:
        """(to send again, given up): a frame unconfirmed `resend_after` after its last send goes again, up
        to `retries` times; unconfirmed after the last of them it is given up (the link is lost)."""
        p = self.pending
        if p is None or now - p.sent_at < self.resend_after:
            return None, None
        if p.tries > self.retries:
            self.pending = None
            return None, p
        p.tries += 1
        p.sent_at = now
        return p, None


Record = Callable[[Callable[[Store], Any]], Awaitable[Any]]


@dataclass(order=True)
class _Queued:
    rank: int
    seq: int
    data: bytes = field(compare=False)
    kind: int = field(compare=False)
    detail: str = field(compare=False)


class SiteSession:
    """One site's session with the centre (its own TCP connection), run by `run()` until cancelled."""

    def __init__(self, mapping: UitdMapping, site: UitdSite, record: Record, hub: EventHub,
                 monotonic: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.mapping, self.site = mapping, site
        self.record = record
        self.hub = hub
        self.monotonic, self.wall = monotonic, wall
        self.offset = 0.0  # the centre's clock minus ours, from its last clock sync
        self.transfers = Transfers()
        self._queue: list[_Queued] = []
        self._seq = itertools.count()
        self._serial = 0
        self._wake = asyncio.Event()
        self.link_lost = False
        self.connected = False
        self.duty_checks: dict[int, int] = {}  # our duty check id -> the centre's serial it answers
        self._again: list[Pending] = []  # sent, not confirmed, displaced or cut off: they go again first
        self._state_sent = 0.0

    # -- what goes out ------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The time tags' time: ours, moved by the centre's clock syncs (whole seconds, local time)."""
        return datetime.fromtimestamp(int(self.wall() + self.offset))

    def enqueue(self, unit: bytes, kind: int, detail: str, fire: bool = False) -> None:
        heapq.heappush(self._queue, _Queued(0 if fire else 1, next(self._seq), unit, kind, detail))
        self._wake.set()

    def component_state(self, state: ComponentState, detail: str) -> None:
        self.enqueue(encode_app([state]), 2, detail, fire=bool(state.state & STATE_FIRE))

    def _device_state(self) -> None:
        """The transmission device's own state (type 21): normal, and whether the centre's link failed."""
        state = DEVICE_NORMAL | (DEVICE_CENTRE_LINK_FAULT if self.link_lost else 0)
        self.enqueue(encode_app([DeviceState(state, self.now())]), 21,
                     "传输装置运行状态" + (" 通信信道故障" if self.link_lost else " 正常"))
        self._state_sent = self.monotonic()

    def _next_serial(self) -> int:
        self._serial = (self._serial + 1) & 0xFFFF
        return self._serial

    def _frame(self, command: int, data: bytes = b"", serial: int | None = None) -> Frame:
        return Frame(self._next_serial() if serial is None else serial, command, self.site.address,
                     self.mapping.centre, self.now(), data, (1, self.mapping.user_version))

    # -- the session --------------------------------------------------------------------------------
    async def run(self) -> None:
        attempt = 0
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.mapping.host, self.mapping.port)
            except OSError as exc:
                attempt += 1
                await self._lost(f"cannot reach the centre: {exc.strerror or exc}")
                await asyncio.sleep(next_delay(attempt, base=1.0, cap=30.0))
                continue
            attempt = 0
            self.connected = True
            log.info("centre session open", site=self.site.site, centre=f"{self.mapping.host}:{self.mapping.port}")
            self._device_state()  # who we are and how we are, first on every connection
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._read(reader, writer))
                    tg.create_task(self._send(writer))
            except* (ConnectionError, OSError, _Reconnect) as group:
                log.warning("centre session closed", site=self.site.site, reason=str(group.exceptions[0]))
            except* Exception as group:  # a store hiccup, a bug: this site's session starts again, nothing else stops
                log.error("centre session failed", site=self.site.site,
                          error=f"{type(group.exceptions[0]).__name__}: {group.exceptions[0]}")
            finally:
                self.connected = False
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                if self.transfers.pending is not None:  # unconfirmed: first on the next connection
                    self._again.insert(0, self.transfers.pending)
                    self.transfers.pending = None
            await asyncio.sleep(next_delay(1, base=1.0, cap=5.0))

    async def _send(self, writer: asyncio.StreamWriter) -> None:
        while True:
            pending = self.transfers.pending
            if pending is not None and not pending.fire and self._queue and self._queue[0].rank == 0:
                self._again.insert(0, pending)  # a fire goes now; the frame it displaced goes again after it
                self.transfers.pending = None
            if self.transfers.pending is None and self._queue and self._queue[0].rank == 0:
                await self._send_new(writer)
            elif self.transfers.pending is None and self._again:
                again = self._again[0]  # the same frame, serial and all; off the list once recorded
                await self.record(_frame_state(again.frame_id, "sent again"))
                self._again.pop(0)
                self.transfers.sent(again.serial, again.wire, again.frame_id, self.monotonic(), again.fire)
                writer.write(again.wire)
                await writer.drain()
            elif self.transfers.pending is None and self._queue:
                await self._send_new(writer)
            resend, given_up = self.transfers.due(self.monotonic())
            if resend is not None:
                writer.write(resend.wire)
                await writer.drain()
                await self.record(_frame_state(resend.frame_id, f"retried {resend.tries - 1}"))
                log.info("frame sent again", site=self.site.site, serial=resend.serial, tries=resend.tries)
            if given_up is not None:
                await self.record(_frame_state(given_up.frame_id, "unconfirmed", f"no confirm after {RETRIES} retries"))
                self.transfers.pending = given_up  # kept: it goes again on the next connection
                await self._lost(f"no confirm from the centre after {RETRIES} retries {RESEND_AFTER_S:.0f} s apart")
                raise _Reconnect("the centre confirms nothing")
            if self.monotonic() - self._state_sent >= STATE_EVERY_S:
                self._device_state()  # also the link's heartbeat: a silent centre is noticed within minutes
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    await self._wake.wait()

    async def _send_new(self, writer: asyncio.StreamWriter) -> None:
        """The first queued frame: taken off the queue only once it is recorded, and pending before it is
        written, so neither a store hiccup nor a broken connection loses it (it goes again, first)."""
        item = self._queue[0]
        frame = self._frame(CMD_SEND, item.data)
        wire = encode_frame(frame)
        frame_id = await self.record(_frame_out(self.site.site, frame.serial, CMD_SEND, item.kind, item.detail, wire))
        heapq.heappop(self._queue)
        self.transfers.sent(frame.serial, wire, frame_id, self.monotonic(), fire=item.rank == 0)
        writer.write(wire)
        await writer.drain()

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = Framer()
        while data := await reader.read(4096):
            framer.feed(data)
            while (got := framer.next()) is not None:
                if isinstance(got, BadFrame):
                    await self._deny(writer, got.serial, got.reason, got.raw)
                else:
                    await self._take(writer, got)
        raise ConnectionError("the centre closed the connection")

    async def _take(self, writer: asyncio.StreamWriter, frame: Frame) -> None:
        site = self.site.site
        if frame.command in (CMD_CONFIRM, CMD_DENY):
            done = self.transfers.answered(frame.serial)
            state = "confirmed" if frame.command == CMD_CONFIRM else "denied"
            if done is not None:
                await self.record(lambda s: s.uitd_frame_state(done.frame_id, state))
                self._wake.set()
                if self.link_lost and frame.command == CMD_CONFIRM:
                    await self._restored()
            await self.record(lambda s: s.uitd_frame(site, "in", frame.serial, frame.command, None, "received", "",
                                                     encode_frame(frame)))
            return
        try:
            unit = decode_app(frame.data) if frame.data else None
        except Gb26875Error as exc:
            await self._deny(writer, frame.serial, str(exc), encode_frame(frame))
            return
        await self.record(lambda s: s.uitd_frame(site, "in", frame.serial, frame.command, unit.type if unit else None,
                                                 "received", _describe(unit), encode_frame(frame)))
        if frame.command == CMD_CONTROL and unit is not None and isinstance(unit.objects[0], ClockSync):
            self.offset = unit.objects[0].time.timestamp() - self.wall()
            log.info("clock set by the centre", site=site, offset_s=round(self.offset, 1))
            await self._reply(writer, CMD_CONFIRM, frame.serial)
        elif frame.command == CMD_CONTROL and unit is not None and isinstance(unit.objects[0], DutyCheck):
            await self._reply(writer, CMD_CONFIRM, frame.serial)
            minutes = unit.objects[0].minutes or 10
            check = await self.record(lambda s: s.send_duty_check("监控中心 / monitoring centre", minutes * 60.0))
            self.duty_checks[int(check["id"])] = frame.serial
            self.hub.publish({"type": "duty_check", "check": check})
        elif frame.command == CMD_REQUEST and unit is not None and isinstance(unit.objects[0], ReadRequest):
            answer = await self._read_answer(unit.type)
            if answer is None:
                await self._deny(writer, frame.serial, f"read {unit.type} is not answered here", b"")
            else:
                await self._reply(writer, CMD_ANSWER, frame.serial, answer)
        else:
            await self._deny(writer, frame.serial, f"command {frame.command} is not taken from the centre", b"")

    async def _read_answer(self, kind: int) -> bytes | None:
        now = self.now()
        if kind == 61:
            word = await self.record(lambda s: state_word(
                [a for a in s.alarms(sites={self.site.site}) if a.get("device")], time.time()))
            return encode_app([SystemState(self.site.system_type, self.site.system_address, word, now)])
        if kind == 81:
            return encode_app([DeviceState(DEVICE_NORMAL | (DEVICE_CENTRE_LINK_FAULT if self.link_lost else 0), now)])
        return None

    async def answered_duty_check(self, check_id: int, operator: int = 1) -> None:
        """An officer answered the centre's duty check at the console: tell the centre (查岗应答)."""
        if self.duty_checks.pop(check_id, None) is not None:
            self.enqueue(encode_app([DeviceOperation(OP_DUTY_ANSWER, operator, self.now())]), 24, "查岗应答")

    async def _reply(self, writer: asyncio.StreamWriter, command: int, serial: int, data: bytes = b"") -> None:
        wire = encode_frame(self._frame(command, data, serial))
        writer.write(wire)
        await writer.drain()
        kind = data[0] if data else None
        await self.record(lambda s: s.uitd_frame(self.site.site, "out", serial, command, kind, "sent", "", wire))

    async def _deny(self, writer: asyncio.StreamWriter, serial: int | None, reason: str, raw: bytes) -> None:
        log.warning("frame from the centre denied", site=self.site.site, reason=reason)
        await self.record(lambda s: s.uitd_frame(self.site.site, "in", serial or 0, 0, None, "denied", reason, raw))
        if serial is not None:
            wire = encode_frame(self._frame(CMD_DENY, b"", serial))
            writer.write(wire)
            await writer.drain()
            await self.record(lambda s: s.uitd_frame(self.site.site, "out", serial, CMD_DENY, None, "sent", reason,
                                                     wire))

    async def _lost(self, reason: str) -> None:
        if self.link_lost:
            return
        self.link_lost = True
        log.error("monitoring centre link lost", site=self.site.site, reason=reason)
        alarm = await self.record(lambda s: _alarm_after(s, s.centre_link(self.site.site, True, reason)))
        if alarm is not None:
            self.hub.publish({"type": "alarm", "alarm": alarm})

    async def _restored(self) -> None:
        self.link_lost = False
        log.info("monitoring centre link restored", site=self.site.site)
        alarm = await self.record(lambda s: _alarm_after(s, s.centre_link(self.site.site, False,
                                                                          "the centre confirms again")))
        if alarm is not None:
            self.hub.publish({"type": "alarm", "alarm": alarm})


class _Reconnect(Exception):
    pass


def _frame_out(site: str, serial: int, command: int, kind: int | None, detail: str, wire: bytes
               ) -> Callable[[Store], int]:
    return lambda store: store.uitd_frame(site, "out", serial, command, kind, "sent", detail, wire)


def _frame_state(frame_id: int, state: str, detail: str = "") -> Callable[[Store], None]:
    return lambda store: store.uitd_frame_state(frame_id, state, detail)


def _alarm_after(store: Store, alarm_id: int | None) -> dict[str, Any] | None:
    return store.alarm(alarm_id) if alarm_id is not None else None


def _words(word: int) -> str:
    """A state word in the standard's own terms (8.2.1.2)."""
    said = [text for bit, text in ((STATE_FIRE, "火警"), (STATE_FAULT, "故障"), (STATE_SUPERVISORY, "监管"),
                                   (STATE_SHIELDED, "屏蔽")) if word & bit]
    return " ".join(said) or "正常"


def _describe(unit: AppUnit | None) -> str:
    if unit is None:
        return ""
    first = unit.objects[0]
    if isinstance(first, ClockSync):
        return f"校时 {first.time.isoformat(sep=' ')}"
    if isinstance(first, DutyCheck):
        return f"查岗, {first.minutes} 分钟内应答"
    return f"类型 {unit.type}"


# -- the service ------------------------------------------------------------------------------------
async def run_uitd(jobs: Writer, hub: EventHub, mapping: UitdMapping, lead: Leadership,
                   sessions_out: dict[str, SiteSession] | None = None) -> None:
    """On the leader: a session per mapped site, fed by the alarm changes the hub announces."""
    sessions = {site: SiteSession(mapping, mapped, jobs, hub) for site, mapped in mapping.sites.items()}
    if sessions_out is not None:
        sessions_out.update(sessions)
    last: dict[tuple[str, str, int], int] = {}  # (site, device, address) -> the state word sent
    while not lead.held:
        await asyncio.sleep(1.0)
    async with asyncio.TaskGroup() as tg:
        for session in sessions.values():
            tg.create_task(_kept(session), name=f"uitd:{session.site.site}")
        async with hub.subscribe() as changes:
            for alarm in await jobs(lambda s: s.alarms()):  # what stands now, once
                await _follow(jobs, mapping, sessions, last, alarm)
            while True:
                event = await changes.get()
                if event is None:
                    break
                try:
                    if event.get("type") == "alarm" and event.get("alarm"):
                        await _follow(jobs, mapping, sessions, last, event["alarm"])
                    elif event.get("type") == "duty_check" and (event.get("check") or {}).get("answered_at"):
                        for session in sessions.values():
                            await session.answered_duty_check(int(event["check"]["id"]))
                except Exception as exc:  # one change not forwarded is logged; the next ones still go
                    log.error("alarm change not forwarded", error=f"{type(exc).__name__}: {exc}")


async def _kept(session: SiteSession, pause: float = 5.0) -> None:
    """A site's session, started again after anything but a cancel: one site's trouble stops no other."""
    while True:
        try:
            await session.run()
        except Exception as exc:
            log.error("centre session failed", site=session.site.site, error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(pause)


async def _follow(jobs: Writer, mapping: UitdMapping, sessions: dict[str, SiteSession],
                  last: dict[tuple[str, str, int], int], alarm: dict[str, Any]) -> None:
    site = alarm.get("site", "")
    session = sessions.get(site)
    if session is None or not alarm.get("device"):
        return

    def look(store: Store) -> tuple[Any, int, str] | None:
        device = store.device(site, alarm["device"]) or {}
        found = mapping.component_of(site, alarm, str(device.get("kind") or ""))
        if found is None:
            return None
        comp, _, address = found
        same = [a for a in store.alarms(sites={site}) if a.get("device") == alarm["device"]
                and mapping.component_of(site, a, str(device.get("kind") or "")) == found]
        name = comp.name or str(device.get("name") or alarm["device"])
        if comp.ports:
            name += f" {address & 0xFFFF}号端口"
        return found, state_word(same, time.time()), name

    seen = await jobs(look)
    if seen is None:
        return
    (comp, ctype, address), word, name = seen
    mark = (site, comp.device, address)
    if last.get(mark, STATE_NORMAL) == word and mark in last:
        return
    last[mark] = word
    state = ComponentState(session.site.system_type, session.site.system_address, ctype, address, word, name,
                           session.now())
    session.component_state(state, f"{name} {_words(word)} ({word:#06x})")
    log.info("component state queued", site=site, key=alarm["key"], state=f"{word:#06x}")

