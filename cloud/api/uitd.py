"""The GB/T 26875.3 link to the city's monitoring centre as the console shows it: every frame exchanged."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint
from cloud.auth import Session

__all__ = ["routes"]

COMMANDS = {0: "", 1: "control", 2: "send", 3: "confirm", 4: "request", 5: "answer", 6: "deny"}


@endpoint()
async def frames(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The newest frames exchanged with the monitoring centre (?site= one site's; ?limit= at most 1000).
    """
    site = request.query_params.get("site") or None
    limit = request.query_params.get("limit", "200")
    if not (limit.isascii() and limit.isdigit()) or not 1 <= int(limit) <= 1000:
        raise HttpError(400, "limit is 1 to 1000", "bad_field", field="limit")
    rows = await api.read(lambda s: s.uitd_frames(site, int(limit)))
    for row in rows:
        row["command_name"] = COMMANDS.get(row["command"], str(row["command"]))
    return JSONResponse(rows)


routes = [Route("/api/uitd/frames", frames)]
