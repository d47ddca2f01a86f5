"""The handling of an alarm by people, apart from its condition on site. Pure.

    raised --acknowledge--> acknowledged --verify--> verifying --confirm--> confirmed --dispose--> disposing
                                                              \\--false_alarm--> false_alarm
    disposing | false_alarm --close (condition cleared, disposition: who, result, notes)--> closed

The condition (active / cleared) comes from the site; the handling comes from people. Closing is refused
while the condition is still active, or without a disposition record: that record is the closed loop
(闭环). Each refusal says why. Repeats of one condition while an alarm is open fold into it (a counter).
"""

from __future__ import annotations

from typing import Any, Final

from devices.errors import ActionRefused
from devices.profile import ALARM_CLASSES

__all__ = ["ACTIONS", "CLASS_ORDER", "ESCALATE_AFTER", "HANDLING_STATES", "Refused", "escalation_due_at",
           "next_handling", "overdue_for_escalation"]

HANDLING_STATES: Final = ("raised", "acknowledged", "verifying", "confirmed", "false_alarm", "disposing", "closed")
ACTIONS: Final = {
    "acknowledge": (("raised",), "acknowledged"),
    "verify": (("acknowledged",), "verifying"),
    "confirm": (("verifying",), "confirmed"),
    "false_alarm": (("verifying",), "false_alarm"),
    "dispose": (("confirmed",), "disposing"),
    "close": (("disposing", "false_alarm"), "closed"),
}
# Most urgent first: the duty queue's order and a site's colour on the map.
CLASS_ORDER: Final = ALARM_CLASSES
# Unacknowledged this long -> escalate to the next person on the roster (seconds, by class).
ESCALATE_AFTER: Final = {"fire": 60.0, "supervisory": 300.0, "fault": 1800.0, "prewarning": 600.0, "status": 3600.0}


class Refused(ActionRefused, ValueError):
    """An action that the alarm's state does not allow; the message is for the person who tried."""


def next_handling(handling: str, condition: str, action: str, disposition: dict[str, Any] | None = None) -> str:
    """The handling state after `action`, or Refused with the reason."""
    if action not in ACTIONS:
        raise Refused(f"unknown action {action!r}; one of {', '.join(ACTIONS)}", code="unknown_action")
    allowed_from, to = ACTIONS[action]
    if handling not in allowed_from:
        raise Refused(f"cannot {action.replace('_', ' ')} an alarm that is {handling.replace('_', ' ')} "
                      f"(only when {' or '.join(allowed_from)})", code="wrong_step", action=action, handling=handling)
    if action == "close":
        if condition == "active":
            raise Refused("cannot close while the condition is still active on site", code="close_while_active")
        if not disposition or not str(disposition.get("result", "")).strip():
            raise Refused("closing needs a disposition: the result of the handling and notes",
                          code="close_needs_disposition")
    return to


def escalation_due_at(handling: str, cls: str, raised_at: float, escalated: int) -> float | None:
    """When the alarm goes to the next level unless acknowledged first (None once acknowledged)."""
    if handling != "raised":
        return None
    return raised_at + ESCALATE_AFTER.get(cls, 600.0) * (escalated + 1)


def overdue_for_escalation(handling: str, cls: str, raised_at: float, escalated: int, now: float) -> bool:
    """True when nobody acknowledged within the class's time (again for each further level)."""
    due = escalation_due_at(handling, cls, raised_at, escalated)
    return due is not None and now >= due
