"""Jobs that must run once per district (escalation, tickets, readiness, retention, command expiry,
gateway liveness) run on one collector at a time: the one holding a PostgreSQL advisory lock.

The lock is held by a connection of its own: when its collector dies (even by SIGKILL) the server ends
the session and frees the lock, and another collector, trying every `every` seconds, takes it. A leader
whose connection fails stops leading at once, before another can take over. With SQLite there is one
collector, always the leader. LEADER_SQL names the one leading (firefleet-collector-PID). The jobs
themselves are safe to overlap for a moment (an escalation step is taken by one conditional update), so
a lock changing hands never doubles a notification.
"""

from __future__ import annotations

import asyncio
import os

import structlog

__all__ = ["LEADER_SQL", "Leadership"]

LOCK_ID = 0x66666C65  # "ffle"
APPLICATION = f"firefleet-collector-{os.getpid()}"  # who leads: pg_locks joined with pg_stat_activity
LEADER_SQL = ("SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
              f"WHERE l.locktype = 'advisory' AND l.objid = {LOCK_ID} AND l.granted")
log = structlog.get_logger("firefleet.cloud.leadership")


class Leadership:
    def __init__(self, url: str | None, every: float = 2.0) -> None:
        self.url = url
        self.every = every
        self.held = url is None

    async def run(self) -> None:
        if self.url is None:
            await asyncio.Event().wait()
            return
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True,
                                                                 application_name=APPLICATION) as conn:
                    while True:
                        if self.held:
                            await conn.execute("SELECT 1")  # still connected: the lock is still ours
                        else:
                            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_ID,))).fetchone()
                            if row and row[0]:
                                self.held = True
                                log.info("leading: this collector runs the district's once-only jobs")
                        await asyncio.sleep(self.every)
            except psycopg.Error as exc:
                if self.held:
                    log.warning("no longer leading", error=str(exc).strip().splitlines()[0])
                self.held = False
                await asyncio.sleep(self.every)
