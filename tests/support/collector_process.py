"""Run `firefleet cloud` as a separate process for a test or a benchmark, and read its event stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.support.keys import signing_key
from tests.support.mosquitto import free_port

INVENTORY = """\
sites:
  - {id: shed-xixi-01, name: 西溪路1号充电棚, kind: charging_shed, street: 西溪街道, gateway: gw-shed-xixi-01}
  - {id: station-wenxin-01, name: 文新社区微型消防站, kind: micro_station, street: 文新街道,
     gateway: gw-station-wenxin-01}
  - {id: cabinets-cuiyuan-01, name: 翠苑一区应急消防柜组, kind: fire_cabinets, street: 翠苑街道,
     gateway: gw-cabinets-cuiyuan-01}
"""
PASSWORD = "duty-password-1"


class CollectorProcess:
    """`users` are NAME:ROLE:PASSWORD (default: duty, a duty officer); `inventory` a file (default: three sites);
    `db` the store (default: a SQLite file in `folder`)."""

    def __init__(self, folder: Path, broker_url: str, *, inventory: Path | None = None,
                 users: list[str] | None = None, extra: list[str] | None = None, db: str | None = None) -> None:
        self.folder = folder
        self.broker_url = broker_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.inventory = inventory
        self.users = users or [f"duty:duty_officer:{PASSWORD}"]
        self.extra = extra or []
        self.db = db or str(folder / "cloud.sqlite")  # or a postgresql:// URL several collectors share

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        inventory = self.inventory
        if inventory is None:
            inventory = self.folder / "inventory.yaml"
            inventory.write_text(INVENTORY)
        users = [arg for spec in self.users for arg in ("--user", spec)]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "devices.cli", "cloud", "--db", self.db,
            "--broker", self.broker_url, "--inventory", str(inventory), "--http", f"127.0.0.1:{self.port}",
            "--signing-key", str(signing_key()), *users, *self.extra, stdout=open(self.folder / "collector.out", "ab"),  # noqa: SIM115
            stderr=open(self.folder / "collector.log", "ab"))  # noqa: SIM115
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.url}/api/openapi.json")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError("the collector's API never came up")

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()

    async def token(self) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{self.url}/api/login", json={"user": "duty", "password": PASSWORD,
                                                                         "token": True})
            response.raise_for_status()
            return str(response.json()["token"])

    @contextlib.asynccontextmanager
    async def events(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """Alarm events from /api/stream, as (arrival time, event) pairs put on a queue."""
        token = await self.token()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        opened = asyncio.Event()

        async def read() -> None:
            async with httpx.AsyncClient(timeout=None) as client, client.stream(
                    "GET", f"{self.url}/api/stream", headers={"Authorization": f"Bearer {token}"}) as response:
                opened.set()
                event = ""
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "alarm":
                        payload = json.loads(line[5:])
                        queue.put_nowait({"at": asyncio.get_running_loop().time(), **payload["alarm"]})
        task = asyncio.get_running_loop().create_task(read(), name="event-stream-reader")
        await asyncio.wait_for(opened.wait(), 10)
        try:
            yield queue
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
