"""Commands to gateways: checked here (a write against the device's profile) before they are stored and sent."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, read_body
from cloud.auth import Session
from cloud.store import Store
from devices.contract import ContractError, as_command
from devices.profile import Profile
from devices.protocol import COMMAND_ACTIONS
from devices.write_check import WriteRefused, check_write

__all__ = ["COMMAND_TTL_S", "dispatch", "routes"]

COMMAND_TTL_S = 300.0  # a command not taken up within 5 minutes expires: a late power switch is worse than none


@endpoint("command.send")
async def command(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Send a command to a gateway (write a point, rebirth, reload its config); answered with its id.
    """
    assert session is not None
    body = await read_body(request)
    site, gateway, action = body.get("site"), body.get("gateway"), body.get("action")
    if not isinstance(site, str) or not isinstance(gateway, str) or action not in COMMAND_ACTIONS:
        raise HttpError(400, f"need site, gateway and an action among {', '.join(COMMAND_ACTIONS)}", "bad_command")
    known = await api.read(lambda s: s.gateway(gateway))
    if known is None or known["site"] != site:
        raise HttpError(404, f"no gateway {gateway!r} at site {site!r}", "not_found")
    cmd: dict[str, Any] = {"id": f"cmd-{uuid.uuid4().hex[:12]}", "action": action}
    cmd.update({k: body[k] for k in ("device", "point", "value", "key") if k in body})
    if action == "write":
        await api.read(lambda s: check_write_command(s, api.profiles, site, cmd))
        override = body.get("override")
        if override is not None:
            reason = override.get("reason") if isinstance(override, dict) else None
            if not isinstance(reason, str) or not 3 <= len(reason.strip()) <= 500:
                raise HttpError(400, "an override needs a reason (3 to 500 characters): it outranks an interlock",
                                "override_reason")
            cmd["override"] = {"reason": reason.strip(), "by": session.user}
    ttl = body.get("expires_in", COMMAND_TTL_S)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 5 <= ttl <= 3600:
        raise HttpError(400, "expires_in is a number of seconds between 5 and 3600", "bad_field")
    return JSONResponse(await dispatch(api, session.user, site, gateway, cmd, float(ttl)), status_code=202)


async def dispatch(api: Api, user: str, site: str, gateway: str, cmd: dict[str, Any], ttl: float = COMMAND_TTL_S
                   ) -> dict[str, Any]:
    """Check a command against the contract, store it (durable, audited) and send it; its id and state."""
    try:
        command = as_command(cmd)  # the contract's own check, on top of the profile's
    except ContractError as exc:
        raise HttpError(400, f"not a command a gateway takes: {exc}", "bad_command") from None
    expires = time.time() + ttl

    def record(store: Store) -> None:
        if "override" in cmd:
            store.audit(user, "interlock override", f"{site}/{gateway}", cmd)
        store.add_command(cmd, site, gateway, user, expires)
        store.audit(user, "command", f"{site}/{gateway}", cmd)

    await api.write(record)
    with contextlib.suppress(ConnectionError):  # durable: sent again on the gateway's next birth, unexpired
        await api.send_command(site, gateway, command, ttl)
    return {"id": cmd["id"], "state": "init", "expires": expires}


@endpoint()
async def command_state(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A command's state (init, executing, successful, failed, expired) and reason.
    """
    command_id = request.path_params["id"]
    found = await api.read(lambda s: s.command(command_id))
    if found is None:
        raise HttpError(404, "no such command", "not_found")
    return JSONResponse(found)


def check_write_command(store: Store, profiles: Mapping[str, Profile], site: str, cmd: dict[str, Any]) -> None:
    """A write is checked here against the profile the gateway's birth names for the device (and again
    at the agent): refused with the reason, nothing is sent."""
    device, point = cmd.get("device"), cmd.get("point")
    if not isinstance(device, str) or not isinstance(point, str) or "value" not in cmd:
        raise HttpError(400, "a write needs device, point and value", "bad_command")
    known = store.device(site, device)
    if known is None:
        raise HttpError(404, f"no device {device!r} at site {site!r}", "not_found")
    profile = profiles.get(known["profile"] or "")
    if profile is None:
        raise HttpError(422, f"the collector does not know profile {known['profile']!r}: the write cannot be "
                             "checked, so it is not sent", "unknown_profile")
    try:
        check_write(profile, point, cmd["value"])
    except WriteRefused as exc:
        raise HttpError.of(422, exc) from None

routes = [
    Route("/api/commands", command, methods=["POST"]),
    Route("/api/commands/{id}", command_state),
]
