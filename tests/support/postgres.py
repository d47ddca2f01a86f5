"""A PostgreSQL database of a test's own on the server this machine runs (trust auth for `postgres` on
127.0.0.1, or FIREFLEET_TEST_PG): created for the test, dropped after it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

SERVER = os.environ.get("FIREFLEET_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


def unreachable() -> str | None:
    """Why no test database can be made here, or None."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(f"{SERVER}/postgres", connect_timeout=3):
            return None
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL server at {SERVER}: {str(exc).strip().splitlines()[0]}"


@contextmanager
def own_database() -> Iterator[str]:
    import psycopg

    name = f"firefleet_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
    try:
        yield f"{SERVER}/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
