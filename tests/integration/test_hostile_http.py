"""Hostile HTTP against a real collector process (issue 11.6, 11.7): a 400 MB unauthenticated login body is
refused at its first 64 KiB without the collector's memory growing, and an open event stream ends when its
session does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.support.collector_process import CollectorProcess
from tests.support.mosquitto import Mosquitto


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_a_huge_login_body_is_refused_early_and_a_stream_ends_with_its_session(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mq")
    broker.start()
    collector = CollectorProcess(tmp_path / "cloud", broker.url)
    await collector.start()
    try:
        assert collector.proc is not None
        before = rss_mb(collector.proc.pid)
        sent = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal sent
            chunk = b" " * (1 << 20)
            for _ in range(400):
                sent += len(chunk)
                yield chunk
        async with httpx.AsyncClient(base_url=collector.url, timeout=30) as client:
            try:
                response = await client.post("/api/login", content=body(), headers={"content-type": "application/json"})
                assert response.status_code == 413
            except httpx.HTTPError:
                pass  # the collector answered 413 and closed while we were still sending: refused either way
            after = rss_mb(collector.proc.pid)  # (the server discards what it did not read: memory is the point)
            print(f"sent {sent >> 20} MB; collector RSS {before:.0f} -> {after:.0f} MB")
            assert after - before < 30, f"RSS grew from {before:.0f} to {after:.0f} MB"
            assert (await client.get("/api/openapi.json")).status_code == 200  # still serving

            # the event stream ends when its session does (sign-out here; a demotion works the same way)
            token = await collector.token()
            headers = {"Authorization": f"Bearer {token}"}
            ended = asyncio.Event()

            async def read() -> None:
                async with httpx.AsyncClient(timeout=None) as streaming, streaming.stream(
                        "GET", f"{collector.url}/api/stream", headers=headers) as response:
                    async for _ in response.aiter_lines():
                        pass
                ended.set()
            reader = asyncio.get_running_loop().create_task(read())
            await asyncio.sleep(1)
            assert not ended.is_set()
            signed_out = time.monotonic()
            assert (await client.post("/api/logout", headers=headers)).status_code == 200
            async with asyncio.timeout(15):
                await ended.wait()
            print(f"stream ended {time.monotonic() - signed_out:.1f} s after sign-out")
            await reader
    finally:
        await collector.stop()
        broker.stop()
