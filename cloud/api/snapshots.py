"""Camera pictures of alarms: served as checked JPEGs, and a fresh one asked of the site's gateway."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, path_id, read_body
from cloud.api.commands import dispatch
from cloud.auth import Session
from cloud.store import Store

__all__ = ["routes"]

# A picture is shown in <img> and may be nothing but a picture.
PICTURE_HEADERS = {"Content-Security-Policy": "default-src 'none'", "X-Content-Type-Options": "nosniff",
                   "Cache-Control": "private, max-age=86400, immutable"}
FRESH_TTL_S = 60.0  # a fresh picture asked for later than this is not fresh


@endpoint()
async def picture(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: One camera picture of an alarm (image/jpeg), as checked when it arrived.
    """
    snapshot_id = path_id(request.path_params["id"])
    found = await api.read(lambda s: s.snapshot_image(snapshot_id))
    if found is None:
        raise HttpError(404, "no such picture", "not_found")
    return Response(found, media_type="image/jpeg", headers=PICTURE_HEADERS)


@endpoint("alarm.handle")
async def fresh(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Ask the alarm's gateway for a fresh picture from its cameras ({"camera": "cam1"} for one only);
      answered with the command's id; the picture appears in the alarm when it arrives.
    """
    assert session is not None
    alarm_id = path_id(request.path_params["id"])
    camera = (await read_body(request)).get("camera", "")
    if not isinstance(camera, str) or len(camera) > 120:
        raise HttpError(400, "camera is a device id", "bad_field", field="camera")

    def where(store: Store) -> tuple[dict[str, Any], str] | None:
        alarm = store.alarm(alarm_id)
        if alarm is None:
            return None
        place = store.places({alarm["site"]}).get(alarm["site"], {})
        return alarm, str(place.get("gateway") or "")

    found = await api.read(where)
    if found is None:
        raise HttpError(404, "no such alarm", "not_found")
    alarm, gateway = found
    if not gateway:
        raise HttpError(409, "the alarm's site has no gateway heard from yet", "no_gateway")
    cmd = {"id": f"cmd-{uuid.uuid4().hex[:12]}", "action": "snapshot", "key": alarm["key"]}
    if camera:
        cmd["device"] = camera
    return JSONResponse(await dispatch(api, session.user, alarm["site"], gateway, cmd, FRESH_TTL_S), status_code=202)


routes = [
    Route("/api/snapshots/{id}/image", picture),
    Route("/api/alarms/{id}/snapshot", fresh, methods=["POST"]),
]
