"""Integration fixtures: simulators running in the test's loop, on real pseudo-terminals and sockets."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from simulators.harness import SimulationHandle, running_simulation
from tests.conftest import SITES


@pytest.fixture
async def shed(tmp_path: Path) -> AsyncIterator[SimulationHandle]:
    async with running_simulation([SITES / "charging-shed.yaml", SITES / "micro-station.yaml"],
                                  tmp_path / "run") as handle:
        yield handle


@pytest.fixture
async def control(shed: SimulationHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=shed.control_url, timeout=5) as client:
        yield client


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: .ci/run installs it (apt-get install {tool})")
    return path
