"""Issue 15 on a running district: the first minute of a fire. A camera picture behind the alarm, people
reached by SMS, voice and group robots, and the nearest micro station dispatched."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.async_api import expect

from tests.browser.conftest import District

pytestmark = pytest.mark.asyncio(loop_scope="module")
SLOW = 90_000  # ms
SHED = "shed-xixi-01"


async def alarm_of(district: District, key: str) -> dict[str, Any]:
    deadline = time.monotonic() + SLOW / 1000
    while not (found := [a for a in await district.api("/api/alarms") if a["key"] == key]):
        assert time.monotonic() < deadline, f"the alarm {key} never came"
        await asyncio.sleep(0.3)
    return dict(found[0])


async def pictures_of(district: District, alarm: int, at_least: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + SLOW / 1000
    while len(shots := (await district.api(f"/api/alarms/{alarm}"))["snapshots"]) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} pictures came"
        await asyncio.sleep(0.3)
    return list(shots)


def smoky(jpeg: bytes) -> float:
    """How light the middle of the picture is (0-255): the simulator's smoke is light grey on a dark shed."""
    with Image.open(io.BytesIO(jpeg)) as image:
        middle = image.convert("L").crop((220, 120, 420, 240)).resize((1, 1), Image.Resampling.BOX)
        return float(middle.getpixel((0, 0)))  # type: ignore[arg-type]


async def test_smoke_brings_a_camera_picture_after_its_alarm_shown_in_the_detail_and_a_fresh_one_on_request(
        district: District) -> None:
    await district.control("POST", f"/sites/{SHED}/devices/sd2/signals", {"values": {"alarm_state": "alarm"}})
    try:
        alarm = await alarm_of(district, "sd2/smoke")
        (shot,) = await pictures_of(district, alarm["id"], 1)
        detail = await district.api(f"/api/alarms/{alarm['id']}")
        assert shot["received_at"] >= detail["received_at"]  # after its alarm, never before it
        assert shot["taken_at"] >= detail["raised_at"] - 1 and shot["camera"] == "cam1"
        async with httpx.AsyncClient(base_url=district.collector.url) as client:
            login = await client.post("/api/login", json={"user": "duty", "password": "duty-pass-1", "token": True})
            image = await client.get(f"/api/snapshots/{shot['id']}/image",
                                     headers={"Authorization": f"Bearer {login.json()['token']}"})
        async with httpx.AsyncClient(base_url=district.collector.url) as stranger:  # no session cookie
            anonymous = await stranger.get(f"/api/snapshots/{shot['id']}/image")
        assert image.headers["content-type"] == "image/jpeg" and image.content.startswith(b"\xff\xd8\xff")
        assert "default-src 'none'" in image.headers["content-security-policy"]
        assert anonymous.status_code == 401
        assert smoky(image.content) > 150  # the camera saw the smoke its shed is in

        page = await district.page("duty")
        await page.goto(f"{district.collector.url}/#/duty/{alarm['id']}")
        newest = page.locator("#snapshot-newest img")
        await expect(newest).to_be_visible(timeout=SLOW)
        assert await newest.evaluate("img => img.complete ? img.naturalWidth : new Promise((done) => "
                                     "{ img.onload = () => done(img.naturalWidth); })") == 640
        await expect(page.locator("#snapshot-newest figcaption")).to_contain_text("cam1")
        await district.shot(page, "alarm-snapshot-zh")

        await page.click("#snapshot-fresh")
        await expect(page.locator("#detail-pictures [role=status]")).to_contain_text("已抓拍", timeout=SLOW)
        later = await pictures_of(district, alarm["id"], 2)
        assert later[0]["command"].startswith("cmd-") and later[0]["taken_at"] > shot["taken_at"]
        await expect(page.locator("#snapshot-newest")).to_have_attribute("data-snapshot", str(later[0]["id"]),
                                                                         timeout=SLOW)
        english = await district.page("duty", lang="en")
        await english.goto(f"{district.collector.url}/#/duty/{alarm['id']}")
        await expect(english.locator("#detail-pictures")).to_contain_text("Camera pictures", timeout=SLOW)
        await district.shot(english, "alarm-snapshot-en")
    finally:
        await district.control("POST", f"/sites/{SHED}/devices/sd2/signals", {"values": {"alarm_state": "normal"}})
