"""The simulators' HTTP control API, on loopback only: look at devices, set signals, inject faults.

    GET    /health
    GET    /sites                                       sites and where each bus is served
    GET    /devices                                     every device with signals, holds, faults
    GET    /sites/{site}/devices/{device}
    POST   /sites/{site}/devices/{device}/signals       {"values": {"port3.temperature": 70}, "hold": true}
    DELETE /sites/{site}/devices/{device}/signals       release holds (?name=a&name=b, or all)
    POST   /sites/{site}/devices/{device}/faults        {"kind": "no_reply"} (see simulators.faults)
    DELETE /sites/{site}/devices/{device}/faults        clear faults (?kind=slow_reply, or all)
    POST   /sites/{site}/devices/{device}/events        {"event": "fire", "fields": {"zone": 3}}
    POST   /scenario                                    {"steps": [...]}: play a scenario now

Every refusal is JSON `{"error": reason}` with a 4xx status; nothing ever answers with a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devices.errors import SiteConfigError
from simulators.scenario import parse_scenario, play
from simulators.simulation import Simulation, UnknownDevice

__all__ = ["build_app"]

log = structlog.get_logger("firefleet.sim.api")
MAX_BODY = 64 * 1024
Handler = Callable[[Request], Awaitable[JSONResponse]]


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


async def _json_body(request: Request) -> Any:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"body over {MAX_BODY} bytes")
    try:
        return json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, "body is not JSON") from None


def build_app(sim: Simulation, scenario_tasks: set[asyncio.Task[None]] | None = None) -> Starlette:
    tasks = scenario_tasks if scenario_tasks is not None else set()

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> JSONResponse:
            try:
                return await handler(request)
            except UnknownDevice as exc:
                return _error(404, str(exc))
            except HTTPException as exc:
                return _error(exc.status_code, str(exc.detail))
            except (ValueError, TypeError, SiteConfigError) as exc:
                return _error(400, str(exc))
        return wrapper

    def dev_of(request: Request) -> tuple[str, str]:
        return request.path_params["site"], request.path_params["device"]

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "sites": len(sim.sites)})

    async def sites(request: Request) -> JSONResponse:
        return JSONResponse({sid: {"name": s.site.name, "kind": s.site.kind, "street": s.site.street,
                                   "buses": s.endpoints(), "devices": sorted(s.devices)}
                             for sid, s in sim.sites.items()})

    async def devices(request: Request) -> JSONResponse:
        return JSONResponse([sim.describe(d) for s in sim.sites.values() for d in s.devices.values()])

    async def device(request: Request) -> JSONResponse:
        return JSONResponse(sim.describe(sim.device(*dev_of(request))))

    async def set_signals(request: Request) -> JSONResponse:
        body = await _json_body(request)
        values = body.get("values") if isinstance(body, dict) else None
        if not isinstance(values, dict) or not values:
            raise ValueError('expected {"values": {"signal": value, ...}, "hold": true}')
        hold = body.get("hold", True)
        if not isinstance(hold, bool):
            raise ValueError("hold must be true or false")
        sim.set_signals(*dev_of(request), values, hold=hold)
        return JSONResponse(sim.describe(sim.device(*dev_of(request))))

    async def release(request: Request) -> JSONResponse:
        names = request.query_params.getlist("name") or None
        sim.release(*dev_of(request), names)
        return JSONResponse(sim.describe(sim.device(*dev_of(request))))

    async def add_fault(request: Request) -> JSONResponse:
        fault = sim.inject_fault(*dev_of(request), await _json_body(request))
        log.info("fault injected", site=dev_of(request)[0], device=dev_of(request)[1], **fault)
        return JSONResponse(fault, status_code=201)

    async def clear_faults(request: Request) -> JSONResponse:
        sim.clear_faults(*dev_of(request), request.query_params.get("kind"))
        return JSONResponse(sim.describe(sim.device(*dev_of(request))))

    async def emit_event(request: Request) -> JSONResponse:
        body = await _json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise ValueError('expected {"event": "fire", "fields": {...}}')
        fields = body.get("fields", {})
        if not isinstance(fields, dict):
            raise ValueError("fields must be an object")
        line = sim.emit_event(*dev_of(request), body["event"], fields)
        return JSONResponse({"line": line}, status_code=201)

    async def scenario(request: Request) -> JSONResponse:
        body = await _json_body(request)
        parsed = parse_scenario(body, "<request>", sim)
        task = asyncio.get_running_loop().create_task(play(sim, parsed), name=f"scenario:{parsed.name}")
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return JSONResponse({"scenario": parsed.name, "steps": len(parsed.steps)}, status_code=202)

    dev = "/sites/{site}/devices/{device}"
    routes = [
        Route("/health", guarded(health)),
        Route("/sites", guarded(sites)),
        Route("/devices", guarded(devices)),
        Route(dev, guarded(device)),
        Route(dev + "/signals", guarded(set_signals), methods=["POST"]),
        Route(dev + "/signals", guarded(release), methods=["DELETE"]),
        Route(dev + "/faults", guarded(add_fault), methods=["POST"]),
        Route(dev + "/faults", guarded(clear_faults), methods=["DELETE"]),
        Route(dev + "/events", guarded(emit_event), methods=["POST"]),
        Route("/scenario", guarded(scenario), methods=["POST"]),
    ]

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 500)
        return _error(status, str(getattr(exc, "detail", "internal error")))

    return Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: not_found})
