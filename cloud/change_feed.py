"""Several collectors, one district: what one collector changes, every collector's screens show.

On PostgreSQL each change is announced with NOTIFY (an alarm by its id, a gateway's health as is) and
every collector LISTENs on a connection of its own, loading an announced alarm from the shared store
before its clients see it; its own announcements it skips. Announcing never blocks the event loop: the
changes wait in a list and go out on an async connection of their own, all that are waiting in one
round trip (a city's gateways coming back after a broker restart are thousands of changes a second).
On SQLite there is one collector and nothing to pass on. A collector that lost its LISTEN connection
reconnects, and its clients are told to reload (an event of type `resync`), since announcements made
meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from devices.backoff import next_delay
from devices.episodes import Episodes

__all__ = ["CHANNEL", "ChangeFeed"]

CHANNEL = "firefleet_changes"
_MAX_PAYLOAD = 7900  # NOTIFY's limit is 8000 bytes

log = structlog.get_logger("firefleet.cloud.feed")


class ChangeFeed:
    def __init__(self, url: str | None, load_alarm: Callable[[int], Awaitable[Any]]) -> None:
        """`url`: the shared PostgreSQL store (None: a single collector); `load_alarm(id)` reads an alarm
        from the store (off the event loop)."""
        self.url = url
        self.origin = uuid.uuid4().hex[:12]
        self._load_alarm = load_alarm
        self.outgoing: list[str] = []  # announcements not sent yet
        self._wake = asyncio.Event()
        self.received = 0
        self.refused = 0
        self.lost = 0  # announcements a broken connection took with it
        self._episodes = Episodes(log)

    def alarm_note(self, alarm_id: int) -> str:
        """The announcement of a changed alarm, for a NOTIFY sent inside the transaction that changed it
        (PostgreSQL delivers it at commit: a collector killed after its commit has still announced)."""
        return json.dumps({"origin": self.origin, "event": {"type": "alarm", "id": alarm_id}})

    def announce(self, event: dict[str, Any]) -> None:
        if self.url is None:
            return
        if event.get("type") == "alarm" and isinstance(event.get("alarm"), dict):
            ref: dict[str, Any] = {"type": "alarm", "id": event["alarm"]["id"]}
        else:
            ref = event
        payload = json.dumps({"origin": self.origin, "event": ref}, ensure_ascii=False, default=str)
        if len(payload.encode()) > _MAX_PAYLOAD:
            log.warning("change too large to announce", type=event.get("type"))
            return
        self.outgoing.append(payload)
        self._wake.set()

    async def run(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Send this collector's changes and deliver the other collectors' until cancelled."""
        if self.url is None:
            await asyncio.Event().wait()
            return
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._send(), name="announce")
            tg.create_task(self._listen(deliver), name="listen")

    async def _send(self) -> None:
        import psycopg

        assert self.url is not None
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    attempt = 0
                    self._episodes.resolved("announce", "announcing changes to the other collectors again")
                    while True:
                        await self._wake.wait()
                        self._wake.clear()
                        batch, self.outgoing = self.outgoing, []
                        try:
                            await conn.execute(b"SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p",
                                               (CHANNEL, batch))
                        except psycopg.Error:
                            self.lost += len(batch)  # they are gone; the other collectors' screens refetch later
                            raise
            except psycopg.Error as exc:
                attempt += 1
                self._episodes.problem("announce", "cannot announce changes to the other collectors",
                                       error=str(exc).strip().splitlines()[0])
                await asyncio.sleep(next_delay(attempt, base=1.0, cap=10.0))

    async def _listen(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        import psycopg

        assert self.url is not None
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}".encode())
                    if attempt:
                        log.info("listening to the other collectors again")
                        deliver({"type": "resync"})
                    attempt = 0
                    async for note in conn.notifies():
                        await self.receive(note.payload, deliver)
            except psycopg.Error as exc:
                attempt += 1
                log.warning("not listening to the other collectors", error=str(exc).strip().splitlines()[0],
                            attempt=attempt)
                await asyncio.sleep(next_delay(attempt, base=1.0, cap=10.0))

    async def receive(self, payload: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        """One announcement. Checked like anything else from outside this process: an alarm by its integer
        id (then read from the store), a gateway's health as site, gateway and online state; anything else
        is refused, counted and logged once per kind."""
        try:
            message = json.loads(payload)
            if message["origin"] == self.origin:
                return
            event = message["event"]
            if event["type"] == "alarm" and type(event["id"]) is int:
                alarm = await self._load_alarm(event["id"])
                if alarm is None:
                    return
                checked: dict[str, Any] = {"type": "alarm", "alarm": alarm}
            elif (event["type"] == "health" and isinstance(event["gateway"], str) and isinstance(event["site"], str)
                  and isinstance(event["online"], bool)):
                checked = {"type": "health", "gateway": event["gateway"][:64], "site": event["site"][:64],
                           "online": event["online"]}
            else:
                raise ValueError(f"not an alarm id or a health change: {str(event)[:80]}")
        except (ValueError, KeyError, TypeError) as exc:
            self.refused += 1
            self._episodes.problem("unreadable", "unreadable change from another collector", error=str(exc))
            return
        self.received += 1
        deliver(checked)
