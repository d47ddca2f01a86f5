"""Alarms: the queue, one alarm with its trail, the life-cycle actions, silence and shelve, and the event stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cloud.alarm_lifecycle import Refused
from cloud.api.base import XLSX, Api, HttpError, attachment, endpoint, path_id, read_body, refusal, token_of
from cloud.auth import Session
from cloud.history import HistoryQuery, as_csv, as_xlsx, table
from cloud.site_overview import device_page, district_sites, dossier_of
from cloud.statistics import statistics
from cloud.store import Store

__all__ = ["routes"]

MOST_AT_ONCE = 50  # alarms in one action: an incident's, never the whole queue by accident


@endpoint()
async def alarms(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Alarms, fire first then by time; open ones (shelved ones too, flagged) unless ?all=1.
    """
    everything = request.query_params.get("all") == "1"
    return JSONResponse(await api.read(lambda s: s.alarms(open_only=not everything)))


@endpoint()
async def alarm(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: One alarm with its audit trail, its site, and its device (location, latest values, events).
    """
    alarm_id = path_id(request.path_params["id"])

    def detail(store: Store) -> dict[str, Any] | None:
        found = store.alarm(alarm_id)
        if found is None:
            return None
        site = next(iter(district_sites(store, api.inventory, only={found["site"]})), None)
        device = device_page(store, found["site"], found["device"], hours=0) if found["device"] else None
        return {**found, "log": store.alarm_log(found["id"]), "site_info": site, "device_info": device,
                "dossier": dossier_of(api.inventory, found["site"]), "snapshots": store.snapshots_of(found),
                "notifications": _named(api, store.notifications_of(found["id"])),
                "dispatches": store.dispatches_of(found["id"])}

    found = await api.read(detail)
    if found is None:
        raise HttpError(404, "no such alarm", "not_found")
    return JSONResponse(found)


def _named(api: Api, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Notifications with the person's name and the channel's kind, as the plan says them."""
    plan = api.notify_plan
    for row in rows:
        person = plan.people.get(row["person"]) if plan else None
        channel = plan.channels.get(row["channel"]) if plan else None
        row["who"] = person.name if person else ""
        row["channel_type"] = channel.type if channel else ""
    return rows


def _history_query(request: Request) -> HistoryQuery:
    try:
        return HistoryQuery.from_params(request.query_params)
    except ValueError as exc:
        raise HttpError(400, str(exc), "bad_field") from None


@endpoint()
async def history(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Closed and shelved alarms, newest first, each with `closed_at`; narrowed by ?since= and ?until=
      (epoch seconds), ?street=, ?site=, ?class=, ?result= (the disposition's) and ?text=; ?limit= at most 5,000.
    """
    query = _history_query(request)
    return JSONResponse(await api.read(lambda s: s.alarm_history(query)))


@endpoint()
async def alarm_statistics(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Alarms raised in [?since, ?until) (epoch seconds; the last 30 days by default) by class, street
      and month; the false-alarm rate among verdicts; median and p90 seconds to acknowledge and to close; the
      ten noisiest devices.
    """
    try:
        until = float(request.query_params.get("until") or time.time())
        since = float(request.query_params.get("since") or until - 30 * 86400)
    except ValueError:
        raise HttpError(400, "since and until are epoch seconds", "bad_field") from None
    if not 0 <= since < until < 10**11:
        raise HttpError(400, "since comes before until, both epoch seconds", "bad_field")
    figures = statistics(await api.read(lambda s: s.alarm_facts(since, until)))
    return JSONResponse({"since": since, "until": until, **figures})


async def _export(request: Request, api: Api, kind: str) -> Response:
    query, lang = _history_query(request), "en" if request.query_params.get("lang") == "en" else "zh"

    def rows(store: Store) -> list[list[Any]]:
        names = {site: str(place.get("name") or site) for site, place in store.places().items()}
        names |= {site: str(known.get("name") or site) for site, known in api.inventory.items()}
        return table(store.alarm_history(query), names, lang)

    found = await api.read(rows)
    stamp = time.strftime("%Y%m%d-%H%M")
    if kind == "csv":
        return attachment(as_csv(found), "text/csv; charset=utf-8", f"alarm-history-{stamp}.csv")
    body = await asyncio.to_thread(as_xlsx, found, "警情历史" if lang == "zh" else "Alarm history")
    return attachment(body, XLSX, f"alarm-history-{stamp}.xlsx")


@endpoint()
async def history_csv(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The alarm history (same parameters) as CSV in UTF-8 with a byte-order mark; headers in ?lang=zh
      (the default) or en.
    """
    return await _export(request, api, "csv")


@endpoint()
async def history_xlsx(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: The alarm history (same parameters) as an Excel workbook; headers in ?lang=zh (the default) or en.
    """
    return await _export(request, api, "xlsx")


@endpoint("alarm.handle")
async def alarm_action(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Acknowledge, verify, confirm, mark false, dispose or close an alarm (close needs a disposition).
    """
    assert session is not None
    body = await read_body(request)
    alarm_id = path_id(request.path_params["id"])
    disposition = body.get("disposition")
    if disposition is not None and not isinstance(disposition, dict):
        raise HttpError(400, "disposition must be an object with result and notes", "close_needs_disposition")
    user = session.user

    def act(store: Store) -> dict[str, Any]:
        done = store.handle(alarm_id, str(body.get("action", "")), user, str(body.get("notes", "")), disposition)
        store.audit(user, f"alarm {body.get('action')}", str(alarm_id), body)
        return done

    try:
        updated = await api.write(act)
    except KeyError:
        raise HttpError(404, "no such alarm", "not_found") from None
    api.hub.publish({"type": "alarm", "alarm": updated})
    return JSONResponse(updated)


@endpoint("alarm.handle")
async def alarms_action(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: One action on several alarms (the detector's fire and the shed interlock's fire of one incident,
      acknowledged together): {"ids", "action", "notes"}. Each alarm is handled and audited on its own, all in
      one write; answered with those done and those refused, each refusal with its reason and code.
    """
    assert session is not None
    body = await read_body(request)
    ids = body.get("ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MOST_AT_ONCE or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
        raise HttpError(400, f"ids is a list of 1 to {MOST_AT_ONCE} alarm ids", "bad_field")
    action, notes, user = str(body.get("action", "")), str(body.get("notes", "")), session.user
    if action == "close":
        raise HttpError(400, "alarms are closed one at a time, each with its disposition", "close_one_by_one")

    def act(store: Store) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        done, refused = [], []
        for alarm_id in dict.fromkeys(ids):
            try:
                done.append(store.handle(alarm_id, action, user, notes))
            except KeyError:
                refused.append({"id": alarm_id, **refusal("no such alarm", "not_found")})
            except Refused as exc:
                refused.append({"id": alarm_id, **refusal(str(exc), exc.code, exc.params)})
            else:
                store.audit(user, f"alarm {action}", str(alarm_id), {"action": action, "notes": notes, "with": ids})
        return done, refused

    done, refused = await api.write(act)
    for updated in done:
        api.hub.publish({"type": "alarm", "alarm": updated})
    return JSONResponse({"done": done, "refused": refused})


@endpoint("alarm.silence")
async def mute(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Silence or shelve an alarm for some minutes, with a reason ({"how", "minutes", "reason"}).
    """
    assert session is not None
    body = await read_body(request)
    minutes = body.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
        raise HttpError(400, "minutes must be a number", "mute_minutes")
    alarm_id, user = path_id(request.path_params["id"]), session.user

    def silence(store: Store) -> dict[str, Any]:
        done = store.mute(alarm_id, str(body.get("how", "")), float(minutes), user, str(body.get("reason", "")))
        store.audit(user, f"alarm {body.get('how')}", str(alarm_id), body)
        return done

    try:
        updated = await api.write(silence)
    except KeyError:
        raise HttpError(404, "no such alarm", "not_found") from None
    api.hub.publish({"type": "alarm", "alarm": updated})
    return JSONResponse(updated)


@endpoint()
async def stream(request: Request, api: Api, session: Session | None) -> Response:
    """
    summary: Server-sent events of alarm changes (event `alarm`) and gateway health (`health`), from every
      collector of the district; `resync` when some may have been missed (fetch the lists again); a
      keep-alive comment every 15 s.
    """
    token = token_of(request)

    async def events() -> AsyncIterator[str]:
        async with api.hub.subscribe() as queue:
            yield "retry: 2000\n\n"
            quiet = 0
            while True:
                try:
                    async with asyncio.timeout(5):
                        event = await queue.get()
                except TimeoutError:
                    if api.auth.session(token) is None:
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


routes = [
    Route("/api/alarms", alarms),
    Route("/api/alarms/actions", alarms_action, methods=["POST"]),
    Route("/api/history", history),
    Route("/api/statistics", alarm_statistics),
    Route("/api/history.csv", history_csv),
    Route("/api/history.xlsx", history_xlsx),
    Route("/api/alarms/{id}", alarm),
    Route("/api/alarms/{id}/actions", alarm_action, methods=["POST"]),
    Route("/api/alarms/{id}/mute", mute, methods=["POST"]),
    Route("/api/stream", stream),
]
