"""Escalation of alarms nobody acknowledged, along the duty roster. Time is passed in (tests inject it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloud.alarm_lifecycle import overdue_for_escalation
from cloud.store import Store

__all__ = ["escalate_due"]


def escalate_due(store: Store, roster: Sequence[str], now: float) -> list[dict[str, Any]]:
    """Escalate every open alarm overdue at `now` one level up the roster; returns what was escalated."""
    done = []
    for alarm in store.alarms():
        if (alarm.get("silenced_until") or 0) > now or (alarm.get("shelved_until") or 0) > now:
            continue  # muted on purpose, with an expiry and a reason in its log
        if overdue_for_escalation(alarm["handling"], alarm["class"], alarm["raised_at"], alarm["escalated"], now):
            level = alarm["escalated"] + 1
            to = roster[min(level, len(roster)) - 1] if roster else "duty centre"
            if store.escalate(alarm["id"], level, to):
                done.append({**alarm, "escalated": level, "escalated_to": to})
    return done
