"""Camera snapshots (issue 15.3): the agent takes a picture after an alarm of a covered device and queues it
behind the alarm, chunked; the collector puts the chunks together in any order, checks the picture and
keeps it beside its alarm, and sets aside one that does not add up. The camera's HTTP is the seam here
(a fetch that returns the simulator's own drawing); the real path is in tests/browser/test_records.py."""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog
from PIL import Image

from cloud.snapshot_image import PictureRefused, check_picture
from cloud.store import Store
from devices.contract import ATTACHMENT_CHUNK, Attachment, as_birth, as_record, decode_record
from devices.errors import SiteConfigError
from devices.profile_loader import load_profile_dir
from devices.site_config import load_site
from edge.clock import FakeClock
from edge.outbox import Outbox
from edge.records import RecordMaker
from edge.snapshots import SnapshotError, Snapshots
from simulators.camera import picture
from tests.conftest import PROFILES, SITES

SHED = SITES / "charging-shed.yaml"


class Rig:
    def __init__(self, tmp_path: Path, answer: bytes | Exception) -> None:
        profiles = load_profile_dir(PROFILES)
        self.site = load_site(SHED, profiles)
        self.clock = FakeClock()
        self.records = RecordMaker(self.site.id, self.clock)
        self.outbox = Outbox(tmp_path / "o.sqlite")
        self.asked: list[str] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.answer = answer
        self.snapshots = Snapshots(self.site, profiles, self.outbox, self.records,
                                   bus_map={"nvr": {"host": "127.0.0.1", "http_port": 8081}}, spawn=self.spawn,
                                   stored=lambda: None, log=structlog.get_logger("test"), fetch=self.fetch,
                                   monotonic=lambda: self.clock.mono())

    async def fetch(self, url: str) -> bytes:
        self.asked.append(url)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    def alarm(self, device: str, cls: str = "fire", active: bool = True) -> Any:
        alarm = self.records.alarm(key=f"{device}/smoke", device=device, rule="smoke", cls=cls, severity=1,
                                   active=active, value=True, text="烟感报警")
        self.outbox.append(alarm)
        return alarm

    async def settle(self) -> None:
        await asyncio.gather(*self.tasks)
        self.tasks.clear()

    def lanes(self) -> list[str]:
        return [r.lane for r in self.outbox.next_batch(100)]


def noisy_jpeg(width: int = 1280, height: int = 720) -> bytes:
    """A picture too big for one chunk (noise does not compress)."""
    image = Image.frombytes("RGB", (width, height), bytes((i * 7919) % 251 for i in range(width * height * 3)))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


async def test_a_fire_of_a_covered_device_queues_a_picture_behind_its_alarm_and_before_telemetry(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path, picture("cam1", 1, 1.0, time.time()))
    rig.outbox.append(rig.records.reading("sd1", {"obscuration": 4.5}))
    rig.snapshots.after((rig.alarm("sd1"),))
    assert rig.lanes() == ["alarm", "telemetry"]  # the alarm is in and sendable before any picture is asked for
    await rig.settle()
    assert rig.asked == ["http://127.0.0.1:8081/cgi-bin/snapshot.cgi?channel=1"]  # the profile's path, the bus host
    assert rig.lanes() == ["alarm", "attachment", "telemetry"]
    chunk = decode_record(rig.outbox.next_batch(100, lane="attachment")[0].body, "attachments")
    assert isinstance(chunk, Attachment)
    assert (chunk.key, chunk.device, chunk.channel, chunk.part, chunk.parts) == ("sd1/smoke", "cam1", 1, 0, 1)
    assert chunk.data == rig.answer and chunk.sha256 == hashlib.sha256(chunk.data).hexdigest()


async def test_only_fire_and_supervisory_alarms_that_a_camera_covers_take_pictures_once_a_minute(
        tmp_path: Path) -> None:
    rig = Rig(tmp_path, picture("cam1", 1, 0.0, time.time()))
    rig.snapshots.after((rig.alarm("sd1", cls="prewarning"), rig.alarm("sd2", active=False), rig.alarm("cam1")))
    await rig.settle()
    assert rig.asked == []  # a prewarning, a clear, and the camera itself (covered by nothing)
    rig.snapshots.after((rig.alarm("sd1"),))
    rig.snapshots.after((rig.alarm("sd1"),))  # the same alarm flapping
    await rig.settle()
    rig.clock.advance(61)
    rig.snapshots.after((rig.alarm("sd1"),))
    await rig.settle()
    assert len(rig.asked) == 2


async def test_a_big_picture_goes_in_chunks_and_a_camera_that_fails_leaves_the_alarm_alone(tmp_path: Path) -> None:
    big = noisy_jpeg()
    assert len(big) > 2 * ATTACHMENT_CHUNK
    rig = Rig(tmp_path, big)
    cam = rig.site.cameras[0]
    assert await rig.snapshots.take(cam, "sd1/smoke", command="cmd-1") == len(big)
    chunks = [decode_record(r.body, "attachments") for r in rig.outbox.next_batch(100, lane="attachment")]
    assert [c.part for c in chunks if isinstance(c, Attachment)] == list(range(len(chunks)))
    assert b"".join(c.data for c in chunks if isinstance(c, Attachment)) == big
    for answer in (b"<html>login</html>", SnapshotError("HTTP 401 from the camera")):
        other = Rig(tmp_path / str(len(rig.asked)), answer)
        other.snapshots.after((other.alarm("sd1"),))
        await other.settle()
        assert other.lanes() == ["alarm"] and other.snapshots.failed == 1
        rig.asked.append("x")


