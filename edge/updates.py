"""The `update` operation: a new agent version as a wheel, installed beside the running one.

    prepare   the wheel fetched (at most 64 MiB) and its SHA-256 compared with the signed command's; its
              metadata must name the version asked for; a new virtual environment (agents/<version>) gets
              it with pip (no index: nothing else is fetched), its dependencies are those of the installed
              base (a path file), and `pip check` must find nothing missing: refused with pip's words
    apply     update.json records verify, the version before and the deadline; then `current` is
              switched in one rename and the agent exits: systemd starts the new one
    verify    the new agent marks the update successful once it is healthy (its uplink up and every bus
              worker running for a few seconds); else it switches back itself at the deadline, and if it
              cannot even start, the unit's guard (edge.update_guard) does after three tries
    report    the agent that runs afterwards reports the outcome (successful, or rolled_back with why)
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from devices.agent_package import wheel_version
from devices.contract import AgentPackage
from edge.config_sets import PrepareRefused
from edge.update_guard import point, read_state, write_state

__all__ = ["HEALTHY_FOR_S", "Updates"]

MOST_BYTES = 64 * 1024 * 1024
PIP_TIMEOUT_S = 300.0
HEALTHY_FOR_S = 5.0  # healthy this long in a row before the update counts as good
BASE_PATHS = "firefleet-base.pth"  # in an update's environment: where the installed base's packages are


class Updates:
    def __init__(self, root: Path, data_dir: Path) -> None:
        self.root = root  # holds `current` and agents/
        self.data_dir = data_dir

    # -- prepare -----------------------------------------------------------------------------------
    async def prepare(self, package: AgentPackage, progress: Callable[[str], None]) -> Path:
        wheel = await self._fetch(package)
        progress(f"wheel {wheel.stat().st_size} bytes, checksum good")
        _check_metadata(wheel, package.version)
        target = self.root / "agents" / package.version
        if target.resolve() == Path(sys.prefix).resolve():
            raise PrepareRefused(f"version {package.version} is the one running")
        shutil.rmtree(target, ignore_errors=True)  # a half-made one from before; never `current` (see switch)
        try:
            await self._install(wheel, target)
        except PrepareRefused:
            shutil.rmtree(target, ignore_errors=True)
            raise
        return target

    async def _install(self, wheel: Path, target: Path) -> None:
        await _run([sys.executable, "-m", "venv", "--without-pip", str(target)], "making the environment")
        python = target / "bin" / "python"
        site = Path(sysconfig.get_path("purelib", vars={"base": str(target), "platbase": str(target)}))
        site.mkdir(parents=True, exist_ok=True)
        (site / BASE_PATHS).write_text("".join(f"{p}\n" for p in _base_paths()))
        await _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--no-input", "--disable-pip-version-check", "--quiet", str(wheel)], "installing the wheel")
        await _run([sys.executable, "-m", "pip", "--python", str(python), "check", "--disable-pip-version-check"],
                   "checking its dependencies")
        await _run([str(python), "-c", "import devices.cli, edge.agent"], "importing the new agent", cwd=self.root)

    async def _fetch(self, package: AgentPackage) -> Path:
        folder = self.data_dir / "updates"
        folder.mkdir(parents=True, exist_ok=True)
        wheel = folder / f"firefleet-{package.version}-py3-none-any.whl"
        partial = wheel.with_suffix(".part")
        sha, size = hashlib.sha256(), 0
        try:
            async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client, \
                    client.stream("GET", package.url) as response:
                if response.status_code != 200:
                    raise PrepareRefused(f"the wheel could not be fetched: HTTP {response.status_code}")
                with open(partial, "wb") as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > MOST_BYTES:
                            raise PrepareRefused(f"the wheel is over {MOST_BYTES} bytes")
                        sha.update(chunk)
                        out.write(chunk)
        except httpx.HTTPError as exc:
            raise PrepareRefused(f"the wheel could not be fetched: {type(exc).__name__}: {exc}") from None
        if sha.hexdigest() != package.sha256:
            partial.unlink(missing_ok=True)
            raise PrepareRefused("checksum mismatch: the wheel is not the one the collector signed for")
        partial.rename(wheel)
        return wheel

    def begin(self, command: str, package: AgentPackage, running: str) -> None:
        """Record that an update is being prepared (a kill meanwhile is reported failed at the next start)."""
        write_state(self.data_dir, {"command": command, "state": "prepare", "version": package.version,
                                    "from_version": running, "reported": True})

    def end(self, reason: str) -> None:
        state = read_state(self.data_dir)
        if state is not None and state.get("state") == "prepare":
            state.update(state="failed", reason=reason)
            write_state(self.data_dir, state)

    # -- apply -------------------------------------------------------------------------------------
    def switch(self, command: str, package: AgentPackage, target: Path, running: str) -> None:
        """Record the update (verify, the version before, the deadline), then point `current` at it."""
        previous = str((self.root / "current").resolve())
        write_state(self.data_dir, {"command": command, "state": "verify", "version": package.version,
                                    "from_version": running, "target": str(target), "previous": previous,
                                    "deadline": time.time() + package.healthy_s, "starts": 0, "reported": True})
        point(self.root, str(target))

    # -- after a start -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any] | None:
        return read_state(self.data_dir)

    def settle(self, state: dict[str, Any], outcome: str, reason: str) -> None:
        """The verdict: successful, or rolled_back (then `current` goes back first), or failed (nothing was
        switched). Only a success is reported by the caller already."""
        if outcome == "rolled_back":
            point(self.root, str(state["previous"]))
        state.update(state=outcome, reason=reason, reported=outcome == "successful")
        write_state(self.data_dir, state)
        if outcome == "successful":  # keep this version and the one before (what a rollback goes back to)
            keep = {Path(state["target"]).resolve(), Path(state["previous"]).resolve()}
            for folder in (self.root / "agents").iterdir():
                if folder.resolve() not in keep:
                    shutil.rmtree(folder, ignore_errors=True)

    def reported(self, state: dict[str, Any]) -> None:
        state["reported"] = True
        write_state(self.data_dir, state)


def _base_paths() -> list[str]:
    """Where this agent's dependencies are: its own environment's site-packages, or, if it is itself an
    update, the base its path file names (so every version leans on the one installed base)."""
    here = Path(sysconfig.get_path("purelib"))
    inherited = here / BASE_PATHS
    if inherited.exists():
        return [line for line in inherited.read_text().splitlines() if line.strip()]
    return list(dict.fromkeys([str(here), sysconfig.get_path("platlib")]))


def _check_metadata(wheel: Path, version: str) -> None:
    try:
        found = wheel_version(wheel)
    except ValueError as exc:
        raise PrepareRefused(str(exc)) from None
    if found != version:
        raise PrepareRefused(f"the wheel is firefleet {found}, not {version}")


async def _run(argv: list[str], what: str, cwd: Path | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, cwd=cwd)
    try:
        async with asyncio.timeout(PIP_TIMEOUT_S):
            out, _ = await proc.communicate()
    except TimeoutError:
        proc.kill()
        raise PrepareRefused(f"{what}: timed out after {PIP_TIMEOUT_S:g} s") from None
    if proc.returncode != 0:
        raise PrepareRefused(f"{what} failed: {out.decode(errors='replace').strip()[-600:]}")
