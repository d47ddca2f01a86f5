"""Camera snapshots for alarms: a still picture fetched over HTTP and sent behind the alarm it belongs to.

A fire or supervisory alarm of a device that a camera channel covers (the site file's `cameras`) asks
that camera for a JPEG, the way ONVIF snapshot URIs are read: one HTTP GET of the profile's snapshot
path on the camera's host. The alarm is committed first and never waits: the picture is taken in a task
of its own afterwards, cut into chunks (devices.contract.Attachment) and committed to the outbox's
`attachment` lane in one transaction, which the uplink sends after every alarm and event and before
telemetry. A person can ask for a fresh picture (the `snapshot` command).

The one module of the agent that speaks HTTP (httpx); `fetch` is the seam unit tests replace.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import httpx

from devices.contract import ATTACHMENT_MAX, Alarm
from devices.profile import Profile
from devices.site_config import CameraConfig, SiteConfig
from edge.outbox import Outbox
from edge.records import RecordMaker

__all__ = ["SnapshotError", "Snapshots", "http_fetch"]

FETCH_TIMEOUT_S: Final = 5.0
SNAPSHOT_CLASSES: Final = ("fire", "supervisory")
LANE_BUDGET: Final = 24 * 1024 * 1024  # pictures waiting in the outbox: past this, new ones are not taken
JPEG_START: Final = b"\xff\xd8\xff"

Fetch = Callable[[str], Awaitable[bytes]]


class SnapshotError(Exception):
    """A picture that could not be taken (the camera did not answer, or not with a JPEG)."""


async def http_fetch(url: str) -> bytes:
    """GET a still picture, refusing anything but a JPEG of at most ATTACHMENT_MAX bytes."""
    try:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as client, client.stream("GET", url) as answer:
            if answer.status_code != 200:
                raise SnapshotError(f"HTTP {answer.status_code} from {url}")
            body = bytearray()
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > ATTACHMENT_MAX:
                    raise SnapshotError(f"picture from {url} is over {ATTACHMENT_MAX} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise SnapshotError(f"{url}: {type(exc).__name__}: {exc}") from None


class Snapshots:
    def __init__(self, site: SiteConfig, profiles: Mapping[str, Profile], outbox: Outbox, records: RecordMaker, *,
                 bus_map: Mapping[str, Mapping[str, Any]], spawn: Callable[[Any, str], object],
                 stored: Callable[[], None], log: Any, fetch: Fetch = http_fetch,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.site = site
        self.outbox = outbox
        self.records = records
        self._spawn = spawn
        self._stored = stored
        self._log = log
        self._fetch = fetch
        self._monotonic = monotonic
        self._urls: dict[tuple[str, int], str] = {}
        for cam in site.cameras:
            device = site.device(cam.device)
            source = profiles[device.profile].snapshot
            bus = site.bus(device.bus)
            served = bus_map.get(bus.id, {})  # a simulated camera serves its pictures on a loopback port
            if source is not None:
                self._urls[(cam.device, cam.channel)] = source.url(
                    str(served.get("host", bus.host)), cam.channel, served.get("http_port"))
        self._last: dict[tuple[str, int, str], float] = {}
        self.taken = 0
        self.failed = 0

    def after(self, alarms: tuple[Alarm, ...]) -> None:
        """Alarms have just been committed: take the pictures they call for, each in its own task."""
        for alarm in alarms:
            if alarm.state != "active" or alarm.cls not in SNAPSHOT_CLASSES or not alarm.device:
                continue
            for cam in self.site.cameras_on(alarm.device):
                mark = (cam.device, cam.channel, alarm.key)
                now = self._monotonic()
                if mark in self._last and now - self._last[mark] < cam.every_s:
                    continue  # a flapping alarm takes one picture per camera a minute (`every`), not one per flap
                self._last[mark] = now
                self._spawn(self._take_quietly(cam, alarm.key), f"snapshot:{cam.device}:{alarm.key}")

    def cameras_for(self, key: str, device: str = "") -> list[CameraConfig]:
        """The channels to ask for an alarm's fresh picture: the named camera's, or every one that covers
        the alarm's device (the first part of its key), or for an alarm of the whole site every camera."""
        if device:
            return [c for c in self.site.cameras if c.device == device]
        return self.site.cameras_on(key.split("/", 1)[0]) or list(self.site.cameras)

    async def take(self, cam: CameraConfig, key: str, command: str = "") -> int:
        """Fetch one picture and commit its chunks; returns its size. SnapshotError when it cannot."""
        url = self._urls.get((cam.device, cam.channel))
        if url is None:
            raise SnapshotError(f"{cam.device} has no snapshot source")
        waiting = self.outbox.depth().get("attachment", {}).get("bytes", 0)
        if waiting > LANE_BUDGET:
            raise SnapshotError(f"{waiting} bytes of pictures are still waiting to be sent")
        picture = await self._fetch(url)
        if not picture.startswith(JPEG_START):
            raise SnapshotError(f"{url} did not answer with a JPEG")
        if len(picture) > ATTACHMENT_MAX:
            raise SnapshotError(f"picture from {url} is over {ATTACHMENT_MAX} bytes")
        ref = f"{cam.device}.{cam.channel}.{int(self.records.clock.wall() * 1000)}"
        self.outbox.append_many(self.records.attachment(picture, key=key, device=cam.device, channel=cam.channel,
                                                        ref=ref, media="image/jpeg", command=command))
        self.taken += 1
        self._log.info("snapshot taken", camera=cam.device, channel=cam.channel, key=key, bytes=len(picture))
        self._stored()
        return len(picture)

    async def _take_quietly(self, cam: CameraConfig, key: str) -> None:
        try:
            await self.take(cam, key)
        except SnapshotError as exc:
            self.failed += 1
            self._log.warning("snapshot not taken", camera=cam.device, key=key, reason=str(exc))
