"""The site list every console asks for, kept as a read model instead of computed for each request.

A city's list is 25,000 sites; computing it whole (cloud.site_overview, on a reader thread) takes seconds,
and the consoles ask for it on every change they see. So the list is kept here, one encoded row per site,
and a change recomputes only its own site: every alarm, health and site event (cloud.event_hub, whichever
collector made it) marks its site dirty, and the next asker gets the dirty sites read afresh (one query per
kind for all of them) and the rest as they were. Nobody who asks after an event gets a list from before it:
askers take turns, and each one reads the sites dirty at its turn.

What changes without an event (a gateway's last-heard time, a station's readiness as its equipment
reports) is caught by a whole rebuild at most every `whole_every_s`, stretched to 20 times what the last
rebuild took, so that a city's rebuild never takes more than a twentieth of a reader's time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from cloud.site_overview import district_sites
from cloud.store import Store

__all__ = ["SiteList"]

Read = Callable[[Callable[[Store], dict[str, bytes]]], Awaitable[dict[str, bytes]]]
MOST_DIRTY = 2000  # more sites dirty than this: rebuilt whole (one IN list per query stays short)


class SiteList:
    def __init__(self, inventory: Mapping[str, Mapping[str, Any]], whole_every_s: float = 30.0) -> None:
        self.inventory = inventory
        self.whole_every_s = whole_every_s
        self.rows: dict[str, bytes] = {}  # site id -> its JSON object
        self.dirty: set[str] = set()
        self.rebuilds = 0  # whole rebuilds, and sites read one by one (for tests and benches)
        self.refreshed = 0
        self._every = whole_every_s
        self._built_at: float | None = None
        self._body: bytes | None = None
        self._turn = asyncio.Lock()

    def changed(self, event: Mapping[str, Any]) -> None:
        """An event from the hub: its site is read afresh by the next asker (no site: all of them)."""
        alarm = event.get("alarm")
        site = alarm.get("site") if isinstance(alarm, Mapping) else event.get("site")
        if isinstance(site, str) and site:
            self.dirty.add(site)
        else:
            self._built_at = None

    async def body(self, read: Read) -> bytes:
        """The list as JSON, sorted by site id: current for every event seen before this call."""
        async with self._turn:
            due = self._built_at is None or time.monotonic() - self._built_at > self._every
            if due or len(self.dirty) > MOST_DIRTY:
                self.dirty.clear()
                began = time.monotonic()
                self.rows = await read(lambda store: _encoded(store, self.inventory, None))
                self._built_at = time.monotonic()
                self._every = max(self.whole_every_s, 20 * (self._built_at - began))
                self.rebuilds += 1
                self._body = None
            elif self.dirty:
                sites, self.dirty = self.dirty, set()
                fresh = await read(lambda store: _encoded(store, self.inventory, sites))
                for site in sites:
                    if site in fresh:
                        self.rows[site] = fresh[site]
                    else:
                        self.rows.pop(site, None)
                self.refreshed += len(sites)
                self._body = None
            if self._body is None:
                self._body = b"[" + b",".join(self.rows[site] for site in sorted(self.rows)) + b"]"
            return self._body


def _encoded(store: Store, inventory: Mapping[str, Mapping[str, Any]], only: Collection[str] | None
             ) -> dict[str, bytes]:
    """Sites as JSON, each on its own (done on the reader thread, as JSONResponse would render them)."""
    return {site["id"]: json.dumps(site, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
            for site in district_sites(store, inventory, only)}
