"""The store's one seam to its database: SQL text in the dialect both engines share, run on either.

The store's modules write portable SQL (`?` placeholders, `INSERT ... ON CONFLICT`, `RETURNING`), and
ask the seam for the few fragments that differ (`greatest`, `hour_bucket`, `is_number`) and for bulk
inserts (`insert_rows`: multi-row VALUES on SQLite; COPY, or arrays through `unnest`, on PostgreSQL). Two
implementations: `sqlite_sql.SqliteSql` (the embedded default) and `postgres_sql.PostgresSql`.
Outside `transaction()` each statement commits on its own; inside, all of it or none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Result", "Sql", "conflict_clause", "connect"]


@dataclass
class Result:
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rowcount: int = 0

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)


class Sql(Protocol):
    dialect: str  # "sqlite" or "postgresql"
    describe: str  # where the data is, for logs (never a password)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Result: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                    skip_existing: str = "", upsert_on: str = "", returning: str = "") -> list[Any]:
        """Many rows in as few statements as the engine does best (a statement text that does not grow
        with the row count). `skip_existing`: the unique key (`"gateway, id"`) whose existing rows are left
        as they are; `upsert_on`: the unique key whose existing rows take the new values of every other
        column; `returning`: one column of the rows actually inserted, returned."""
        ...
    def update_rows(self, table: str, key: Sequence[str], columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """Set `columns` of many rows found by `key`; each row is the columns' values, then the key's."""
        ...
    def dicts(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def transaction(self) -> AbstractContextManager[None]: ...
    def table_names(self) -> list[str]: ...
    def close(self) -> None: ...

    # the fragments the two dialects spell differently
    def greatest(self, a: str, b: str) -> str: ...
    def hour_bucket(self, column: str) -> str: ...
    def is_number(self, column: str) -> str: ...

    # readings: day partitions on PostgreSQL, one table on SQLite
    def prepare_readings(self, times: Iterable[float]) -> None: ...
    def drop_readings_before(self, cutoff: float) -> int: ...


def connect(location: str | Path) -> Sql:
    """`postgresql://...` -> PostgreSQL; anything else is a SQLite file's path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from cloud.store.postgres_sql import PostgresSql

        return PostgresSql(text)
    from cloud.store.sqlite_sql import SqliteSql

    return SqliteSql(Path(text))


def conflict_clause(columns: Sequence[str], skip_existing: str, upsert_on: str) -> str:
    """The ON CONFLICT tail both engines spell alike."""
    if skip_existing:
        return f" ON CONFLICT ({skip_existing}) DO NOTHING"
    if upsert_on:
        key = {c.strip() for c in upsert_on.split(",")}
        return f" ON CONFLICT ({upsert_on}) DO UPDATE SET " + ", ".join(
            f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return ""
