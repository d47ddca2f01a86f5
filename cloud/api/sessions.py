"""Signing in and out, who is signed in (with the policy the console shares), users and the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.alarm_lifecycle import ACTIONS, CLASS_ORDER, HANDLING_STATES
from cloud.api.base import COOKIE, Api, HttpError, endpoint, over_tls, read_body, refusal, token_of
from cloud.auth import PERMISSIONS, USER_NAME, LoginRefused, Session, may

__all__ = ["routes"]


# What the console must agree with the collector on, served from their one home rather than copied.
POLICY: Final = {"class_order": list(CLASS_ORDER),
                 "next_actions": {state: [a for a, (sources, _) in ACTIONS.items() if state in sources]
                                  for state in HANDLING_STATES}}


@endpoint(public=True)
async def login(request: Request, api: Api, _: Session | None) -> Response:
    """
    summary: Sign in. Sets a session cookie (writes then need X-CSRF-Token); with token set to true the
      answer also carries a bearer token for API clients.
    """
    body = await read_body(request)
    name, password = body.get("user"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise HttpError(400, "user and password are text", "bad_field")
    address = request.client.host if request.client else ""
    try:
        token, session = api.auth.login(name, password, address)
    except LoginRefused as exc:
        if exc.delay:
            await asyncio.sleep(exc.delay)
        if exc.retry_after:
            failures = len(api.auth.throttle.by_address.get(address, ()))
            if failures == 6:  # one audit row when an address starts being held back, not one per try
                api.store.audit(name[:64], "login throttled", address, {"failures": failures})
            return JSONResponse(refusal(str(exc), exc.code, exc.params), status_code=429,
                                headers={"Retry-After": str(max(1, round(exc.retry_after)))})
        if USER_NAME.match(name) and len(api.auth.throttle.by_address.get(address, ())) <= 5:
            api.store.audit(name, "login refused", address, {"reason": str(exc)})
        raise HttpError.of(401, exc) from None
    api.store.audit(session.user, "login", address)
    answer: dict[str, Any] = {"csrf": session.csrf, "user": session.user, "role": session.role}
    if body.get("token") is True:
        answer["token"] = token  # API clients; a browser keeps to its HttpOnly cookie
    response = JSONResponse(answer)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600,
                        secure=over_tls(request))
    return response


@endpoint()
async def logout(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Sign out.
    """
    token = token_of(request)
    if token:
        api.auth.logout(token)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE)
    return response


@endpoint()
async def me(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Who is signed in, with which role and permissions, and the CSRF token for writes.
    """
    assert session is not None
    return JSONResponse({"user": session.user, "role": session.role, "csrf": session.csrf,
                         "permissions": sorted(p for p in PERMISSIONS if may(session.role, p)),
                         "policy": POLICY})


@endpoint()
async def labels(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: What people read for each point and event (zh, en, unit), and for repeated parts (port, vehicle).
    """
    return JSONResponse(api.labels.as_json(), headers={"Cache-Control": "private, max-age=3600"})


@endpoint("user.manage")
async def users(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Every user with role and whether disabled, by name (admin only; never a password hash).
    """
    return JSONResponse(await api.read(lambda s: s.user_list()))


def _keeps_an_admin(api: Api, name: str, *, role: str | None = None, disabled: bool = False) -> None:
    """Refused when the change would leave the district without an active admin (nobody could undo it)."""
    admins = set(api.store.active_admins())
    if name in admins and (disabled or (role is not None and role != "admin")) and admins == {name}:
        raise HttpError(409, f"{name} is the last active admin", "last_admin")


@endpoint("user.manage")
async def add_user(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Create a user, or reset one's password and role (admin only); its open sessions end.
    """
    assert session is not None
    body = await read_body(request)
    _keeps_an_admin(api, str(body.get("name", "")), role=str(body.get("role", "")))
    try:
        api.auth.add_user(str(body.get("name", "")), str(body.get("password", "")), str(body.get("role", "")))
    except ValueError as exc:
        raise HttpError(400, str(exc), "bad_user") from None
    api.store.audit(session.user, "user added", str(body.get("name")), {"role": body.get("role")})
    return JSONResponse({"name": body.get("name"), "role": body.get("role")}, status_code=201)


@endpoint("user.manage")
async def disable_user(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Disable a user (admin only); every session of that user ends at once.
    """
    assert session is not None
    name = request.path_params["name"]
    if name == session.user:
        raise HttpError(409, "an admin does not disable their own account", "own_account")
    _keeps_an_admin(api, name, disabled=True)
    if not api.auth.disable_user(name):
        raise HttpError(404, "no such user", "not_found")
    api.store.audit(session.user, "user disabled", name[:64])
    return JSONResponse({"name": name, "disabled": True})


@endpoint("user.manage")
async def enable_user(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Enable a disabled user again (admin only).
    """
    assert session is not None
    name = request.path_params["name"]
    if not api.auth.disable_user(name, disabled=False):
        raise HttpError(404, "no such user", "not_found")
    api.store.audit(session.user, "user enabled", name[:64])
    return JSONResponse({"name": name, "disabled": False})


@endpoint("user.manage")
async def change_user(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Change a user's role and/or set a new password ({"role"}, {"password"}; admin only); its open
      sessions end.
    """
    assert session is not None
    name = request.path_params["name"]
    body = await read_body(request)
    known = api.store.user(name)
    if known is None:
        raise HttpError(404, "no such user", "not_found")
    role, password = body.get("role", known[1]), body.get("password")
    if not isinstance(role, str) or (password is not None and not isinstance(password, str)):
        raise HttpError(400, "role and password are text", "bad_field")
    _keeps_an_admin(api, name, role=role)
    try:
        if password is None:
            api.auth.set_role(name, role)
        else:
            api.auth.add_user(name, password, role)
    except ValueError as exc:
        raise HttpError(400, str(exc), "bad_user") from None
    api.store.audit(session.user, "user changed", name, {"role": role, "password": "reset" if password else "kept"})
    return JSONResponse({"name": name, "role": role})


@endpoint("user.manage")
async def audit(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The audit trail, newest first (admin only), narrowed by ?who=, ?action=, ?text= (in who, the
      target or the details), ?since= and ?until= (epoch seconds) and ?limit= (at most 1000).
    """
    query = request.query_params
    try:
        since = float(query["since"]) if query.get("since") else None
        until = float(query["until"]) if query.get("until") else None
        limit = min(1000, max(1, int(query.get("limit") or 200)))
    except ValueError:
        raise HttpError(400, "since and until are epoch seconds, limit a whole number", "bad_field") from None
    who, action, text = (query.get(k, "")[:200] for k in ("who", "action", "text"))
    return JSONResponse(await api.read(lambda s: s.audit_log(limit, who=who, action=action, text=text,
                                                                since=since, until=until)))


routes = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me),
    Route("/api/labels", labels),
    Route("/api/users", users),
    Route("/api/users", add_user, methods=["POST"]),
    Route("/api/users/{name}", change_user, methods=["POST"]),
    Route("/api/users/{name}/disable", disable_user, methods=["POST"]),
    Route("/api/users/{name}/enable", enable_user, methods=["POST"]),
    Route("/api/audit", audit),
]
