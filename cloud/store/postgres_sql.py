"""The store on PostgreSQL (psycopg 3): several collectors share one database.

Each statement runs in autocommit unless inside `transaction()`. Migrations run under an advisory lock, so
collectors starting together migrate once. Readings go to day partitions (`readings_YYYYMMDD`), made before
the rows that need them, each once per process; a time far from now (an untrusted clock) lands in the
default partition. Retention drops whole day partitions.
"""

from __future__ import annotations

import calendar
import contextlib
import functools
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors

from cloud.store.schema import POSTGRES_MIGRATIONS
from cloud.store.sql import Result, conflict_clause

__all__ = ["PostgresSql"]

_MIGRATION_LOCK = 0x66666C74  # "fflt": one advisory lock id for the schema
_DAY = 86400


class PostgresSql:
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        where = urlsplit(url)
        self.describe = f"postgresql://{where.hostname or ''}:{where.port or 5432}{where.path}"
        self.conn = psycopg.connect(url, autocommit=True)
        self._days: set[int] = set()
        self._types: dict[str, dict[str, str]] = {}
        self._migrate()

    def _migrate(self) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO schema_version VALUES (0)")
            version = int(row[0]) if row else 0
            for number, statements in enumerate(POSTGRES_MIGRATIONS[version:], start=version + 1):
                for statement in statements:
                    self.conn.execute(statement.encode())
                self.conn.execute("UPDATE schema_version SET version = %s", (number,))

    def _text(self, sql: str) -> str:
        return _placeholders(sql)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = self.conn.execute(self._text(sql).encode(), tuple(params))
        rows = cursor.fetchall() if cursor.description else []
        return Result(rows, cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(self._text(sql).encode(), rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                    skip_existing: str = "", upsert_on: str = "", returning: str = "") -> list[Any]:
        """COPY when every row goes in; else one statement over arrays (`unnest`), whose text is the same
        for any number of rows (psycopg parses a statement's text once; a long multi-row VALUES every time)."""
        if not rows:
            return []
        if not skip_existing and not upsert_on and not returning:
            with self.conn.cursor() as cursor, cursor.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()) as copy:
                for row in rows:
                    copy.write_row(row)
            return []
        types = self._column_types(table)
        arrays = ", ".join(f"%s::{types[c]}[]" for c in columns)
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
               + conflict_clause(columns, skip_existing, upsert_on) + (f" RETURNING {returning}" if returning else ""))
        cursor = self.conn.execute(sql.encode(), [list(column) for column in zip(*rows, strict=True)])
        return [r[0] for r in cursor.fetchall()] if returning else []

    def update_rows(self, table: str, key: Sequence[str], columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """One UPDATE ... FROM unnest(arrays) for all the rows: one round trip, one statement text."""
        if not rows:
            return
        types = self._column_types(table)
        names = [*columns, *key]
        arrays = ", ".join(f"%s::{types[c]}[]" for c in names)
        self.conn.execute(
            f"UPDATE {table} AS t SET {', '.join(f'{c} = u.{c}' for c in columns)} "
            f"FROM unnest({arrays}) AS u({', '.join(names)}) "
            f"WHERE {' AND '.join(f't.{k} = u.{k}' for k in key)}".encode(),
            [list(column) for column in zip(*rows, strict=True)])

    def _column_types(self, table: str) -> dict[str, str]:
        if table not in self._types:
            self._types[table] = {name: kind for name, kind in self.conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall()}
        return self._types[table]

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(self._text(sql).encode(), tuple(params))
        names = [d.name for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]

    def close(self) -> None:
        self.conn.close()

    def greatest(self, a: str, b: str) -> str:
        return f"GREATEST({a}, {b})"

    def hour_bucket(self, column: str) -> str:
        return f"FLOOR({column} / 3600)"

    def is_number(self, column: str) -> str:
        return f"{column} IS NOT NULL"

    # -- readings by day ---------------------------------------------------------------------------
    def prepare_readings(self, times: Iterable[float]) -> None:
        """Make the day partitions these times need (from yesterday to tomorrow; others go to default)."""
        today = int(time.time()) // _DAY
        for day in {int(t) // _DAY for t in times} - self._days:
            if today - 1 <= day <= today + 1:
                name = time.strftime("readings_%Y%m%d", time.gmtime(day * _DAY))
                # its own (sub)transaction: another collector making the same day at the same moment fails
                # this statement only, not a transaction it may be part of
                with contextlib.suppress(errors.DuplicateTable, errors.UniqueViolation), self.conn.transaction():
                    self.conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF readings "
                                      f"FOR VALUES FROM ({day * _DAY}) TO ({(day + 1) * _DAY})".encode())
                self._days.add(day)

    def drop_readings_before(self, cutoff: float) -> int:
        """Drop every day partition wholly before `cutoff`, then delete the older rows left elsewhere."""
        dropped = 0
        for (name,) in self.conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings' "
                "AND c.relname ~ '^readings_[0-9]{8}$'").fetchall():
            day = calendar.timegm(time.strptime(name[9:], "%Y%m%d")) // _DAY
            if (day + 1) * _DAY <= cutoff:
                dropped += int(self.conn.execute(f"SELECT COUNT(*) FROM {name}".encode()).fetchone()[0])  # type: ignore[index]
                self.conn.execute(f"DROP TABLE {name}".encode())
                self._days.discard(day)
        # the day the cutoff falls in, and the default partition: row by row
        dropped += self.conn.execute("DELETE FROM readings WHERE t < %s", (cutoff,)).rowcount
        return dropped


@functools.lru_cache(maxsize=2048)
def _placeholders(sql: str) -> str:
    """`?` -> `%s` (a literal `%` doubled), once per statement text; bounded, since a multi-row insert's text
    varies with its row count."""
    return sql.replace("%", "%%").replace("?", "%s")
