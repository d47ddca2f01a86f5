"""Shared test setup: markers by folder, paths to the shipped profiles and example sites."""

from __future__ import annotations

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
