"""The notification plan at work (cloud.notify_plan): on the leading collector, every second, each step due
for an alarm nobody has acknowledged is claimed in the store (once per alarm, step, person and channel)
and sent; a person whose channel failed (refused, no answer, or a failed receipt) gets the next channel
of the step. `due_sends` decides, purely, from the alarms and what was already tried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from cloud.event_hub import EventHub
from cloud.leadership import Leadership
from cloud.notify_channels import ChannelFailed, post_group, send_personal
from cloud.notify_plan import NotifyPlan
from cloud.store import Store
from cloud.store.notifications import GROUP
from cloud.store.writer import Writer

__all__ = ["Send", "due_sends", "message_params", "message_text", "record_outcome", "run_notifications"]

log = structlog.get_logger("firefleet.cloud.notify")
REACHED = ("accepted", "delivered", "answered")
STUCK_S = 60.0  # a send with no outcome this long (the collector died mid-send) counts as failed
LEVEL = {"fire": "火警", "supervisory": "监管", "fault": "故障", "prewarning": "预警", "status": "状态"}


@dataclass(frozen=True, slots=True)
class Send:
    alarm: dict[str, Any]
    step: int
    person: str  # a person's id, or GROUP for a group robot's post
    channel: str


def due_sends(plan: NotifyPlan, alarms: Sequence[dict[str, Any]], tried: Sequence[dict[str, Any]],
              now: float) -> list[Send]:
    """What to send now: for each unacknowledged, unmuted alarm with a rule, each step that is due, each
    person not yet reached gets the first channel of the step not yet tried (groups: one post a step)."""
    attempts: dict[tuple[int, int, str], list[dict[str, Any]]] = {}
    for row in tried:
        attempts.setdefault((int(row["alarm"]), int(row["step"]), str(row["person"])), []).append(row)
    out = []
    for alarm in alarms:
        if alarm["handling"] != "raised" or max(alarm.get("silenced_until") or 0,
                                                 alarm.get("shelved_until") or 0) > now:
            continue
        rule = plan.rule_for(alarm["class"], alarm.get("street") or "")
        if rule is None:
            continue
        for index, step in enumerate(rule.steps):
            if float(alarm["raised_at"]) + step.after_s > now:
                break
            for person in step.to:
                rows = attempts.get((alarm["id"], index, person), [])
                if any(r["state"] in (*REACHED, "sending") for r in rows):
                    continue
                used = {r["channel"] for r in rows}
                nxt = next((c for c in step.channels if c not in used), None)
                if nxt is not None:
                    out.append(Send(alarm, index, person, nxt))
            posted = {r["channel"] for r in attempts.get((alarm["id"], index, GROUP), [])}
            out += [Send(alarm, index, GROUP, c) for c in step.groups if c not in posted]
    return out


def message_params(alarm: dict[str, Any], site_name: str) -> dict[str, str]:
    """The template's fields (a provider's template holds the words; these fill them in)."""
    return {"level": LEVEL.get(alarm["class"], alarm["class"]), "site": site_name or alarm["site"],
            "what": str(alarm.get("text") or alarm.get("rule") or alarm["key"])[:40],
            "time": time.strftime("%H:%M", time.localtime(float(alarm["raised_at"])))}


def message_text(alarm: dict[str, Any], site_name: str) -> str:
    p = message_params(alarm, site_name)
    street = alarm.get("street") or ""
    return (f"【{p['level']}】{street} {p['site']} {alarm.get('device') or ''} {p['what']}，{p['time']} 报警，"
            f"至今无人受理。收到短信请回复 1 受理。(firefleet 警情 #{alarm['id']})")


async def run_notifications(jobs: Writer, hub: EventHub, plan: NotifyPlan, lead: Leadership,
                            site_names: Callable[[str], str], look_s: float = 1.0) -> None:
    """The leader's loop: claim what is due (one write), send it (HTTP, off the writer), record outcomes."""
    while True:
        await asyncio.sleep(look_s)
        if not lead.held:
            continue
        try:
            claimed = await jobs(lambda s: _claim_due(s, plan, time.time()))
        except Exception as exc:  # the store may be away for a moment; the next look tries again
            log.error("notifications not looked at", error=f"{type(exc).__name__}: {exc}")
            continue
        for send, out_id, address in claimed:
            state, provider_id, detail = await _deliver(plan, send, out_id, address, site_names(send.alarm["site"]))
            try:
                row = await jobs(record_outcome(out_id, state, provider_id=provider_id, detail=detail))
            except Exception as exc:  # left "sending": given up after STUCK_S, and the next channel goes
                log.error("notification outcome not kept", out_id=out_id, error=f"{type(exc).__name__}: {exc}")
                continue
            if row is not None:
                hub.publish({"type": "notification", "alarm_id": send.alarm["id"], "notification": row})


def record_outcome(out_id: str, state: str, *, provider_id: str = "", detail: str = "", reply: str = ""
                   ) -> Callable[[Store], dict[str, Any] | None]:
    """A store write recording what became of one notification (for the writer thread)."""
    return lambda store: store.notification_result(out_id, state, provider_id=provider_id, detail=detail, reply=reply)


def _claim_due(store: Store, plan: NotifyPlan, now: float) -> list[tuple[Send, str, str]]:
    store.give_up_stuck_notifications(now - STUCK_S)  # the collector died mid-send: the next channel goes
    alarms = [a for a in store.alarms() if a["handling"] == "raised"]
    sends = due_sends(plan, alarms, store.notification_attempts([a["id"] for a in alarms]), now)
    claimed = []
    for send in sends:
        address = plan.people[send.person].number if send.person != GROUP else plan.channels[send.channel].id
        out_id = store.claim_notification(send.alarm["id"], send.step, send.person, send.channel, address)
        if out_id is not None:  # None: another collector claimed it a moment ago
            claimed.append((send, out_id, address))
    return claimed


async def _deliver(plan: NotifyPlan, send: Send, out_id: str, address: str, site_name: str
                   ) -> tuple[str, str, str]:
    """Send one; (state, provider id, detail)."""
    channel = plan.channels[send.channel]
    try:
        if send.person == GROUP:
            rule = plan.rule_for(send.alarm["class"], send.alarm.get("street") or "")
            step = rule.steps[send.step] if rule else None
            numbers = [plan.people[p].number for p in (step.to if step else ())]
            await post_group(channel, message_text(send.alarm, site_name), numbers)
            log.info("notification posted", alarm=send.alarm["id"], channel=channel.id)
            return "accepted", "", ""
        provider_id = await send_personal(channel, address, message_params(send.alarm, site_name), out_id)
        log.info("notification sent", alarm=send.alarm["id"], channel=channel.id, person=send.person)
        return "accepted", provider_id, ""
    except ChannelFailed as exc:
        log.warning("notification failed", alarm=send.alarm["id"], channel=channel.id, person=send.person,
                    reason=str(exc))
        return "failed", "", str(exc)
