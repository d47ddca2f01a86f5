"""The durable outbox: every record the agent wants the collector to have, in SQLite (WAL).

Theory of operation. Records go into one table with a lane: `alarm` and `event` (events include
command results) are never dropped; `telemetry` is bounded in bytes. Each append is committed with
synchronous=FULL before `append` returns, so a record the agent accepted survives kill -9 and power
loss. Records leave the table only when the collector acknowledges their ids (not when the broker's
PUBACK arrives: brokers restart and lose things; this table does not).

Sending order is lane priority, then age: every alarm goes before any event, every event before any
camera picture (`attachment`: chunks of a snapshot taken for an alarm, committed after the alarm), every
picture before any telemetry. When telemetry exceeds its byte budget, the oldest telemetry is thinned: runs of four
readings of one device merge into one reading carrying the last values and the min and max of each
value over the run (so a temperature spike survives the thinning), repeatedly, oldest first, until the
lane fits. Alarms and events are never thinned; if the disk fills, appends fail loudly instead.

Ids are `{outbox uuid}:{row}`: AUTOINCREMENT never reuses a row number, and the uuid is drawn when the
file is created, so a replaced SD card cannot repeat an id the collector has seen. Records come in as the
contract's types (devices.contract) with no id yet; the outbox picks the row, writes the id into the
record, and stores it as the msgpack the wire carries, so the uplink sends stored bytes as they are.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgpack
import msgspec

from devices.contract import Alarm, Attachment, CommandState, Event, Reading, Record

__all__ = ["Outbox", "OutboxRecord", "lane_of"]

_LANE_OF: Final[dict[type, str]] = {Alarm: "alarm", Event: "event", CommandState: "event", Attachment: "attachment",
                                     Reading: "telemetry"}
_ENCODER: Final = msgspec.msgpack.Encoder()


def lane_of(record: Record) -> str:
    return _LANE_OF[type(record)]

_LANE_RANK = {"alarm": 0, "event": 1, "attachment": 2, "telemetry": 3}
_THIN_RUN = 4
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    row INTEGER PRIMARY KEY AUTOINCREMENT,
    rank INTEGER NOT NULL,          -- 0 alarm, 1 event, 2 attachment, 3 telemetry: sending order
    lane TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,          -- wall time the record was accepted
    size INTEGER NOT NULL,
    body BLOB NOT NULL              -- msgpack of the record
);
CREATE INDEX IF NOT EXISTS records_order ON records (rank, row);
"""


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    id: str
    row: int
    lane: str
    created: float
    body: bytes  # the record as the wire carries it (msgpack), its id included

    @property
    def record(self) -> dict[str, Any]:
        fields: dict[str, Any] = msgpack.unpackb(self.body, raw=False)
        return fields


