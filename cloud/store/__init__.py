"""The collector's store: one typed interface over SQLite (the embedded default) or PostgreSQL.

`Store("path/cloud.sqlite")` or `Store("postgresql://...")`. Everything above speaks in gateways, records,
alarms and audit entries; each concern is its own module (gateways, records, alarms, accounts, commands,
read_models, maintenance, duty) over one seam to the database (sql: sqlite_sql or postgres_sql), and the schema
is code (schema). Writes come in batches (one transaction per MQTT message), and a record id a gateway
sent before is skipped, which makes replays idempotent.
"""

from __future__ import annotations

from pathlib import Path

from cloud.store.accounts import Accounts
from cloud.store.commands import Commands
from cloud.store.duty import Duty
from cloud.store.faults import FAULT_FLAGS
from cloud.store.gateways import COMM_LOST, Gateways
from cloud.store.notifications import Notifications
from cloud.store.plans import Plans
from cloud.store.records import Records
from cloud.store.rollouts import Rollouts
from cloud.store.sql import connect
from cloud.store.uitd import Uitd

__all__ = ["COMM_LOST", "FAULT_FLAGS", "Store"]


class Store(Gateways, Records, Duty, Rollouts, Accounts, Commands, Plans, Notifications, Uitd):
    def __init__(self, location: str | Path, streets: dict[str, str] | None = None) -> None:
        self.sql = connect(location)
        self.streets = streets or {}
        self.touched = []
        self._sampled = {}
        self._samples_taken = 0
        self.site_changed = False
        self._clock = None

    @property
    def describe(self) -> str:
        return self.sql.describe

    def close(self) -> None:
        self.sql.close()
