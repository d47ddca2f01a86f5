"""Dispatching the nearest micro fire station (by the site's dossier) to a confirmed fire.

The officer dispatches; the station's contacts get an SMS (through the plan's first SMS channel, when the
district has one) with a link to a page made for a phone: the site, its access notes and water, the plan
with the device marked, the newest camera picture, and two buttons, "on our way" and "on scene". The
link's token is the only key to that page (unguessable, kept as a digest, valid for DISPATCH_TTL_S); each
answer is written in the alarm's log with its time, so the 1-3-5 response circle can be read off it.
"""

from __future__ import annotations

import secrets
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, over_tls, path_id
from cloud.api.plans import IMAGE_HEADERS
from cloud.api.snapshots import PICTURE_HEADERS
from cloud.auth import Session
from cloud.console import ASSETS, POLICY
from cloud.notify_channels import ChannelFailed, send_personal
from cloud.notify_job import message_params, record_outcome
from cloud.site_overview import dossier_of
from cloud.store import Store

__all__ = ["routes"]

DISPATCH_TTL_S = 6 * 3600.0
DISPATCHABLE = ("confirmed", "disposing")
STEPS = {"acknowledged": "station acknowledged", "on_scene": "station on scene"}


@endpoint("alarm.handle")
async def dispatch(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Dispatch the nearest micro fire station (the site dossier's) to a confirmed fire; its contacts get
      an SMS with a link to the dispatch page. Answered with the dispatch, the link and what was sent.
    """
    assert session is not None
    alarm_id, user = path_id(request.path_params["id"]), session.user
    alarm = await api.read(lambda s: s.alarm(alarm_id))
    if alarm is None:
        raise HttpError(404, "no such alarm", "not_found")
    if alarm["class"] != "fire" or alarm["handling"] not in DISPATCHABLE:
        raise HttpError(409, "a micro station is dispatched to a confirmed fire", "dispatch_needs_confirmed")
    dossier = dossier_of(api.inventory, alarm["site"]) or {}
    nearest = dossier.get("nearest_station")
    if not nearest:
        raise HttpError(409, "the site's dossier names no nearest micro station", "no_station")
    station = nearest["site"]
    token = secrets.token_urlsafe(24)

    def record(store: Store) -> dict[str, Any]:
        done = store.add_dispatch(alarm_id, station, token, user, DISPATCH_TTL_S)
        store.audit(user, "station dispatched", str(alarm_id), {"station": station})
        return done

    made = await api.write(record)
    base = str(request.base_url).rstrip("/")
    if over_tls(request) and base.startswith("http://"):  # behind the district's TLS proxy: the link it serves
        base = "https://" + base.removeprefix("http://")
    link = f"{base}/dispatch/{token}"
    contacts = (dossier_of(api.inventory, station) or {}).get("contacts", [])
    sent = await _text_station(api, alarm, contacts, link, made["id"])
    updated = await api.read(lambda s: s.alarm(alarm_id))
    api.hub.publish({"type": "alarm", "alarm": updated})
    return JSONResponse({"dispatch": made, "link": link, "station": nearest, "sent": sent}, status_code=201)


async def _text_station(api: Api, alarm: dict[str, Any], contacts: list[dict[str, Any]], link: str,
                        dispatch_id: int) -> list[dict[str, str]]:
    plan = api.notify_plan
    channel = next((c for c in plan.channels.values() if c.type == "sms"), None) if plan else None
    if channel is None:
        return []
    site = api.inventory.get(alarm["site"], {}).get("name", alarm["site"])
    sent = []
    for index, contact in enumerate(contacts):
        number = str(contact["phone"]).replace(" ", "").replace("-", "")
        person = f"station{dispatch_id}-{index}"
        out_id = await api.write(partial(_claim, alarm["id"], person, channel.id, number))
        if out_id is None:
            continue
        try:
            provider_id = await send_personal(channel, number, {**message_params(alarm, site), "link": link}, out_id)
            state, detail = "accepted", ""
        except ChannelFailed as exc:
            provider_id, state, detail = "", "failed", str(exc)
        await api.write(record_outcome(out_id, state, provider_id=provider_id, detail=detail))
        sent.append({"name": str(contact.get("name", "")), "phone": number, "state": state})
    return sent


def _claim(alarm: int, person: str, channel: str, number: str, store: Store) -> str | None:
    return store.claim_notification(alarm, -1, person, channel, number)


async def _dispatched(request: Request, api: Api) -> tuple[str, dict[str, Any]]:
    token = str(request.path_params["token"])
    found = await api.read(lambda s: s.dispatch_by_token(token)) if 16 <= len(token) <= 64 else None
    if found is None:
        raise HttpError(404, "no such dispatch, or it has expired", "not_found")
    return token, found


@endpoint(public=True)
async def dispatch_view(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: What the dispatched station sees (by the token in its link): the alarm, the site's dossier, the
      plan and picture (by their ids), and its own answers so far.
    """
    _, found = await _dispatched(request, api)

    def view(store: Store) -> dict[str, Any]:
        alarm = store.alarm(int(found["alarm"])) or {}
        plans = store.plans(alarm.get("site", ""))
        plan = next((p for p in plans if alarm.get("device") in p["positions"]), plans[0] if plans else None)
        shots = store.snapshots_of(alarm) if alarm else []
        device = store.device(alarm["site"], alarm["device"]) if alarm.get("device") else None
        return {"alarm": {k: alarm.get(k) for k in ("class", "text", "device", "raised_at", "site", "street", "rule")},
                "device_name": (device or {}).get("name") or alarm.get("device") or "",
                "site": api.inventory.get(alarm.get("site", ""), {}).get("name", alarm.get("site")),
                "dossier": dossier_of(api.inventory, alarm.get("site", "")),
                "plan": plan, "snapshot": shots[0] if shots else None, "station": found["station"],
                "sent_at": found["sent_at"], "acknowledged_at": found["acknowledged_at"],
                "on_scene_at": found["on_scene_at"]}

    return JSONResponse(await api.read(view))


@endpoint(public=True)
async def dispatch_plan(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The plan image of a dispatch's site (the one showing the alarm's device).
    """
    _, found = await _dispatched(request, api)
    plan_id = path_id(request.path_params["id"])

    def image(store: Store) -> tuple[str, bytes] | None:
        alarm = store.alarm(int(found["alarm"])) or {}
        if not any(p["id"] == plan_id for p in store.plans(alarm.get("site", ""))):
            return None  # only the plans of the dispatch's own site
        return store.plan_image(plan_id)

    got = await api.read(image)
    if got is None:
        raise HttpError(404, "no such plan", "not_found")
    return Response(got[1], media_type=got[0], headers=IMAGE_HEADERS)


@endpoint(public=True)
async def dispatch_picture(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The newest camera picture of a dispatch's alarm.
    """
    _, found = await _dispatched(request, api)

    def newest(store: Store) -> bytes | None:
        alarm = store.alarm(int(found["alarm"]))
        shots = store.snapshots_of(alarm) if alarm else []
        return store.snapshot_image(int(shots[0]["id"])) if shots else None

    got = await api.read(newest)
    if got is None:
        raise HttpError(404, "no picture yet", "not_found")
    return Response(got, media_type="image/jpeg", headers=PICTURE_HEADERS)


@endpoint(public=True)
async def dispatch_answer(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The station's answer: acknowledged (on its way) or on_scene; each is logged on the alarm once.
    """
    token, found = await _dispatched(request, api)
    step = str(request.path_params["step"])
    if step not in STEPS:
        raise HttpError(404, "no such answer", "not_found")
    who = api.inventory.get(found["station"], {}).get("name", found["station"])

    def answer(store: Store) -> tuple[dict[str, Any], dict[str, Any] | None]:
        done = store.dispatch_step(token, step, who)
        store.audit(who, STEPS[step], str(found["alarm"]), {"station": found["station"]})
        return done, store.alarm(int(found["alarm"]))

    done, alarm = await api.write(answer)
    api.hub.publish({"type": "alarm", "alarm": alarm})
    return JSONResponse({k: done[k] for k in ("station", "sent_at", "acknowledged_at", "on_scene_at")})


async def dispatch_page(request: Request) -> Response:
    return FileResponse(ASSETS / "dispatch.html", headers={
        "Cache-Control": "no-cache", "Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer"})  # the token is in the address: it must not leak to anyone


routes = [
    Route("/api/alarms/{id}/dispatch", dispatch, methods=["POST"]),
    Route("/api/dispatch/{token}", dispatch_view),
    Route("/api/dispatch/{token}/plans/{id}/image", dispatch_plan),
    Route("/api/dispatch/{token}/picture", dispatch_picture),
    Route("/api/dispatch/{token}/{step}", dispatch_answer, methods=["POST"]),
    Route("/dispatch/{token}", dispatch_page, include_in_schema=False),
]
