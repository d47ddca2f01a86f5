"""A gateway's log lines on request: asked for as a `logs` command (time range, level, text), sent up by
the agent compressed and chunked behind its alarms, kept here, read in the console or downloaded."""

from __future__ import annotations

import gzip
import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, attachment, endpoint, path_id, read_body
from cloud.api.commands import dispatch
from cloud.auth import Session

__all__ = ["routes"]

LEVELS = ("debug", "info", "warning", "error", "critical")
MAX_HOURS = 24 * 14


@endpoint("logs.fetch")
async def ask(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Ask a gateway for its log lines ({"hours": 6, "level": "warning", "text": "timeout"}); answered
      with the command's id; the lines appear under GET /api/fleet/{gateway}/logs when they arrive.
    """
    assert session is not None
    gateway = str(request.path_params["gateway"])
    body = await read_body(request)
    hours, level, text = body.get("hours", 1), body.get("level", "info"), body.get("text", "")
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not 0 < hours <= MAX_HOURS:
        raise HttpError(400, f"hours is more than 0 and at most {MAX_HOURS}", "bad_field", field="hours")
    if level not in LEVELS or not isinstance(text, str) or len(text) > 200:
        raise HttpError(400, f"level is one of {', '.join(LEVELS)}; text at most 200 characters", "bad_field",
                        field="level")
    known = await api.read(lambda s: s.gateway(gateway))
    if known is None:
        raise HttpError(404, f"no gateway {gateway!r}", "not_found")
    now = time.time()
    cmd = {"id": f"cmd-{uuid.uuid4().hex[:12]}", "action": "logs",
           "query": {"since": now - float(hours) * 3600, "until": now + 60, "level": level, "text": text}}
    return JSONResponse(await dispatch(api, session.user, str(known["site"]), gateway, cmd), status_code=202)


@endpoint("logs.fetch")
async def bundles(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The log bundles a gateway sent, newest first (not their lines).
    """
    gateway = str(request.path_params["gateway"])
    return JSONResponse(await api.read(lambda s: s.log_bundles(gateway)))


@endpoint("logs.fetch")
async def bundle(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A log bundle's lines (text, one JSON object a line), or ?download=1 the .log.gz as it came.
    """
    bundle_id = path_id(request.path_params["id"])
    found = await api.read(lambda s: s.log_bundle(bundle_id))
    if found is None:
        raise HttpError(404, "no such log bundle", "not_found")
    gateway, packed = found
    if request.query_params.get("download"):
        return attachment(packed, "application/gzip", f"{gateway}-{bundle_id}.log.gz")
    return Response(gzip.decompress(packed), media_type="text/plain; charset=utf-8",
                    headers={"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff"})


routes = [
    Route("/api/fleet/{gateway}/logs", ask, methods=["POST"]),
    Route("/api/fleet/{gateway}/logs", bundles),
    Route("/api/logs/{id}", bundle),
]
