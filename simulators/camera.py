"""A simulated camera recorder's still pictures: JPEG over HTTP, as an NVR serves its snapshot URI.

The picture is drawn afresh for every request (Pillow): the shed with its bikes, the camera's name and the
time burnt in like an on-screen display, and a smoke overlay as thick as the site's smoke is (the
highest obscuration any smoke detector of the site reads, or a charging box's lid sensor). The HTTP side
serves the path the camera's profile names (`snapshot.path`, `{channel}` in its query) on a loopback port
of its own, next to the camera's Modbus TCP port.
"""

from __future__ import annotations

import asyncio
import io
import socket
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import uvicorn
from PIL import Image, ImageDraw
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from simulators.device import SimDevice
from simulators.quiet_server import QuietServer

__all__ = ["CameraHttp", "picture"]

WIDTH, HEIGHT = 640, 360


def picture(camera: str, channel: int, smoke: float, at: float) -> bytes:
    """One frame of the scene as JPEG; `smoke` from 0 (clear) to 1 (the shed cannot be seen)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (58, 64, 72))
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle((0, 250, WIDTH, HEIGHT), fill=(90, 90, 84))  # the floor
    draw.polygon([(40, 120), (320, 60), (600, 120)], fill=(120, 128, 140))  # the shed's roof
    for pillar in (60, 580):
        draw.rectangle((pillar, 120, pillar + 10, 260), fill=(150, 150, 150))
    for n in range(6):  # bikes at the charging posts
        x = 90 + n * 82
        draw.ellipse((x, 222, x + 28, 250), outline=(20, 20, 20), width=4)
        draw.ellipse((x + 40, 222, x + 68, 250), outline=(20, 20, 20), width=4)
        draw.line((x + 14, 236, x + 34, 206, x + 54, 236), fill=(30 + n * 30, 80, 160), width=5)
        draw.rectangle((x + 26, 150, x + 36, 200), fill=(40, 140, 90))  # the charging post
    if smoke > 0:
        level = max(0.0, min(1.0, smoke))
        for n in range(12):  # billows rising from the middle of the shed
            x, y = 200 + (n * 53) % 260, 220 - n * 16
            r = 50 + n * 9
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(205, 205, 205, int(70 + 130 * level)))
        draw.text((WIDTH - 120, 12), "SMOKE", fill=(255, 80, 60))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    draw.rectangle((0, 0, 300, 24), fill=(0, 0, 0, 140))
    draw.text((8, 6), f"{camera} CH{channel}  {stamp}", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


class CameraHttp:
    """The snapshot endpoint of a bus's cameras (usually one recorder), on a loopback port."""

    def __init__(self, cameras: list[SimDevice], smoke: Callable[[], float], host: str = "127.0.0.1") -> None:
        self.cameras = [c for c in cameras if c.profile.snapshot is not None]
        self.smoke = smoke
        self.host = host
        self.port = 0
        self.served = 0
        source = self.cameras[0].profile.snapshot if self.cameras else None
        parts = urlsplit(source.path if source else "/")
        self.path = parts.path
        self.channel_param = next((k for k, v in parse_qsl(parts.query) if v == "{channel}"), "channel")

    def app(self) -> Starlette:
        async def snapshot(request: Request) -> Response:
            try:
                channel = int(request.query_params.get(self.channel_param, "1"))
            except ValueError:
                return PlainTextResponse("bad channel", status_code=400)
            camera = self.cameras[0]
            if not 1 <= channel <= camera.profile.groups.get("channel", 1):
                return PlainTextResponse("no such channel", status_code=404)
            if not camera.value(f"channel{channel}.online", True) or camera.faults.silent(time.monotonic()):
                return PlainTextResponse("channel offline", status_code=503)
            self.served += 1
            body = await asyncio.to_thread(picture, camera.id, channel, self.smoke(), time.time())
            return Response(body, media_type="image/jpeg")
        return Starlette(routes=[Route(self.path, snapshot)])

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        sock.listen(16)
        self.port = sock.getsockname()[1]
        server = QuietServer(uvicorn.Config(self.app(), log_level="warning", lifespan="off",
                                            timeout_graceful_shutdown=1))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if ready is not None:
            ready.set()
        await task
