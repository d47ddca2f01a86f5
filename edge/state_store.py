"""Small durable key-value state of the agent (rule timers and latches) in SQLite, beside the outbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgpack

__all__ = ["StateStore"]


class StateStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL)")

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else msgpack.unpackb(row[0], raw=False)

    def put(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, msgpack.packb(value, use_bin_type=True)))

    def close(self) -> None:
        self._db.close()
