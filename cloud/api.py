"""The collector's HTTP API (JSON), its event stream (server-sent events) and its OpenAPI document.

Every write is checked against the caller's role (cloud.auth.PERMISSIONS) and written to the audit
trail; every refusal is JSON `{"error": reason}` with a 4xx status, never a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from cloud.alarm_lifecycle import ACTIONS, CLASS_ORDER, HANDLING_STATES, Refused
from cloud.auth import PERMISSIONS, USER_NAME, Auth, LoginRefused, Session, may
from cloud.console import console_routes
from cloud.event_hub import EventHub
from cloud.openapi import openapi_document
from cloud.readiness import monthly_index
from cloud.readiness_report import district_readiness
from cloud.security_headers import SecurityHeaders
from cloud.site_overview import device_page, district_sites, site_page
from cloud.store import Store
from devices.profile import Profile
from devices.protocol import COMMAND_ACTIONS
from devices.write_check import WriteRefused, check_write

__all__ = ["build_api"]

COOKIE = "ff_session"
MAX_BODY = 64 * 1024
COMMAND_TTL_S = 300.0  # a command not taken up within 5 minutes expires: a late power switch is worse than none
Handler = Callable[[Request], Awaitable[Response]]
CommandSender = Callable[[str, str, dict[str, Any], float], Awaitable[None]]


class HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason


def build_api(store: Store, auth: Auth, hub: EventHub, send_command: CommandSender,
              inventory: Mapping[str, Mapping[str, Any]] | None = None,
              profiles: Mapping[str, Profile] | None = None) -> Starlette:
    def endpoint(permission: str | None = None, *, public: bool = False) -> Callable[[Any], Handler]:
        def wrap(fn: Callable[[Request, Session | None], Awaitable[Response]]) -> Handler:
            async def handler(request: Request) -> Response:
                try:
                    session = None if public else _session(request, auth)
                    if session is not None and permission and not may(session.role, permission):
                        raise HttpError(403, f"a {session.role.replace('_', ' ')} may not do this")
                    return await fn(request, session)
                except HttpError as exc:
                    return JSONResponse({"error": exc.reason}, status_code=exc.status)
                except Refused as exc:
                    return JSONResponse({"error": str(exc)}, status_code=409)
            handler.__doc__ = fn.__doc__
            return handler
        return wrap

    @endpoint(public=True)
    async def login(request: Request, _: Session | None) -> Response:
        """
        summary: Sign in. Sets a session cookie (writes then need X-CSRF-Token); with token set to true the
          answer also carries a bearer token for API clients.
        """
        body = await _body(request)
        name, password = body.get("user"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise HttpError(400, "user and password are text")
        address = request.client.host if request.client else ""
        try:
            token, session = auth.login(name, password, address)
        except LoginRefused as exc:
            if exc.delay:
                await asyncio.sleep(exc.delay)
            if exc.retry_after:
                failures = len(auth.throttle.by_address.get(address, ()))
                if failures == 6:  # one audit row when an address starts being held back, not one per try
                    store.audit(name[:64], "login throttled", address, {"failures": failures})
                return JSONResponse({"error": str(exc)}, status_code=429,
                                    headers={"Retry-After": str(max(1, round(exc.retry_after)))})
            if USER_NAME.match(name) and len(auth.throttle.by_address.get(address, ())) <= 5:
                store.audit(name, "login refused", address, {"reason": str(exc)})
            raise HttpError(401, str(exc)) from None
        store.audit(session.user, "login", address)
        answer: dict[str, Any] = {"csrf": session.csrf, "user": session.user, "role": session.role}
        if body.get("token") is True:
            answer["token"] = token  # API clients; a browser keeps to its HttpOnly cookie
        response = JSONResponse(answer)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600,
                            secure=_over_tls(request))
        return response

    @endpoint()
    async def logout(request: Request, session: Session | None) -> Response:
        """
        summary: Sign out.
        """
        token = _token(request)
        if token:
            auth.logout(token)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE)
        return response

    @endpoint()
    async def me(request: Request, session: Session | None) -> Response:
        """
        summary: Who is signed in, with which role and permissions, and the CSRF token for writes.
        """
        assert session is not None
        return JSONResponse({"user": session.user, "role": session.role, "csrf": session.csrf,
                             "permissions": sorted(p for p in PERMISSIONS if may(session.role, p)),
                             "policy": POLICY})

    @endpoint()
    async def alarms(request: Request, session: Session | None) -> Response:
        """
        summary: Alarms, fire first then by time; open ones (shelved ones too, flagged) unless ?all=1.
        """
        everything = request.query_params.get("all") == "1"
        return JSONResponse(store.alarms(open_only=not everything))

    @endpoint()
    async def alarm(request: Request, session: Session | None) -> Response:
        """
        summary: One alarm with its audit trail, its site, and its device (location, latest values, events).
        """
        found = store.alarm(_int(request.path_params["id"]))
        if found is None:
            raise HttpError(404, "no such alarm")
        site = next(iter(district_sites(store, inventory or {}, only=found["site"])), None)
        device = device_page(store, found["site"], found["device"], hours=0) if found["device"] else None
        return JSONResponse({**found, "log": store.alarm_log(found["id"]), "site_info": site, "device_info": device})

    @endpoint("alarm.handle")
    async def alarm_action(request: Request, session: Session | None) -> Response:
        """
        summary: Acknowledge, verify, confirm, mark false, dispose or close an alarm (close needs a disposition).
        """
        assert session is not None
        body = await _body(request)
        alarm_id = _int(request.path_params["id"])
        disposition = body.get("disposition")
        if disposition is not None and not isinstance(disposition, dict):
            raise HttpError(400, "disposition must be an object with result and notes")
        try:
            updated = store.handle(alarm_id, str(body.get("action", "")), session.user, str(body.get("notes", "")),
                                   disposition)
        except KeyError:
            raise HttpError(404, "no such alarm") from None
        store.audit(session.user, f"alarm {body.get('action')}", str(alarm_id), body)
        hub.publish({"type": "alarm", "alarm": updated})
        return JSONResponse(updated)

    @endpoint("alarm.silence")
    async def mute(request: Request, session: Session | None) -> Response:
        """
        summary: Silence or shelve an alarm for some minutes, with a reason ({"how", "minutes", "reason"}).
        """
        assert session is not None
        body = await _body(request)
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
            raise HttpError(400, "minutes must be a number")
        try:
            updated = store.mute(_int(request.path_params["id"]), str(body.get("how", "")), float(minutes),
                                 session.user, str(body.get("reason", "")))
        except KeyError:
            raise HttpError(404, "no such alarm") from None
        store.audit(session.user, f"alarm {body.get('how')}", request.path_params["id"], body)
        hub.publish({"type": "alarm", "alarm": updated})
        return JSONResponse(updated)

    @endpoint("command.send")
    async def command(request: Request, session: Session | None) -> Response:
        """
        summary: Send a command to a gateway (write a point, rebirth, reload its config); answered with its id.
        """
        assert session is not None
        body = await _body(request)
        site, gateway, action = body.get("site"), body.get("gateway"), body.get("action")
        if not isinstance(site, str) or not isinstance(gateway, str) or action not in COMMAND_ACTIONS:
            raise HttpError(400, f"need site, gateway and an action among {', '.join(COMMAND_ACTIONS)}")
        known = store.gateway(gateway)
        if known is None or known["site"] != site:
            raise HttpError(404, f"no gateway {gateway!r} at site {site!r}")
        cmd: dict[str, Any] = {"id": f"cmd-{uuid.uuid4().hex[:12]}", "action": action}
        cmd.update({k: body[k] for k in ("device", "point", "value", "key") if k in body})
        if action == "write":
            _check_write(store, profiles or {}, site, cmd)
            override = body.get("override")
            if override is not None:
                reason = override.get("reason") if isinstance(override, dict) else None
                if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500:
                    raise HttpError(400, "an override needs a reason (3 to 500 characters): it outranks an interlock")
                cmd["override"] = {"reason": reason.strip(), "by": session.user}
                store.audit(session.user, "interlock override", f"{site}/{gateway}", cmd)
        ttl = body.get("expires_in", COMMAND_TTL_S)
        if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 5 <= ttl <= 3600:
            raise HttpError(400, "expires_in is a number of seconds between 5 and 3600")
        expires = time.time() + float(ttl)
        store.add_command(cmd, site, gateway, session.user, expires)
        store.audit(session.user, "command", f"{site}/{gateway}", cmd)
        with contextlib.suppress(ConnectionError):  # durable: sent again on the gateway's next birth, unexpired
            await send_command(site, gateway, cmd, float(ttl))
        return JSONResponse({"id": cmd["id"], "state": "init", "expires": expires}, status_code=202)

    @endpoint()
    async def command_state(request: Request, session: Session | None) -> Response:
        """
        summary: A command's state (init, executing, successful, failed, expired) and reason.
        """
        found = store.command(request.path_params["id"])
        if found is None:
            raise HttpError(404, "no such command")
        return JSONResponse(found)

    @endpoint()
    async def gateways(request: Request, session: Session | None) -> Response:
        """
        summary: Gateways with their online state and last sight.
        """
        return JSONResponse(store.gateways())

    @endpoint()
    async def devices(request: Request, session: Session | None) -> Response:
        """
        summary: Devices with their online state and latest values.
        """
        return JSONResponse(store.devices())

    @endpoint()
    async def health(request: Request, session: Session | None) -> Response:
        """
        summary: Gateways with their last heartbeat, and devices offline, stale, flapping, low on battery,
          faulty or on the wrong firmware.
        """
        return JSONResponse(store.health_summary(time.time()))

    @endpoint()
    async def tickets(request: Request, session: Session | None) -> Response:
        """
        summary: Open maintenance tickets, nearest deadline first; ?overdue=1 for the overdue ones.
        """
        return JSONResponse(store.tickets(overdue_only=request.query_params.get("overdue") == "1"))

    @endpoint("ticket.handle")
    async def close_ticket(request: Request, session: Session | None) -> Response:
        """
        summary: Close a ticket with notes on what was done (maintenance).
        """
        assert session is not None
        body = await _body(request)
        ticket_id = _int(request.path_params["id"])
        try:
            closed = store.close_ticket(ticket_id, session.user, str(body.get("notes", "")))
        except KeyError:
            raise HttpError(404, "no such ticket") from None
        store.audit(session.user, "ticket closed", str(ticket_id), body)
        return JSONResponse(closed)

    @endpoint("ticket.handle")
    async def defer_ticket(request: Request, session: Session | None) -> Response:
        """
        summary: Defer a ticket whose fault cannot be fixed yet, with a reason; its deadline stays (maintenance).
        """
        assert session is not None
        body = await _body(request)
        ticket_id = _int(request.path_params["id"])
        try:
            deferred = store.defer_ticket(ticket_id, session.user, str(body.get("reason", ""))[:500])
        except KeyError:
            raise HttpError(404, "no such ticket") from None
        store.audit(session.user, "ticket deferred", str(ticket_id), body)
        return JSONResponse(deferred)

    @endpoint()
    async def readiness(request: Request, session: Session | None) -> Response:
        """
        summary: Equipment readiness per station (score, categories, what is missing) and per street.
        """
        return JSONResponse(district_readiness(store, inventory or {}))

    @endpoint()
    async def ranking(request: Request, session: Session | None) -> Response:
        """
        summary: Streets ranked by their monthly readiness index (?month=YYYY-MM, default this month).
        """
        month = _month(request)
        ranked = monthly_index(store.readiness_history(month))
        return JSONResponse([{"rank": i + 1, "street": street, "index": index}
                             for i, (street, index) in enumerate(ranked)])

    @endpoint()
    async def readiness_history(request: Request, session: Session | None) -> Response:
        """
        summary: Daily readiness scores of a month (?month=YYYY-MM), for trend charts.
        """
        month = _month(request)
        return JSONResponse([{"day": day, "street": street, "score": score}
                             for day, street, score in store.readiness_history(month)])

    @endpoint()
    async def sites(request: Request, session: Session | None) -> Response:
        """
        summary: Every site with its place (for the map), worst active alarm, health and readiness score.
        """
        return JSONResponse(district_sites(store, inventory or {}))

    @endpoint()
    async def site(request: Request, session: Session | None) -> Response:
        """
        summary: One site with its devices and their latest values, its open alarms and its readiness.
        """
        found = site_page(store, inventory or {}, request.path_params["id"])
        if found is None:
            raise HttpError(404, "no such site")
        return JSONResponse(found)

    @endpoint()
    async def device(request: Request, session: Session | None) -> Response:
        """
        summary: One device with its readings over the last ?hours=24 (at most 168), events, tickets and alarms.
        """
        try:
            hours = float(request.query_params.get("hours", "24"))
        except ValueError:
            raise HttpError(400, "hours must be a number") from None
        if not 0 < hours <= 168:
            raise HttpError(400, "hours must be between 0 and 168")
        found = device_page(store, request.path_params["site"], request.path_params["id"], hours)
        if found is None:
            raise HttpError(404, "no such device")
        return JSONResponse(found)

    @endpoint("user.manage")
    async def add_user(request: Request, session: Session | None) -> Response:
        """
        summary: Create a user (admin only).
        """
        assert session is not None
        body = await _body(request)
        try:
            auth.add_user(str(body.get("name", "")), str(body.get("password", "")), str(body.get("role", "")))
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        store.audit(session.user, "user added", str(body.get("name")), {"role": body.get("role")})
        return JSONResponse({"name": body.get("name"), "role": body.get("role")}, status_code=201)

    @endpoint("user.manage")
    async def disable_user(request: Request, session: Session | None) -> Response:
        """
        summary: Disable a user (admin only); every session of that user ends at once.
        """
        assert session is not None
        name = request.path_params["name"]
        if not auth.disable_user(name):
            raise HttpError(404, "no such user")
        store.audit(session.user, "user disabled", name[:64])
        return JSONResponse({"name": name, "disabled": True})

    @endpoint("user.manage")
    async def audit(request: Request, session: Session | None) -> Response:
        """
        summary: The audit trail, newest first (admin only).
        """
        return JSONResponse(store.audit_log())

    @endpoint()
    async def stream(request: Request, session: Session | None) -> Response:
        """
        summary: Server-sent events of alarm changes (event `alarm`), with a keep-alive comment every 15 s.
        """
        token = _token(request)

        async def events() -> AsyncIterator[str]:
            async with hub.subscribe() as queue:
                yield "retry: 2000\n\n"
                quiet = 0
                while True:
                    try:
                        async with asyncio.timeout(5):
                            event = await queue.get()
                    except TimeoutError:
                        if auth.session(token) is None:
                            return  # signed out, demoted or disabled: the stream ends with the session
                        quiet += 1
                        if quiet % 3 == 0:
                            yield ": keep-alive\n\n"
                        continue
                    if event is None:
                        return
                    yield f"event: {event['type']}\ndata: {json.dumps(event, default=str, ensure_ascii=False)}\n\n"
        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    routes: list[BaseRoute] = [
        Route("/api/login", login, methods=["POST"]),
        Route("/api/logout", logout, methods=["POST"]),
        Route("/api/me", me),
        Route("/api/alarms", alarms),
        Route("/api/alarms/{id}", alarm),
        Route("/api/alarms/{id}/actions", alarm_action, methods=["POST"]),
        Route("/api/alarms/{id}/mute", mute, methods=["POST"]),
        Route("/api/commands", command, methods=["POST"]),
        Route("/api/commands/{id}", command_state),
        Route("/api/gateways", gateways),
        Route("/api/devices", devices),
        Route("/api/health", health),
        Route("/api/tickets", tickets),
        Route("/api/tickets/{id}/close", close_ticket, methods=["POST"]),
        Route("/api/tickets/{id}/defer", defer_ticket, methods=["POST"]),
        Route("/api/sites", sites),
        Route("/api/sites/{id}", site),
        Route("/api/sites/{site}/devices/{id}", device),
        Route("/api/readiness", readiness),
        Route("/api/readiness/ranking", ranking),
        Route("/api/readiness/history", readiness_history),
        Route("/api/users", add_user, methods=["POST"]),
        Route("/api/users/{name}/disable", disable_user, methods=["POST"]),
        Route("/api/audit", audit),
        Route("/api/stream", stream),
    ]
    document = openapi_document(routes)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def refuse(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        return JSONResponse({"error": str(getattr(exc, "detail", "internal error"))}, status_code=status)

    routes.append(Route("/api/openapi.json", openapi, include_in_schema=False))
    routes.extend(console_routes())
    return Starlette(routes=routes, exception_handlers={Exception: refuse, 404: refuse, 405: refuse},
                     middleware=[Middleware(SecurityHeaders)])


def _check_write(store: Store, profiles: Mapping[str, Profile], site: str, cmd: dict[str, Any]) -> None:
    """A write is checked here against the profile the gateway's birth names for the device (and again
    at the agent): refused with the reason, nothing is sent."""
    device, point = cmd.get("device"), cmd.get("point")
    if not isinstance(device, str) or not isinstance(point, str) or "value" not in cmd:
        raise HttpError(400, "a write needs device, point and value")
    known = store.device(site, device)
    if known is None:
        raise HttpError(404, f"no device {device!r} at site {site!r}")
    profile = profiles.get(known["profile"] or "")
    if profile is None:
        raise HttpError(422, f"the collector does not know profile {known['profile']!r}: the write cannot be "
                             "checked, so it is not sent")
    try:
        check_write(profile, point, cmd["value"])
    except WriteRefused as exc:
        raise HttpError(422, str(exc)) from None


def _over_tls(request: Request) -> bool:
    """Served over TLS, directly or behind a proxy on loopback that says so."""
    if request.url.scheme == "https":
        return True
    proxied = request.client is not None and request.client.host in ("127.0.0.1", "::1")
    return proxied and request.headers.get("x-forwarded-proto") == "https"


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def _session(request: Request, auth: Auth) -> Session:
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    session = auth.session(_token(request))
    if session is None:
        raise HttpError(401, "sign in first")
    if not bearer and request.method not in ("GET", "HEAD", "OPTIONS") and \
            request.headers.get("x-csrf-token") != session.csrf:
        raise HttpError(403, "missing or wrong X-CSRF-Token")
    return session


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of a request, read no further than MAX_BODY (a 400 MB body is refused at its first
    64 KiB, not after it has been read into memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise HttpError(413, f"body over {MAX_BODY} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise HttpError(413, f"body over {MAX_BODY} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise HttpError(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    return body


# What the console must agree with the collector on, served from their one home rather than copied.
POLICY: Final = {"class_order": list(CLASS_ORDER),
                 "next_actions": {state: [a for a, (sources, _) in ACTIONS.items() if state in sources]
                                  for state in HANDLING_STATES}}


def _month(request: Request) -> str:
    """?month=YYYY-MM (ASCII digits), this month by default."""
    month = request.query_params.get("month") or time.strftime("%Y-%m")
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", month):
        raise HttpError(400, "month is YYYY-MM")
    return month


def _int(text: str) -> int:
    """An id from a path: ASCII digits only (superscripts and other scripts' digits are digits to Python),
    and no wider than SQLite's integers."""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise HttpError(404, "no such item")
    return int(text)
