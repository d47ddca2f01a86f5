"""What comes back from notification providers: delivery receipts, SMS replies and the keys a callee pressed.

The providers call these without a session, so each call must carry the channel's signature
(devices.provider_signature) or it is refused and counted. A reply "1" by SMS, or "1" pressed during a
voice call, acknowledges the alarm that number was last told about (audited under the person's name);
a failed receipt lets the notification job reach the person through the step's next channel.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud.alarm_lifecycle import Refused
from cloud.api.base import Api, HttpError, endpoint, parse_json, read_raw
from cloud.auth import Session
from cloud.notify_job import record_outcome
from cloud.notify_plan import Channel, NotifyPlan
from cloud.store import Store
from devices.provider_signature import valid_signature

__all__ = ["routes"]

log = structlog.get_logger("firefleet.cloud.notify")
MAX_ITEMS = 1000
ACKNOWLEDGE = "1"
OK = {"code": 0, "msg": "成功"}  # what the providers expect back


async def _signed_items(request: Request, api: Api) -> tuple[NotifyPlan, Channel, list[dict[str, Any]]]:
    plan = api.notify_plan
    channel = plan.channels.get(str(request.path_params["channel"])) if plan else None
    if plan is None or channel is None or channel.type not in ("sms", "voice"):
        raise HttpError(404, "no such channel", "not_found")
    raw = await read_raw(request)
    if not valid_signature(channel.secret, request.headers.get("x-ff-timestamp", ""), raw,
                           request.headers.get("x-ff-signature", ""), time.time()):
        log.warning("provider callback refused", channel=channel.id, reason="bad or old signature")
        raise HttpError(401, "bad or old signature", "bad_signature")
    items = parse_json(raw)
    if not isinstance(items, list) or len(items) > MAX_ITEMS or not all(isinstance(i, dict) for i in items):
        raise HttpError(400, f"a list of at most {MAX_ITEMS} objects", "bad_field")
    return plan, channel, items


@endpoint(public=True)
async def receipts(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: A provider's delivery receipts ([{out_id, success, err_code, dtmf}]), signed with the channel's
      secret; dtmf "1" (pressed during a voice call) acknowledges the alarm.
    """
    plan, _, items = await _signed_items(request, api)
    for item in items:
        out_id = item.get("out_id")
        if not isinstance(out_id, str) or len(out_id) > 64:
            continue
        delivered = item.get("success") is True
        detail = "" if delivered else str(item.get("err_code") or "not delivered")[:100]
        row = await api.write(record_outcome(out_id, "delivered" if delivered else "failed", detail=detail))
        if row is None:
            continue
        api.hub.publish({"type": "notification", "alarm_id": row["alarm"], "notification": row})
        if str(item.get("dtmf") or "").strip() == ACKNOWLEDGE and row["person"] in plan.people:
            await _acknowledge(api, row, plan.people[row["person"]].name, "语音按键 1 / pressed 1 on the call", "1")
    return JSONResponse(OK)


@endpoint(public=True)
async def replies(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: SMS replies ([{phone_number, content, send_time}]), signed with the channel's secret; "1"
      acknowledges the alarm that number was last told about.
    """
    plan, channel, items = await _signed_items(request, api)
    for item in items:
        number, content = item.get("phone_number"), item.get("content")
        if not isinstance(number, str) or not isinstance(content, str):
            continue
        person = plan.person_by_number(number)
        if person is None:
            log.info("reply from an unknown number", channel=channel.id)
            continue
        rows = await api.read(partial(_told, person.number, channel.id))
        if not rows:
            continue
        if content.strip() == ACKNOWLEDGE:  # every unanswered alarm of the incident this number was told about
            for row in rows:
                await _acknowledge(api, row, person.name, "短信回复 1 / replied 1 by SMS", content.strip())
        else:
            await api.write(record_outcome(rows[0]["out_id"], rows[0]["state"], reply=content))
    return JSONResponse(OK)


def _told(number: str, channel: str, store: Store) -> list[dict[str, Any]]:
    """What a number was told through a channel lately about the site of the newest: newest first."""
    rows = store.sent_to(number, channel)
    sites = {row["alarm"]: (store.alarm(int(row["alarm"])) or {}).get("site") for row in rows}
    return [row for row in rows if rows and sites[row["alarm"]] == sites[rows[0]["alarm"]]]


async def _acknowledge(api: Api, row: dict[str, Any], who: str, how: str, reply: str) -> None:
    def act(store: Store) -> dict[str, Any] | None:
        store.notification_result(row["out_id"], "answered", reply=reply)
        try:
            done = store.handle(int(row["alarm"]), "acknowledge", who, how)
        except (Refused, KeyError):
            return None  # acknowledged already (at the console, or by someone else's reply)
        store.audit(who, "alarm acknowledge", str(row["alarm"]), {"via": row["channel"], "reply": reply})
        return done

    done = await api.write(act)
    if done is not None:
        log.info("alarm acknowledged by a reply", alarm=row["alarm"], who=who, channel=row["channel"])
        api.hub.publish({"type": "alarm", "alarm": done})


routes = [
    Route("/api/notify/{channel}/receipts", receipts, methods=["POST"]),
    Route("/api/notify/{channel}/replies", replies, methods=["POST"]),
]