def test_cameras_in_a_site_file_are_checked_with_the_line(tmp_path: Path) -> None:
    profiles = load_profile_dir(PROFILES)
    text = SHED.read_text()
    for wrong, says in (("covers: [shed]", "neither a device nor a group"), ("device: cam1, channel: 1",
                        "device: sd1, channel: 1"), ("channel: 1, covers", "channel: 9, covers")):
        bad = tmp_path / "bad.yaml"
        if wrong.startswith("covers"):
            bad.write_text(text.replace(wrong, "covers: [attic]"))
        else:
            bad.write_text(text.replace(wrong, says))
        with pytest.raises(SiteConfigError) as caught:
            load_site(bad, profiles)
        assert f"{bad}:" in str(caught.value) and "cameras" in str(caught.value)


def chunks_of(body: bytes, ref: str = "cam1.1.a.1", *, size: int | None = None, digest: str | None = None,
              key: str = "sd1/smoke") -> list[Attachment]:
    pieces = [body[i:i + 40_000] for i in range(0, len(body), 40_000)]
    out = []
    for n, piece in enumerate(pieces):
        record = as_record({"type": "attachment", "id": f"o:{ref}:{n}", "site": "shed-xixi-01", "t": time.time(),
                            "mono": 1.0, "trusted": True, "key": key, "device": "cam1", "channel": 1, "ref": ref,
                            "media": "image/jpeg", "part": n, "parts": len(pieces), "size": size or len(body),
                            "sha256": digest or hashlib.sha256(body).hexdigest(), "data": piece,
                            "taken": time.time()})
        assert isinstance(record, Attachment)
        out.append(record)
    return out


def test_the_collector_puts_chunks_together_in_any_order_once_and_shows_them_with_their_alarm(store_at: str) -> None:
    store = Store(store_at)
    store.save_birth("shed-xixi-01", "gw-shed-xixi-01", as_birth({"boot": "b", "site": "shed-xixi-01"}))
    alarm = as_record({"type": "alarm", "id": "o:1", "site": "shed-xixi-01", "t": time.time(), "mono": 1.0,
                       "trusted": True, "key": "sd1/smoke", "class": "fire", "severity": 1, "state": "active",
                       "device": "sd1"})
    store.store_records("shed-xixi-01", "gw-shed-xixi-01", [alarm])
    big = noisy_jpeg(640, 480)
    chunks = chunks_of(big)
    assert len(chunks) >= 3
    first = store.store_records("shed-xixi-01", "gw-shed-xixi-01", list(reversed(chunks[1:])))
    assert first == ([c.id for c in reversed(chunks[1:])], len(chunks) - 1)
    (row,) = store.alarms()
    assert store.snapshots_of(row) == []  # not whole yet
    store.store_records("shed-xixi-01", "gw-shed-xixi-01", chunks[:1])
    assert store.touched == [row["id"]]  # the alarm's detail is worth drawing again
    store.store_records("shed-xixi-01", "gw-shed-xixi-01", chunks)  # a replay of all of it
    (shot,) = store.snapshots_of(row)
    assert (shot["camera"], shot["channel"], shot["size"], shot["width"], shot["height"]) == ("cam1", 1, len(big),
                                                                                               640, 480)
    assert store.snapshot_image(shot["id"]) == big


def test_a_picture_that_does_not_add_up_is_set_aside_with_the_reason(store_at: str) -> None:
    store = Store(store_at)
    store.save_birth("shed-xixi-01", "gw-shed-xixi-01", as_birth({"boot": "b", "site": "shed-xixi-01"}))
    good = picture("cam1", 1, 0.0, time.time())
    store.store_records("shed-xixi-01", "gw-shed-xixi-01", chunks_of(good, "r1", digest="0" * 64))
    store.store_records("shed-xixi-01", "gw-shed-xixi-01", chunks_of(b"\xff\xd8\xff not a picture", "r2"))
    reasons = [q["reason"] for q in store.quarantined("gw-shed-xixi-01")]
    assert any("r1" in r and "SHA-256" in r for r in reasons) and any("r2" in r and "not a picture" in r
                                                                       for r in reasons)
    assert [a["key"] for a in store.alarms()] == ["gw-shed-xixi-01/ingest-error"]
    assert store.sql.execute("SELECT COUNT(*) FROM snapshots").rows[0][0] == 0


def test_only_a_jpeg_of_camera_size_is_a_picture() -> None:
    assert check_picture(picture("cam1", 1, 0.5, time.time())).__dict__ == {"width": 640, "height": 360}
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    for body, says in ((png.getvalue(), "not a JPEG"), (b"GIF89a", "not a picture"), (b"", "not a picture")):
        with pytest.raises(PictureRefused, match=says):
            check_picture(body)
    # the record itself refuses what the contract does not allow, before any of this
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"type": "attachment", "media": "image/svg+xml"}, Attachment)