class Outbox:
    def __init__(self, path: Path, *, telemetry_budget: int = 32 * 1024 * 1024) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.telemetry_budget = telemetry_budget
        self.thinned = 0  # telemetry rows merged away since start
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        # files written before the attachment lane ranked telemetry 2: it goes after pictures now
        self._db.execute("UPDATE records SET rank = 3 WHERE lane = 'telemetry' AND rank = 2")
        row = self._db.execute("SELECT value FROM meta WHERE key = 'outbox_id'").fetchone()
        if row is None:
            self.outbox_id = uuid.uuid4().hex[:12]
            self._db.execute("INSERT INTO meta VALUES ('outbox_id', ?)", (self.outbox_id,))
        else:
            self.outbox_id = row[0]
        self._telemetry_bytes = self._db.execute(
            "SELECT COALESCE(SUM(size), 0) FROM records WHERE lane = 'telemetry'").fetchone()[0]
        # this process is the file's only writer: it numbers rows itself, after every number ever used
        self._next_row = 1 + self._db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0), "
            "COALESCE((SELECT MAX(row) FROM records), 0))").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def record_id(self, row: int) -> str:
        return f"{self.outbox_id}:{row}"

    # -- appending ---------------------------------------------------------------------------------
    def append(self, record: Record, *, created: float | None = None) -> str:
        return self.append_many([record], created=created)[0]

    def append_many(self, records: Sequence[Record], *, created: float | None = None) -> list[str]:
        """Store records durably (one transaction), each with its id written in; returns the ids."""
        now = time.time() if created is None else created
        ids = []
        added = 0
        rows = []
        for record in records:
            lane = _LANE_OF[type(record)]
            row, self._next_row = self._next_row, self._next_row + 1
            record_id = self.record_id(row)
            body = _ENCODER.encode(msgspec.structs.replace(record, id=record_id))
            rows.append((row, _LANE_RANK[lane], lane, getattr(record, "device", ""), now, len(body), body))
            ids.append(record_id)
            if lane == "telemetry":
                added += len(body)
        with self._transaction():
            self._db.executemany(
                "INSERT INTO records (row, rank, lane, device, created, size, body) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        if added:
            self._telemetry_bytes += added
            if self._telemetry_bytes > self.telemetry_budget:
                self._thin()
        return ids

    # -- sending -----------------------------------------------------------------------------------
    def next_batch(self, limit: int, *, skip_rows: Iterable[int] = (), lane: str | None = None) -> list[OutboxRecord]:
        """Up to `limit` records in sending order (alarms, then events, then telemetry; oldest first),
        leaving out rows already in flight."""
        skip = set(skip_rows)
        out: list[OutboxRecord] = []
        where = "WHERE lane = ?" if lane else ""
        args: tuple[Any, ...] = (lane,) if lane else ()
        cursor = self._db.execute(f"SELECT row, lane, created, body FROM records {where} ORDER BY rank, row", args)
        for row, row_lane, created, body in cursor:
            if row in skip:
                continue
            out.append(OutboxRecord(self.record_id(row), row, row_lane, created, body))
            if len(out) >= limit:
                break
        cursor.close()
        return out

    def ack(self, ids: Iterable[str]) -> int:
        """Delete the records the collector has stored. Ids of other outboxes or already gone are ignored."""
        rows = []
        prefix = self.outbox_id + ":"
        for record_id in ids:
            if isinstance(record_id, str) and record_id.startswith(prefix) and record_id[len(prefix):].isdigit():
                rows.append(int(record_id[len(prefix):]))
        if not rows:
            return 0
        with self._transaction():
            freed = 0
            deleted = 0
            for start in range(0, len(rows), 500):
                chunk = rows[start:start + 500]
                marks = ",".join("?" * len(chunk))
                freed += self._db.execute(
                    f"SELECT COALESCE(SUM(size), 0) FROM records WHERE lane = 'telemetry' AND row IN ({marks})",
                    chunk).fetchone()[0]
                deleted += self._db.execute(f"DELETE FROM records WHERE row IN ({marks})", chunk).rowcount
        self._telemetry_bytes -= freed
        return deleted

    def depth(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {lane: {"records": 0, "bytes": 0} for lane in _LANE_RANK}
        for lane, count, size in self._db.execute("SELECT lane, COUNT(*), SUM(size) FROM records GROUP BY lane"):
            out[lane] = {"records": count, "bytes": size}
        return out

    # -- thinning ----------------------------------------------------------------------------------
    def _thin(self) -> None:
        """Merge runs of the oldest telemetry until the lane is back under 90 % of its budget."""
        target = int(self.telemetry_budget * 0.9)
        while self._telemetry_bytes > target:
            batch = self._db.execute(
                "SELECT row, device, created, size, body FROM records WHERE lane = 'telemetry' ORDER BY row LIMIT 2000"
            ).fetchall()
            if len(batch) < _THIN_RUN:
                return
            by_device: dict[str, list[tuple[int, float, int, bytes]]] = {}
            for row, device, created, size, body in batch:
                by_device.setdefault(device, []).append((row, created, size, body))
            merged_any = False
            with self._transaction():
                for device, rows in by_device.items():
                    for i in range(0, len(rows) - _THIN_RUN + 1, _THIN_RUN):
                        run = rows[i:i + _THIN_RUN]
                        record = _merge([msgpack.unpackb(r[3], raw=False) for r in run])
                        record["id"] = self.record_id(run[0][0])  # it takes the run's first place, and its id
                        body = msgpack.packb(record, use_bin_type=True)
                        marks = ",".join("?" * len(run))
                        self._db.execute(f"DELETE FROM records WHERE row IN ({marks})", [r[0] for r in run])
                        # the merged record keeps the place of the run's first row, so order holds
                        self._db.execute(
                            "INSERT INTO records (row, rank, lane, device, created, size, body) "
                            "VALUES (?, 3, 'telemetry', ?, ?, ?, ?)", (run[0][0], device, run[0][1], len(body), body))
                        self._telemetry_bytes += len(body) - sum(r[2] for r in run)
                        self.thinned += len(run) - 1
                        merged_any = True
                        if self._telemetry_bytes <= target:
                            break
                    if self._telemetry_bytes <= target:
                        break
            if not merged_any:
                return

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _merge(records: list[dict[str, Any]]) -> dict[str, Any]:
    """One reading for a run: last values, min and max of every number, count and time span."""
    last = dict(records[-1])
    lows: dict[str, Any] = {}
    highs: dict[str, Any] = {}
    count = 0
    for rec in records:
        count += int(rec.get("n", 1))
        values = rec.get("values", {})
        for source, pick in ((rec.get("min", values), min), (rec.get("max", values), max)):
            target = lows if pick is min else highs
            for key, value in source.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    target[key] = value if key not in target else pick(target[key], value)
    last["min"], last["max"], last["n"] = lows, highs, count
    last["t0"] = records[0].get("t0", records[0].get("t"))
    return last
