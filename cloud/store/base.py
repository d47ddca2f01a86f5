"""What every part of the store shares: the seam, the inventory's streets, and portable row helpers."""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from cloud.store.sql import Sql

__all__ = ["StoreBase", "among", "parsed"]


class StoreBase:
    sql: Sql
    streets: dict[str, str]  # site -> street, from the inventory
    touched: list[int]  # alarms the last write opened or changed
    site_changed: bool  # the last batch of records changed what the site list counts (cloud.store.records)
    _clock: tuple[str, float, float] | None  # the batch's gateway clock reference
    _sampled: dict[str, float]  # gateway -> when its last heartbeat was kept as a sample (cloud.store.gateways)
    _samples_taken: int

    def _insert(self, table: str, row: Mapping[str, Any], *, returning_id: bool = False) -> int | None:
        names = ", ".join(_quoted(k) for k in row)
        marks = ", ".join("?" * len(row))
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})" + (" RETURNING id" if returning_id else "")
        result = self.sql.execute(sql, list(row.values()))
        return int(result.rows[0][0]) if returning_id else None

    def _upsert(self, table: str, row: Mapping[str, Any], pk: Sequence[str]) -> None:
        names = ", ".join(_quoted(k) for k in row)
        marks = ", ".join("?" * len(row))
        changes = ", ".join(f"{_quoted(k)} = excluded.{_quoted(k)}" for k in row if k not in pk)
        self.sql.execute(f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(pk)}) "
                         f"DO UPDATE SET {changes}", list(row.values()))

    def _update(self, table: str, row_id: Any, fields: Mapping[str, Any]) -> None:
        sets = ", ".join(f"{_quoted(k)} = ?" for k in fields)
        self.sql.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*fields.values(), row_id])

    def _rows(self, table: str, where: str = "1 = 1", args: Sequence[Any] = (), *, order_by: str = "",
              limit: int | None = None, select: str = "*") -> list[dict[str, Any]]:
        sql = f"SELECT {select} FROM {table} WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.sql.dicts(sql, args)

    def _log(self, alarm_id: int, who: str, action: str, notes: str, *, record: str | None = None) -> None:
        self._insert("alarm_log", {"alarm": alarm_id, "at": time.time(), "who": who, "action": action,
                                   "notes": notes, "record": record})


def _quoted(name: str) -> str:
    return f'"{name}"' if name == "user" else name


def among(column: str, values: Collection[str] | None) -> tuple[str, list[str]]:
    """A condition limiting `column` to `values` (None: no limit), with its arguments."""
    if values is None:
        return "1 = 1", []
    wanted = sorted(values)
    return (f"{column} IN ({', '.join('?' * len(wanted))})", wanted) if wanted else ("1 = 0", [])


def parsed(text: str | None, empty: Any) -> Any:
    """A JSON column's value; `empty` for none (and for a value written before it was JSON)."""
    if not text:
        return empty
    try:
        return json.loads(text)
    except ValueError:
        return empty
