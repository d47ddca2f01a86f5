"""Floor plans: a site's plan images (PNG or SVG, checked: cloud.plan_image) and where its devices sit."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, path_id, read_body
from cloud.auth import Session
from cloud.plan_image import MOST_BYTES, PlanRefused, check_plan
from cloud.store import Store

__all__ = ["routes"]

# An uploaded SVG is served as an image that may run nothing, whatever it says.
IMAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                 "X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300"}


async def _site(request: Request, api: Api) -> str:
    site = str(request.path_params["site"])
    if site not in api.inventory and not await api.read(lambda s: bool(s.places({site}))):
        raise HttpError(404, "no such site", "not_found")
    return site


@endpoint()
async def plans(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A site's floor plans, each with where its devices sit (x and y as fractions of the plan).
    """
    site = await _site(request, api)
    return JSONResponse(await api.read(lambda s: s.plans(site)))


@endpoint("plan.edit")
async def upload(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Upload a floor plan (the body is the PNG or SVG itself, at most 2 MB; ?name= names it). An SVG
      with scripts, event handlers, entities or links leaving the file is refused.
    """
    assert session is not None
    site, user = await _site(request, api), session.user
    name = request.query_params.get("name", "").strip()[:60] or "平面图"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MOST_BYTES:
        raise HttpError(413, "a plan is at most 2 MB", "plan_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MOST_BYTES:
            raise HttpError(413, "a plan is at most 2 MB", "plan_too_large")
    body = b"".join(chunks)
    try:
        image = check_plan(body)
    except PlanRefused as exc:
        raise HttpError(400, str(exc), exc.code) from None

    def add(store: Store) -> dict[str, Any]:
        plan = store.add_plan(site, name, image.media_type, image.width, image.height, body, user)
        store.audit(user, "plan added", site, {"plan": plan["id"], "name": name})
        return plan
    return JSONResponse(await api.write(add), status_code=201)


@endpoint()
async def plan_image(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A plan's image, as uploaded (served so that an SVG can run nothing).
    """
    plan_id = path_id(request.path_params["id"])
    found = await api.read(lambda s: s.plan_image(plan_id))
    if found is None:
        raise HttpError(404, "no such plan", "not_found")
    return Response(found[1], media_type=found[0], headers=IMAGE_HEADERS)


@endpoint("plan.edit")
async def place(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Where devices sit on a plan: {"positions": {"sd1": {"x": 0.42, "y": 0.3}, "sd2": null}} (x and y
      fractions 0..1 of the plan; null takes a device off it).
    """
    assert session is not None
    plan_id, user = path_id(request.path_params["id"]), session.user
    given = (await read_body(request)).get("positions")
    if not isinstance(given, dict) or len(given) > 500:
        raise HttpError(400, "positions is an object of at most 500 devices", "bad_field")
    positions: dict[str, tuple[float, float] | None] = {}
    for device, at in given.items():
        if at is None:
            positions[str(device)] = None
            continue
        x, y = (at.get(k) if isinstance(at, dict) else None for k in ("x", "y"))
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in (x, y)):
            raise HttpError(400, f"{device}: x and y are fractions between 0 and 1", "bad_field")
        positions[str(device)] = (float(x), float(y))  # type: ignore[arg-type]

    def save(store: Store) -> dict[str, Any]:
        plan = store.place_devices(plan_id, positions)
        store.audit(user, "plan positions", str(plan_id), {"devices": sorted(positions)})
        return plan
    try:
        return JSONResponse(await api.write(save))
    except KeyError:
        raise HttpError(404, "no such plan", "not_found") from None


@endpoint("plan.edit")
async def delete(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Remove a plan and the positions on it.
    """
    assert session is not None
    plan_id, user = path_id(request.path_params["id"]), session.user

    def remove(store: Store) -> bool:
        done = store.delete_plan(plan_id)
        if done:
            store.audit(user, "plan removed", str(plan_id))
        return done
    if not await api.write(remove):
        raise HttpError(404, "no such plan", "not_found")
    return JSONResponse({"id": plan_id, "removed": True})


routes = [
    Route("/api/sites/{site}/plans", plans),
    Route("/api/sites/{site}/plans", upload, methods=["POST"]),
    Route("/api/plans/{id}/image", plan_image),
    Route("/api/plans/{id}/positions", place, methods=["POST"]),
    Route("/api/plans/{id}/delete", delete, methods=["POST"]),
]
