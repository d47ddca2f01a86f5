"""Several collectors, one district: what one collector changes, every collector's screens show.

On PostgreSQL each change is announced with NOTIFY (an alarm by its id, a gateway's health as is) and
every collector LISTENs on a connection of its own, loading an announced alarm from the shared store
before its clients see it; its own announcements it skips. On SQLite there is one collector and nothing
to pass on. A collector that lost its LISTEN connection reconnects, and its clients are told to reload
(an event of type `resync`), since announcements made meanwhile are gone.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from devices.backoff import next_delay
from devices.episodes import Episodes

__all__ = ["CHANNEL", "ChangeFeed"]

CHANNEL = "firefleet_changes"
_MAX_PAYLOAD = 7900  # NOTIFY's limit is 8000 bytes

log = structlog.get_logger("firefleet.cloud.feed")


class ChangeFeed:
    def __init__(self, url: str | None, notify: Callable[[str], object], load_alarm: Callable[[int], Any]) -> None:
        """`url`: the shared PostgreSQL store (None: a single collector); `notify(payload)` sends NOTIFY
        through the store's connection; `load_alarm(id)` reads an alarm from the store."""
        self.url = url
        self.origin = uuid.uuid4().hex[:12]
        self._notify = notify
        self._load_alarm = load_alarm
        self.received = 0
        self.refused = 0
        self._episodes = Episodes(log)

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
        self._notify(payload)

    async def run(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        """Deliver the other collectors' changes until cancelled."""
        if self.url is None:
            await asyncio.Event().wait()
            return
        import psycopg

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
                        self.receive(note.payload, deliver)
            except psycopg.Error as exc:
                attempt += 1
                log.warning("not listening to the other collectors", error=str(exc).strip().splitlines()[0],
                            attempt=attempt)
                await asyncio.sleep(next_delay(attempt, base=1.0, cap=10.0))

    def receive(self, payload: str, deliver: Callable[[dict[str, Any]], None]) -> None:
        """One announcement. Checked like anything else from outside this process: an alarm by its integer
        id (then read from the store), a gateway's health as site, gateway and online state; anything else
        is refused, counted and logged once per kind."""
        try:
            message = json.loads(payload)
            if message["origin"] == self.origin:
                return
            event = message["event"]
            if event["type"] == "alarm" and type(event["id"]) is int:
                alarm = self._load_alarm(event["id"])
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
