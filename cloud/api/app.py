"""The API as one Starlette application: every area's routes, the OpenAPI document, the console."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cloud.api import (
    alarms,
    commands,
    dispatch,
    duty,
    fleet,
    logs,
    metrics,
    notify,
    plans,
    readiness,
    reports,
    rollouts,
    sessions,
    snapshots,
    uitd,
)
from cloud.api.base import Api, CommandSender, refusal
from cloud.auth import Auth
from cloud.console import console_routes
from cloud.event_hub import EventHub
from cloud.notify_plan import NotifyPlan
from cloud.openapi import openapi_document
from cloud.security_headers import SecurityHeaders
from cloud.site_list import SiteList
from cloud.store import Store
from cloud.store.readers import StoreReaders
from cloud.store.writer import Writer
from devices.profile import Profile

__all__ = ["build_api"]


def build_api(store: Store, auth: Auth, hub: EventHub, send_command: CommandSender,
              inventory: Mapping[str, Mapping[str, Any]] | None = None,
              profiles: Mapping[str, Profile] | None = None, readers: StoreReaders | None = None,
              writer: Writer | None = None, notify_plan: NotifyPlan | None = None,
              live: Callable[[], dict[str, Any]] = dict) -> Starlette:
    routes: list[BaseRoute] = [*sessions.routes, *alarms.routes, *commands.routes, *fleet.routes,
                               *readiness.routes, *duty.routes, *reports.routes, *plans.routes,
                               *snapshots.routes, *notify.routes, *dispatch.routes, *uitd.routes, *metrics.routes,
                               *logs.routes, *rollouts.routes]
    document = openapi_document(routes)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def refuse(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        code = {404: "not_found", 405: "bad_method"}.get(status, "internal")
        return JSONResponse(refusal(str(getattr(exc, "detail", "internal error")), code), status_code=status)

    routes.append(Route("/api/openapi.json", openapi, include_in_schema=False))
    routes.extend(console_routes())
    app = Starlette(routes=routes, exception_handlers={Exception: refuse, 404: refuse, 405: refuse},
                    middleware=[Middleware(SecurityHeaders)])
    app.state.api = api = Api(store, auth, hub, send_command, inventory or {}, profiles or {}, readers, writer,
                              SiteList(inventory or {}), notify_plan=notify_plan, live=live)
    hub.watchers.append(api.site_list.changed)
    return app
