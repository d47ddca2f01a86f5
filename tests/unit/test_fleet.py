"""The fleet page's API (issue 16.5): versions from births, health and trends from sampled heartbeats, and
the filters an operator uses: behind the newest agent, outbox growing, bus errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from cloud.api import build_api
from cloud.auth import Auth
from cloud.event_hub import EventHub
from cloud.store import Store
from devices.contract import as_birth


def health(outbox: int, requests: int, errors: int) -> dict[str, object]:
    return {"cpu_percent": 12.5, "rss_mb": 48.0, "disk_free_mb": 900.0, "clock_trusted": True,
            "outbox": {"telemetry": {"records": outbox, "bytes": outbox * 100}},
            "buses": {"rs485-1": {"requests": requests, "timeouts": errors, "frame_errors": 0}}}


@pytest_asyncio.fixture
async def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    store = Store(f"{tmp_path}/s.db")
    now = [time.time() - 600]  # five minutes of heartbeats, ending now
    monkeypatch.setattr("cloud.store.gateways.time.time", lambda: now[0])
    for gw, version in (("gw-a", "0.1.0"), ("gw-b", "0.2.0"), ("gw-c", "0.2.0")):
        store.save_birth(f"site-{gw}", gw, as_birth({"boot": "b", "site": f"site-{gw}", "agent_version": version,
                                                     "config_version": "c0ffee", "profiles_version": "beef00"}))
    for minute in range(5):  # a heartbeat a minute: gw-a's outbox grows, gw-b's buses fail, gw-c is well
        now[0] += 60
        store.gateway_heartbeat("site-gw-a", "gw-a", minute, health(10 * (minute + 1), 100 * minute, 0))
        store.gateway_heartbeat("site-gw-b", "gw-b", minute, health(0, 100 * minute, 20 * minute))
        store.gateway_heartbeat("site-gw-c", "gw-c", minute, health(5, 100 * minute, 0))
        store.gateway_heartbeat("site-gw-c", "gw-c", minute, health(999, 0, 0))  # within the minute: not sampled
    auth = Auth(store)
    auth.add_user("maint", "a long password", "maintenance")

    async def sent(*args: object) -> None:
        return None
    app = build_api(store, auth, EventHub(), sent)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as c:
        token = (await c.post("/api/login", json={"user": "maint", "password": "a long password",
                                                    "token": True})).json()["token"]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c
    store.close()


async def test_the_fleet_shows_versions_health_and_who_needs_someone(client: httpx.AsyncClient) -> None:
    answer = (await client.get("/api/fleet")).json()
    assert answer["newest_agent"] == "0.2.0"
    rows = {g["id"]: g for g in answer["gateways"]}
    assert (rows["gw-a"]["agent_version"], rows["gw-a"]["config_version"], rows["gw-a"]["cpu"]) == ("0.1.0", "c0ffee",
                                                                                                   12.5)
    assert rows["gw-c"]["outbox"] == 5  # the sampled heartbeat, not the one inside the same minute
    assert [g["id"] for g in (await client.get("/api/fleet?only=behind")).json()["gateways"]] == ["gw-a"]
    assert [g["id"] for g in (await client.get("/api/fleet?only=outbox_growing")).json()["gateways"]] == ["gw-a"]
    errors = (await client.get("/api/fleet?only=bus_errors")).json()["gateways"]
    assert [g["id"] for g in errors] == ["gw-b"] and errors[0]["error_rate"] == pytest.approx(0.2)
    samples = (await client.get("/api/fleet/gw-a/samples?hours=168")).json()
    assert [s["outbox"] for s in samples] == [10, 20, 30, 40, 50]
    assert (await client.get("/api/fleet?only=everything")).status_code == 400
