"""Issue 16.2: agent updates, with real wheels built from this checkout.

A gateway laid out as the systemd unit runs it (ROOT/current -> the installed environment; the unit runs
the update guard, then ROOT/current/bin/firefleet edge, and starts it again whenever it exits) is updated
through the collector to a wheel of version 0.1.1: fetched from the collector, checked against the signed
SHA-256, installed into ROOT/agents/0.1.1 beside the running one, switched to, and reported healthy by the
new agent. Then to a wheel of 0.1.2 whose agent fails at start: the guard counts three failed starts,
switches back to 0.1.1, and that agent reports the update rolled back.

systemd itself does not run in a test: `unit()` below does what the unit file says (ExecStartPre with the
system's python, ExecStart, Restart=always after RestartSec), nothing more."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from simulators.harness import running_simulation
from tests.conftest import ROOT, SITES
from tests.integration.test_config_rollout import CABINETS, collector_and_broker, rollout_ended, until
from tests.support.keys import public_key

SOURCES = ["devices", "edge", "cloud", "simulators", "firmware-profiles", "pyproject.toml", "README.md"]
BROKEN_START = ('def run_from_args(args: argparse.Namespace) -> int:\n'
                '    raise RuntimeError("this build cannot start")\n')


def build_wheel(folder: Path, version: str, *, broken: bool = False) -> Path:
    """A wheel of this checkout as version `version` (built offline with the installed setuptools)."""
    src = folder / f"src-{version}"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, src / name)
    pyproject = src / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', f'version = "{version}"', 1))
    if broken:
        main = src / "edge" / "main.py"
        main.write_text(main.read_text().replace("def run_from_args(args: argparse.Namespace) -> int:\n",
                                                 BROKEN_START, 1))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "-w", str(folder / "dist"), str(src)], check=True, cwd=folder)
    return folder / "dist" / f"firefleet-{version}-py3-none-any.whl"


@contextlib.asynccontextmanager
async def unit(root: Path, data: Path, argv: list[str], log: Path) -> AsyncIterator[list[int]]:
    """The firefleet-edge unit: guard, start, and start again after every exit. Yields the exit codes."""
    exits: list[int] = []
    stop = asyncio.Event()
    running: list[asyncio.subprocess.Process] = []

    async def serve() -> None:
        while not stop.is_set():
            subprocess.run(["/usr/bin/python3", str(ROOT / "edge" / "update_guard.py"), str(data), str(root)],
                           check=True, stderr=open(log, "ab"))  # noqa: SIM115
            proc = await asyncio.create_subprocess_exec(str(root / "current" / "bin" / "firefleet"), "edge", *argv,
                                                        cwd=root, stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=open(log, "ab"))  # noqa: SIM115
            running[:] = [proc]
            exits.append(await proc.wait())
            await asyncio.sleep(0.5)
    task = asyncio.get_running_loop().create_task(serve())
    try:
        yield exits
    finally:
        stop.set()
        for proc in running:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.wait({task}, timeout=20)


def test_the_unit_file_runs_the_guard_and_the_current_version() -> None:
    unit_file = (ROOT / "deploy" / "firefleet-edge.service").read_text()
    assert "ExecStartPre=/usr/bin/python3 /opt/firefleet/update_guard.py /var/lib/firefleet /opt/firefleet" in unit_file
    assert "ExecStart=/opt/firefleet/current/bin/firefleet edge" in unit_file
    assert "--updates /opt/firefleet" in unit_file
    assert "Restart=always" in unit_file and "ReadWritePaths=/var/lib/firefleet /opt/firefleet" in unit_file


@pytest.mark.timeout(300)
async def test_an_agent_update_to_a_built_wheel_and_a_rollback_from_one_that_does_not_start(tmp_path: Path) -> None:
    good = build_wheel(tmp_path / "build", "0.1.1")
    broken = build_wheel(tmp_path / "build", "0.1.2", broken=True)
    root, data = tmp_path / "opt", tmp_path / "data"
    root.mkdir()
    (root / "current").symlink_to(sys.prefix)  # the installed base: this checkout's environment, 0.1.0
    site = SITES / "fire-cabinets.yaml"
    async with collector_and_broker(tmp_path) as (broker_url, api), \
            running_simulation([site], tmp_path / "run") as _:
        argv = ["--config", str(site), "--data-dir", str(data), "--bus-map", str(tmp_path / "run" / "served.json"),
                "--broker", broker_url, "--collector-key", str(public_key()), "--heartbeat", "2", "--metrics", "off",
                "--updates", str(root)]

        async def agent_version() -> str:
            fleet = (await api.get("/api/fleet")).json()["gateways"]
            return str(next((g["agent_version"] for g in fleet if g["id"] == CABINETS and g["online"]), ""))

        async def update_to(wheel: Path) -> dict[str, Any]:
            uploaded = await api.post("/api/packages", content=wheel.read_bytes())
            assert uploaded.status_code == 201, uploaded.text
            made = await api.post("/api/rollouts", json={"action": "update", "target": {"gateway": CABINETS},
                                                         "package": uploaded.json()["sha256"], "healthy_s": 60})
            assert made.status_code == 201, made.text
            ended = await until(lambda: rollout_ended(api, made.json()["id"]), 150, f"the update to {wheel.name}")
            (gateway,) = ended["gateways"]
            return dict(gateway)

        async with unit(root, data, argv, tmp_path / "agent.log") as exits:
            await until(lambda: _is(agent_version, "0.1.0"), 60, "the installed agent, 0.1.0, online")

            updated = await update_to(good)
            assert updated["state"] == "successful", updated
            assert "agent 0.1.1 running and healthy (was 0.1.0)" in updated["reason"]
            assert (root / "current").resolve() == (root / "agents" / "0.1.1").resolve()
            await until(lambda: _is(agent_version, "0.1.1"), 30, "the fleet page showing 0.1.1")
            assert exits == [0]  # the old agent stopped once, to let the new one start

            rolled = await update_to(broken)
            assert rolled["state"] == "rolled_back", rolled
            assert "agent 0.1.2 did not start (3 tries): back on 0.1.1" in rolled["reason"]
            assert (root / "current").resolve() == (root / "agents" / "0.1.1").resolve()
            await until(lambda: _is(agent_version, "0.1.1"), 30, "0.1.1 online again")
            assert exits[1:] == [0, 1, 1, 1], exits  # 0.1.1 stopped for the switch; 0.1.2 failed three times
        log = (tmp_path / "agent.log").read_text()
        assert "this build cannot start" in log


async def _is(read: Any, expected: str) -> bool:
    return bool(await read() == expected)
