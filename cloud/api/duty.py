"""The duty centre's records: shift handovers (交接班) and duty checks (查岗)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.api.base import Api, HttpError, endpoint, path_id, read_body
from cloud.auth import Session
from cloud.store import Store

__all__ = ["routes"]

CHECK_WITHIN_S = (10.0, 600.0)  # how long an officer may take to answer a duty check: bounds


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > 2000:
        raise HttpError(400, f"{name} is text of at most 2,000 characters", "bad_field")
    return value


@endpoint()
async def handovers(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Shift handovers, newest first, each with what stood open when it was written.
    """
    return JSONResponse(await api.read(lambda s: s.handovers()))


@endpoint("duty.record")
async def write_handover(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The outgoing officer's handover ({"note"}); the open and shelved alarms, overdue tickets and
      offline gateways of this moment are attached.
    """
    assert session is not None
    note, user = _text(await read_body(request), "note"), session.user
    if not note.strip():
        raise HttpError(400, "a handover needs a note", "handover_note")

    def write(store: Store) -> dict[str, Any]:
        done = store.write_handover(user, note)
        store.audit(user, "handover written", str(done["id"]), done["snapshot"]["counts"])
        return done
    return JSONResponse(await api.write(write), status_code=201)


@endpoint("duty.record")
async def accept_handover(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The incoming officer accepts a handover ({"note"}: optional); not the officer who wrote it.
    """
    assert session is not None
    handover_id, user = path_id(request.path_params["id"]), session.user
    note = _text(await read_body(request), "note")

    def accept(store: Store) -> dict[str, Any]:
        done = store.accept_handover(handover_id, user, note)
        store.audit(user, "handover accepted", str(handover_id))
        return done
    try:
        return JSONResponse(await api.write(accept))
    except KeyError:
        raise HttpError(404, "no such handover", "not_found") from None


@endpoint()
async def duty_checks(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Duty checks, newest first: waiting, answered (by whom, when) or missed.
    """
    return JSONResponse(await api.read(lambda s: s.duty_checks()))


@endpoint("duty.check")
async def send_duty_check(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Ask whoever is on duty to answer within {"within_s"} seconds (10 to 600, 60 if not given);
      every duty console shows it at once.
    """
    assert session is not None
    within, user = (await read_body(request)).get("within_s", 60), session.user
    if isinstance(within, bool) or not isinstance(within, (int, float)) or not (
            CHECK_WITHIN_S[0] <= within <= CHECK_WITHIN_S[1]):
        raise HttpError(400, "within_s is a number of seconds between 10 and 600", "bad_field")

    def send(store: Store) -> dict[str, Any]:
        check = store.send_duty_check(user, float(within))
        store.audit(user, "duty check sent", str(check["id"]), {"within_s": within})
        return check
    check = await api.write(send)
    api.hub.publish({"type": "duty_check", "check": check})
    return JSONResponse(check, status_code=201)


@endpoint("duty.record")
async def answer_duty_check(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Answer a duty check (in time; a late answer is refused: the check is missed).
    """
    assert session is not None
    check_id, user = path_id(request.path_params["id"]), session.user

    def answer(store: Store) -> dict[str, Any]:
        check = store.answer_duty_check(check_id, user)
        store.audit(user, "duty check answered", str(check_id))
        return check
    try:
        check = await api.write(answer)
    except KeyError:
        raise HttpError(404, "no such duty check", "not_found") from None
    api.hub.publish({"type": "duty_check", "check": check})
    return JSONResponse(check)


routes = [
    Route("/api/handovers", handovers),
    Route("/api/handovers", write_handover, methods=["POST"]),
    Route("/api/handovers/{id}/accept", accept_handover, methods=["POST"]),
    Route("/api/duty-checks", duty_checks),
    Route("/api/duty-checks", send_duty_check, methods=["POST"]),
    Route("/api/duty-checks/{id}/answer", answer_duty_check, methods=["POST"]),
]
