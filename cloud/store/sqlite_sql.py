"""The store on a SQLite file (the embedded default): WAL, synchronous=FULL, migrations through
sqlite-utils (cloud.store.schema)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from cloud.store.schema import migrate_sqlite
from cloud.store.sql import Result, conflict_clause

__all__ = ["SqliteSql"]


class SqliteSql:
    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.describe = str(path)
        # one user at a time (the loop, or one reader thread), so it may be opened in one thread and closed
        # in another
        db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # an ack goes out only after this commit is on disk
        migrate_sqlite(db)
        self.conn: sqlite3.Connection = db.conn
        self.conn.isolation_level = None  # statements commit on their own; transaction() groups them
        self._depth = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:  # inside a transaction already: a savepoint in it (all of this part, or none of it)
            name = f"sp{self._depth}"
            self.conn.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                raise
            finally:
                self._depth -= 1
                self.conn.execute(f"RELEASE {name}")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result:
        cursor = self.conn.execute(sql, tuple(params))
        rows = cursor.fetchall() if cursor.description else []
        return Result(rows, cursor.rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.executemany(sql, rows)

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                    skip_existing: str = "", upsert_on: str = "", returning: str = "") -> list[Any]:
        """Multi-row VALUES, 500 rows a statement (SQLite takes 32,766 parameters); its statement cache
        holds the few texts this makes."""
        tail = conflict_clause(columns, skip_existing, upsert_on) + (f" RETURNING {returning}" if returning else "")
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        row = "(" + ", ".join("?" * len(columns)) + ")"
        out: list[Any] = []
        for start in range(0, len(rows), 500):
            chunk = rows[start:start + 500]
            cursor = self.conn.execute(head + ", ".join([row] * len(chunk)) + tail, [v for r in chunk for v in r])
            if returning:
                out.extend(r[0] for r in cursor.fetchall())
        return out

    def update_rows(self, table: str, key: Sequence[str], columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """One prepared UPDATE run for each row (in-process: no round trips to save)."""
        if rows:
            self.conn.executemany(f"UPDATE {table} SET {', '.join(f'{c} = ?' for c in columns)} "
                                  f"WHERE {' AND '.join(f'{k} = ?' for k in key)}", rows)

    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, tuple(params))
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def table_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]

    def close(self) -> None:
        self.conn.close()

    def greatest(self, a: str, b: str) -> str:
        return f"MAX({a}, {b})"

    def hour_bucket(self, column: str) -> str:
        return f"CAST({column} / 3600 AS INTEGER)"

    def is_number(self, column: str) -> str:
        # rows from before records were checked may hold text here: shown, never escalated
        return f"typeof({column}) IN ('real', 'integer')"

    # -- readings ----------------------------------------------------------------------------------
    def prepare_readings(self, times: Iterable[float]) -> None:
        """One table, nothing to prepare."""

    def drop_readings_before(self, cutoff: float) -> int:
        return int(self.conn.execute("DELETE FROM readings WHERE t < ?", (cutoff,)).rowcount)
