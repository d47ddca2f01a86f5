"""Gateways, devices, their health, maintenance tickets and the site pages."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, path_id, read_body
from cloud.auth import Session
from cloud.site_overview import device_page, site_page
from cloud.store import Store

__all__ = ["routes"]


@endpoint()
async def gateways(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Gateways with their online state and last sight.
    """
    return JSONResponse(await api.read(lambda s: s.gateways()))


@endpoint()
async def devices(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Devices with their online state and latest values.
    """
    return JSONResponse(await api.read(lambda s: s.devices()))


@endpoint()
async def health(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Gateways with their last heartbeat, and devices offline, stale, flapping, low on battery,
      faulty or on the wrong firmware.
    """
    return JSONResponse(await api.read(lambda s: s.health_summary(time.time())))


@endpoint()
async def tickets(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Open maintenance tickets, nearest deadline first; ?overdue=1 for the overdue ones.
    """
    overdue = request.query_params.get("overdue") == "1"
    return JSONResponse(await api.read(lambda s: s.tickets(overdue_only=overdue)))


@endpoint("ticket.handle")
async def close_ticket(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Close a ticket with notes on what was done (maintenance).
    """
    assert session is not None
    body = await read_body(request)
    ticket_id = path_id(request.path_params["id"])
    user = session.user

    def close(store: Store) -> dict[str, Any]:
        done = store.close_ticket(ticket_id, user, str(body.get("notes", "")))
        store.audit(user, "ticket closed", str(ticket_id), body)
        return done

    try:
        closed = await api.write(close)
    except KeyError:
        raise HttpError(404, "no such ticket", "not_found") from None
    return JSONResponse(closed)


@endpoint("ticket.handle")
async def defer_ticket(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Defer a ticket whose fault cannot be fixed yet, with a reason; its deadline stays (maintenance).
    """
    assert session is not None
    body = await read_body(request)
    ticket_id = path_id(request.path_params["id"])
    user = session.user

    def defer(store: Store) -> dict[str, Any]:
        done = store.defer_ticket(ticket_id, user, str(body.get("reason", ""))[:500])
        store.audit(user, "ticket deferred", str(ticket_id), body)
        return done

    try:
        deferred = await api.write(defer)
    except KeyError:
        raise HttpError(404, "no such ticket", "not_found") from None
    return JSONResponse(deferred)


@endpoint()
async def sites(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Every site with its place (for the map), worst active alarm, health and readiness score (current
      for every alarm, health and device change; the gateway's last-heard time and readiness may be up to
      a minute old: cloud.site_list).
    """
    return Response(await api.site_list.body(api.read), media_type="application/json")


@endpoint()
async def site(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: One site with its devices and their latest values, its open alarms and its readiness.
    """
    site_id = request.path_params["id"]
    found = await api.read(lambda s: site_page(s, api.inventory, site_id))
    if found is None:
        raise HttpError(404, "no such site", "not_found")
    return JSONResponse(found)


@endpoint()
async def device(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: One device with its readings over the last ?hours=24 (at most 168), events, tickets and alarms.
    """
    try:
        hours = float(request.query_params.get("hours", "24"))
    except ValueError:
        raise HttpError(400, "hours must be a number", "bad_field") from None
    if not 0 < hours <= 168:
        raise HttpError(400, "hours must be between 0 and 168", "bad_field")
    site_id, device_id = request.path_params["site"], request.path_params["id"]
    found = await api.read(lambda s: device_page(s, site_id, device_id, hours))
    if found is None:
        raise HttpError(404, "no such device", "not_found")
    return JSONResponse(found)


GROWING_AFTER = 3  # samples in a row (a minute apart) with more in the outbox than the one before
ERROR_RATE = 0.01  # of a minute's requests failing on the buses


def _version(text: str | None) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in (text or "0").split("."))


@endpoint()
async def fleet(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Every gateway with its agent, configuration and profile versions, last heartbeat, CPU, memory,
      disk, outbox, bus error rate and clock trust, and flags (behind, outbox_growing, bus_errors);
      ?only=behind|outbox_growing|bus_errors keeps those.
    """
    only = request.query_params.get("only", "")
    if only not in ("", "behind", "outbox_growing", "bus_errors"):
        raise HttpError(400, "only is behind, outbox_growing or bus_errors", "bad_field", field="only")
    rows, places = await api.read(lambda s: (s.fleet(), s.places()))
    newest = max((_version(r["agent_version"]) for r in rows), default=())
    out = []
    for row in rows:
        health = row.pop("health")
        row.update(name=places.get(row["site"], {}).get("name") or row["site"], cpu=health.get("cpu_percent"),
                   rss_mb=health.get("rss_mb"), disk_free_mb=health.get("disk_free_mb"),
                   clock_trusted=health.get("clock_trusted"),
                   behind=_version(row["agent_version"]) < newest,
                   outbox_growing=int(row["outbox_rises"] or 0) >= GROWING_AFTER,
                   bus_errors=float(row["error_rate"] or 0) > ERROR_RATE)
        if not only or row[only]:
            out.append(row)
    return JSONResponse({"newest_agent": ".".join(map(str, newest)), "gateways": out})


@endpoint()
async def fleet_samples(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A gateway's heartbeats over time (one a minute at most): CPU, memory, disk, outbox, bus requests
      and errors, clock trust; ?hours= (default 24, at most 168).
    """
    hours = request.query_params.get("hours", "24")
    if not (hours.isascii() and hours.isdigit()) or not 1 <= int(hours) <= 168:
        raise HttpError(400, "hours is 1 to 168", "bad_field", field="hours")
    gateway = str(request.path_params["gateway"])
    since = time.time() - int(hours) * 3600
    return JSONResponse(await api.read(lambda s: s.gateway_samples(gateway, since)))


routes = [
    Route("/api/fleet", fleet),
    Route("/api/fleet/{gateway}/samples", fleet_samples),
    Route("/api/gateways", gateways),
    Route("/api/devices", devices),
    Route("/api/health", health),
    Route("/api/tickets", tickets),
    Route("/api/tickets/{id}/close", close_ticket, methods=["POST"]),
    Route("/api/tickets/{id}/defer", defer_ticket, methods=["POST"]),
    Route("/api/sites", sites),
    Route("/api/sites/{id}", site),
    Route("/api/sites/{site}/devices/{id}", device),
]
