"""Floor plans: what an uploaded image may be (cloud.plan_image), plans and device positions in the store
(both engines), and the API's upload, image and placement (roles, refusals, the served image's headers)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from cloud.api import build_api
from cloud.auth import Auth
from cloud.event_hub import EventHub
from cloud.plan_image import PlanRefused, check_plan
from cloud.store import Store
from devices.contract import as_birth

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 500"><rect x="10" y="10" width="780" '
       b'height="480" fill="#eef"/><text x="20" y="40">1F</text></svg>')


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff" * width * 3 for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_a_plan_is_a_png_or_an_svg_that_can_run_nothing() -> None:
    assert check_plan(png(40, 30)).__dict__ == {"media_type": "image/png", "width": 40, "height": 30}
    assert check_plan(SVG).__dict__ == {"media_type": "image/svg+xml", "width": 800, "height": 500}
    refused = {
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9"><script>alert(1)</script></svg>': "<script>",
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9" onload="alert(1)"/>': "event handlers",
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink" viewBox="0 0 9 9">'
        b'<image x:href="http://evil.example/a.png"/></svg>': "link outside",
        b'<!DOCTYPE svg [<!ENTITY a "aaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>': "DOCTYPE",
        b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>': "viewBox",
        b"GIF89a....": "neither a PNG nor",
        b"": "empty",
    }
    for body, reason in refused.items():
        with pytest.raises(PlanRefused, match=reason):
            check_plan(body)
    with pytest.raises(PlanRefused) as large:
        check_plan(b"\x89PNG\r\n\x1a\n" + b"\x00" * (2 * 1024 * 1024))
    assert large.value.code == "plan_too_large"


def test_plans_and_positions_are_kept_per_site(store_at: str) -> None:
    store = Store(store_at)
    try:
        store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "seq": 0, "bdseq": 1, "devices": [
            {"id": "sd1", "values": {}}, {"id": "sd2", "values": {}}]}))
        plan = store.add_plan("shed-1", "一层", "image/svg+xml", 800, 500, SVG, "admin")
        assert plan["positions"] == {} and store.plan_image(plan["id"]) == ("image/svg+xml", SVG)
        placed = store.place_devices(plan["id"], {"sd1": (0.25, 0.5), "sd2": (0.75, 0.5)})
        assert placed["positions"] == {"sd1": {"x": 0.25, "y": 0.5}, "sd2": {"x": 0.75, "y": 0.5}}
        moved = store.place_devices(plan["id"], {"sd1": (0.3, 0.6), "sd2": None})
        assert moved["positions"] == {"sd1": {"x": 0.3, "y": 0.6}}
        with pytest.raises(ValueError, match="no device 'sd9'"):
            store.place_devices(plan["id"], {"sd9": (0.1, 0.1)})
        assert [p["name"] for p in store.plans("shed-1")] == ["一层"] and store.plans("shed-2") == []
        assert store.delete_plan(plan["id"]) and store.plans("shed-1") == []
    finally:
        store.close()


@pytest_asyncio.fixture
async def client(tmp_path: object) -> AsyncIterator[httpx.AsyncClient]:
    store = Store(f"{tmp_path}/s.db")
    store.save_birth("shed-1", "gw1", as_birth({"boot": "b", "seq": 0, "bdseq": 1, "devices": [
        {"id": "sd1", "values": {}}]}))
    auth = Auth(store)
    for role in ("admin", "duty_officer"):
        auth.add_user(role, "a long password", role)

    async def sent(*args: object) -> None:
        return None
    app = build_api(store, auth, EventHub(), sent, inventory={"shed-1": {"name": "一号棚", "street": "西溪街道",
                                                                         "gateway": "gw1"}})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://collector") as c:
        for role in ("admin", "duty_officer"):
            token = (await c.post("/api/login", json={"user": role, "password": "a long password",
                                                        "token": True})).json()["token"]
            c.headers[f"x-{role}"] = f"Bearer {token}"
        yield c
    store.close()


async def test_an_admin_uploads_a_plan_places_a_device_and_everyone_sees_it(client: httpx.AsyncClient) -> None:
    admin = {"Authorization": client.headers["x-admin"]}
    duty = {"Authorization": client.headers["x-duty_officer"]}
    up = await client.post("/api/sites/shed-1/plans?name=一层", headers=admin, content=SVG)
    assert up.status_code == 201, up.text
    plan = up.json()["id"]
    assert (await client.post("/api/sites/shed-1/plans", headers=duty, content=SVG)).json()["code"] == "forbidden"
    evil = await client.post("/api/sites/shed-1/plans", headers=admin,
                             content=b'<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>')
    assert evil.status_code == 400 and evil.json()["code"] == "bad_plan"
    assert (await client.post("/api/sites/nowhere/plans", headers=admin, content=SVG)).status_code == 404
    placed = await client.post(f"/api/plans/{plan}/positions", headers=admin,
                               json={"positions": {"sd1": {"x": 0.5, "y": 0.25}}})
    assert placed.json()["positions"] == {"sd1": {"x": 0.5, "y": 0.25}}
    outside = await client.post(f"/api/plans/{plan}/positions", headers=admin,
                                json={"positions": {"sd1": {"x": 1.5, "y": 0}}})
    assert outside.json()["code"] == "bad_field"
    listed = (await client.get("/api/sites/shed-1/plans", headers=duty)).json()
    assert [(p["name"], p["positions"]) for p in listed] == [("一层", {"sd1": {"x": 0.5, "y": 0.25}})]
    image = await client.get(f"/api/plans/{plan}/image", headers=duty)
    assert image.content == SVG and image.headers["content-type"].startswith("image/svg+xml")
    assert "default-src 'none'" in image.headers["content-security-policy"]
