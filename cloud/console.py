"""The web console's routes: the page, its scripts and styles, all served from this package (no CDN:
the duty network is closed). The console is a client of the JSON API and the event stream only."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

__all__ = ["console_routes"]

ASSETS = Path(__file__).with_name("console")
# Everything from here; inline styles only because the chart library sizes its canvas that way.
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
          "connect-src 'self'; frame-ancestors 'none'")


async def page(request: Request) -> Response:
    return FileResponse(ASSETS / "index.html", headers={"Cache-Control": "no-cache", "Content-Security-Policy": POLICY,
                                                        "X-Content-Type-Options": "nosniff"})


def console_routes() -> list[BaseRoute]:
    return [Route("/", page, include_in_schema=False),
            Mount("/static", StaticFiles(directory=ASSETS), name="static")]
