"""Shared test setup: markers by folder, paths to the shipped profiles and example sites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "firmware-profiles"
SITES = ROOT / "deploy" / "examples" / "sites"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in ("unit", "integration", "browser"):
            item.add_marker(getattr(pytest.mark, folder))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a store test keeps its data: one suite, run on SQLite and on PostgreSQL (its own database on
    this machine's server, dropped after; skipped, saying why, only where no server answers)."""
    if request.param == "sqlite":
        yield str(tmp_path / "c.sqlite")
        return
    from tests.support.postgres import own_database, unreachable

    why = unreachable()
    if why:
        pytest.skip(why)
    with own_database() as url:
        yield url
