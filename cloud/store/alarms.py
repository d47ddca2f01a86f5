"""Alarms as people handle them: the duty queue, the life cycle's actions, silencing and escalation."""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from cloud.alarm_lifecycle import CLASS_ORDER, ESCALATE_AFTER, Refused, escalation_due_at, next_handling
from cloud.history import HistoryQuery
from cloud.store.base import StoreBase, among, parsed

__all__ = ["Alarms"]

_CLASS_RANK_SQL = "CASE class " + " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CLASS_ORDER)) + \
    f" ELSE {len(CLASS_ORDER)} END"  # the duty queue's order, from its one home (devices.profile)

class Alarms(StoreBase):
    def alarms(self, *, open_only: bool = True, include_shelved: bool = True,
               sites: Collection[str] | None = None) -> list[dict[str, Any]]:
        """Alarms (of `sites`, or all), most urgent first. Shelved ones are listed too (flagged `shelved`)
        unless asked not to: shelving takes an alarm off the active queue, never out of sight or counts."""
        where = "handling != 'closed'" if open_only else "1 = 1"
        args: list[Any] = []
        if sites is not None:
            within, wanted = among("site", sites)
            where += f" AND {within}"
            args += wanted
        if not include_shelved:
            where += " AND (shelved_until IS NULL OR shelved_until < ?)"  # a parameter: one statement text
            args.append(time.time())
        order = _CLASS_RANK_SQL + ", raised_at"
        return [_with_escalation(r) for r in self._rows("alarms", where, args, order_by=order)]

    def alarm_history(self, query: HistoryQuery) -> list[dict[str, Any]]:
        """Closed and shelved alarms (newest first) as `query` narrows them, each with `closed_at`."""
        where = ["(handling = 'closed' OR shelved_until IS NOT NULL)"]
        args: list[Any] = []
        for condition, value in (("raised_at >= ?", query.since), ("raised_at < ?", query.until),
                                 ("street = ?", query.street or None), ("site = ?", query.site or None),
                                 ("class = ?", query.cls or None)):
            if value is not None:
                where.append(condition)
                args.append(value)
        if query.result:
            where.append("disposition_json LIKE ?")
            args.append(f'%"result": "{query.result}"%')
        if query.text:
            where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '!'" for c in ("text", "key", "device", "site",
                                                                                "disposition_json")) + ")")
            args += ["%" + query.text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"] * 5
        select = "*, (SELECT MAX(at) FROM alarm_log l WHERE l.alarm = alarms.id AND l.action = 'close') AS closed_at"
        return [_with_escalation(r) for r in self._rows("alarms", " AND ".join(where), args, select=select,
                                                         order_by="raised_at DESC", limit=query.limit)]

    def alarm_facts(self, since: float, until: float) -> list[dict[str, Any]]:
        """One row per alarm raised in [since, until) for cloud.statistics: class, street, site, device,
        when raised, first acknowledged and closed, and the verdict (false_alarm or confirm) if any."""
        def log(action: str, how: str = "MIN(at)") -> str:
            return f"(SELECT {how} FROM alarm_log l WHERE l.alarm = alarms.id AND l.action {action})"
        acknowledged, closed = log("= 'acknowledge'"), log("= 'close'", "MAX(at)")
        verdict = log("IN ('false_alarm', 'confirm')", "MAX(action)")
        select = (f"id, class, street, site, device, raised_at, {acknowledged} AS acknowledged_at, "
                  f"{closed} AS closed_at, {verdict} AS verdict")
        return self._rows("alarms", "raised_at >= ? AND raised_at < ?", [since, until], select=select)

    def alarm(self, alarm_id: int) -> dict[str, Any] | None:
        rows = list(self._rows("alarms", "id = ?", [alarm_id]))
        return _with_escalation(rows[0]) if rows else None

    def alarm_log(self, alarm_id: int) -> list[dict[str, Any]]:
        """Who did what to an alarm, and when (record ids stay in the store: they are not for viewers)."""
        return list(self._rows("alarm_log", "alarm = ?", [alarm_id], order_by="id",
                                                          select="id, alarm, at, who, action, notes"))

    def handle(self, alarm_id: int, action: str, who: str, notes: str = "",
               disposition: dict[str, Any] | None = None) -> dict[str, Any]:
        """Apply a person's action (refused with a reason by the life cycle); logged with who and when."""
        alarm = self.alarm(alarm_id)
        if alarm is None:
            raise KeyError(alarm_id)
        handling = next_handling(alarm["handling"], alarm["condition"], action, disposition)
        with self.sql.transaction():
            fields: dict[str, Any] = {"handling": handling, "updated_at": time.time()}
            if disposition is not None:
                fields["disposition_json"] = json.dumps({**disposition, "who": who}, ensure_ascii=False)
            self._update("alarms", alarm_id, fields)
            self._log(alarm_id, who, action, notes)
        return self.alarm(alarm_id) or {}

    def mute(self, alarm_id: int, how: str, minutes: float, who: str, reason: str) -> dict[str, Any]:
        """Silence (no sound, no notifications) or shelve (off the active queue) until an expiry.
        Neither closes the alarm; both are in its log."""
        if how not in ("silence", "shelve"):
            raise Refused("how is silence or shelve", code="mute_how")
        if not 0 < minutes <= 24 * 60:
            raise Refused("minutes must be between 1 and 1440", code="mute_minutes")
        if not reason.strip():
            raise Refused(f"to {how} an alarm, say why", code="mute_reason")
        alarm = self.alarm(alarm_id)
        if alarm is None:
            raise KeyError(alarm_id)
        if alarm["handling"] == "closed":
            raise Refused("the alarm is closed", code="alarm_closed")
        if alarm["class"] == "fire" and alarm["handling"] == "raised":
            raise Refused(f"a fire alarm cannot be {'silenced' if how == 'silence' else 'shelved'} before someone "
                          "acknowledges it: nothing may hide an unanswered fire", code="mute_unanswered_fire")
        until = time.time() + minutes * 60
        column = "silenced_until" if how == "silence" else "shelved_until"
        with self.sql.transaction():
            self._update("alarms", alarm_id, {column: until})
            self._log(alarm_id, who, how, f"{minutes:g} min: {reason}")
        return self.alarm(alarm_id) or {}

    def next_escalation(self) -> float | None:
        """When the next unacknowledged alarm goes up the roster (one aggregate query: the escalation loop
        asks this every second instead of loading every open alarm)."""
        after = "CASE class " + " ".join(f"WHEN '{c}' THEN {s}" for c, s in ESCALATE_AFTER.items()) + " ELSE 600 END"
        row = self.sql.execute(f"SELECT MIN(raised_at + ({after}) * (COALESCE(escalated, 0) + 1)) FROM alarms "
                              f"WHERE handling = 'raised' AND {self.sql.is_number('raised_at')}").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def escalate(self, alarm_id: int, level: int, to: str) -> bool:
        """Take the alarm from level - 1 to `level`. False when it is not at level - 1 any more (another
        collector took this step, or someone acknowledged it): one step is taken, and notified, once."""
        with self.sql.transaction():
            changed = self.sql.execute("UPDATE alarms SET escalated = ? WHERE id = ? AND COALESCE(escalated, 0) = ? "
                                       "AND handling = 'raised'", (level, alarm_id, level - 1)).rowcount
            if changed:
                self._log(alarm_id, "collector", "escalated", to)
        return bool(changed)


def _with_escalation(row: dict[str, Any]) -> dict[str, Any]:
    """An alarm as the API serves it: the row's JSON columns parsed (`value`, `disposition`: a column
    name never reaches the browser), `escalate_at` (when it goes up the roster unless someone
    acknowledges it first) and whether it is shelved or silenced now."""
    row = dict(row)
    row["value"] = parsed(row.pop("value_json", None), None)
    row["disposition"] = parsed(row.pop("disposition_json", None), None)
    try:
        due = escalation_due_at(row["handling"], row["class"], float(row["raised_at"]), int(row["escalated"] or 0))
    except (TypeError, ValueError):  # a row from before records were checked: shown, never escalated
        due = None
    now = time.time()
    return {**row, "escalate_at": due, "shelved": (row.get("shelved_until") or 0) > now,
            "silenced": (row.get("silenced_until") or 0) > now}
