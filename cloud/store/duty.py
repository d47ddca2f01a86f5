"""The duty centre's own records: shift handovers (交接班) and duty checks (查岗).

A handover is the outgoing officer's note with what stood open at that moment (open and shelved alarms,
overdue tickets, gateways offline), accepted by someone else coming on. A duty check asks whoever is on
duty to answer within a time; one nobody answered by then is marked missed once (and the caller escalates).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloud.alarm_lifecycle import Refused
from cloud.store.alarms import Alarms
from cloud.store.base import parsed
from cloud.store.maintenance import Maintenance

__all__ = ["Duty"]

SNAPSHOT_MOST = 200  # items of each kind kept in a handover (with the full counts)


class Duty(Alarms, Maintenance):  # a handover is a look at the open alarms and overdue tickets
    def write_handover(self, who: str, note: str, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        alarms = self.alarms()
        shelved = [a for a in alarms if (a.get("shelved_until") or 0) > now]
        open_ = [a for a in alarms if a not in shelved]
        overdue = self.tickets(now=now, overdue_only=True)
        offline = self._rows("gateways", "online = 0", select="id, site, last_seen", order_by="id")
        snapshot = {
            "counts": {"open": len(open_), "shelved": len(shelved), "overdue_tickets": len(overdue),
                       "offline_gateways": len(offline)},
            "open": [_alarm(a) for a in open_[:SNAPSHOT_MOST]], "shelved": [_alarm(a) for a in shelved[:SNAPSHOT_MOST]],
            "overdue_tickets": [{"id": t["id"], "site": t["site"], "device": t["device"], "kind": t["kind"],
                                 "deadline": t["deadline"]} for t in overdue[:SNAPSHOT_MOST]],
            "offline_gateways": offline[:SNAPSHOT_MOST]}
        with self.sql.transaction():
            handover_id = self._insert("handovers", {"written_at": now, "outgoing": who, "note": note[:2000],
                                                     "snapshot": json.dumps(snapshot, ensure_ascii=False)},
                                       returning_id=True)
        assert handover_id is not None
        return self.handover(handover_id) or {}

    def handover(self, handover_id: int) -> dict[str, Any] | None:
        rows = self._rows("handovers", "id = ?", [handover_id])
        return _handover(rows[0]) if rows else None

    def handovers(self, limit: int = 50) -> list[dict[str, Any]]:
        return [_handover(r) for r in self._rows("handovers", order_by="id DESC", limit=limit)]

    def accept_handover(self, handover_id: int, who: str, note: str = "", now: float | None = None) -> dict[str, Any]:
        found = self.handover(handover_id)
        if found is None:
            raise KeyError(handover_id)
        if found["accepted_by"]:
            raise Refused(f"handover {handover_id} was accepted by {found['accepted_by']}", code="handover_accepted",
                          who=found["accepted_by"])
        if found["outgoing"] == who:
            raise Refused("the officer coming on accepts a handover, not the one who wrote it", code="own_handover")
        with self.sql.transaction():
            self.sql.execute("UPDATE handovers SET accepted_by = ?, accepted_at = ?, accept_note = ? "
                             "WHERE id = ? AND accepted_by IS NULL",
                             (who, time.time() if now is None else now, note[:2000], handover_id))
        return self.handover(handover_id) or {}

    def send_duty_check(self, who: str, within_s: float, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        with self.sql.transaction():
            check_id = self._insert("duty_checks", {"sent_at": now, "sent_by": who, "due_at": now + within_s},
                                    returning_id=True)
        assert check_id is not None
        return self.duty_check(check_id) or {}

    def duty_check(self, check_id: int) -> dict[str, Any] | None:
        rows = self._rows("duty_checks", "id = ?", [check_id])
        return _check(rows[0]) if rows else None

    def duty_checks(self, limit: int = 50) -> list[dict[str, Any]]:
        return [_check(r) for r in self._rows("duty_checks", order_by="id DESC", limit=limit)]

    def answer_duty_check(self, check_id: int, who: str, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        found = self.duty_check(check_id)
        if found is None:
            raise KeyError(check_id)
        if found["answered_at"] is not None:
            raise Refused(f"duty check {check_id} was answered by {found['answered_by']}", code="check_answered",
                          who=found["answered_by"])
        if found["missed_at"] is not None or now > found["due_at"]:
            raise Refused(f"duty check {check_id} was missed: nobody answered in time", code="check_missed")
        with self.sql.transaction():
            self.sql.execute("UPDATE duty_checks SET answered_at = ?, answered_by = ? WHERE id = ? "
                             "AND answered_at IS NULL AND missed_at IS NULL", (now, who, check_id))
        return self.duty_check(check_id) or {}

    def miss_duty_checks(self, now: float | None = None) -> list[dict[str, Any]]:
        """Checks nobody answered in time, marked missed now (each once)."""
        now = time.time() if now is None else now
        missed = []
        with self.sql.transaction():
            for row in self._rows("duty_checks", "answered_at IS NULL AND missed_at IS NULL AND due_at < ?", [now]):
                if self.sql.execute("UPDATE duty_checks SET missed_at = ? WHERE id = ? AND missed_at IS NULL "
                                    "AND answered_at IS NULL", (now, row["id"])).rowcount:
                    missed.append(_check({**row, "missed_at": now}))
        return missed


def _alarm(a: dict[str, Any]) -> dict[str, Any]:
    return {k: a.get(k) for k in ("id", "key", "site", "street", "device", "class", "text", "rule", "handling",
                                  "condition", "raised_at", "shelved_until")}


def _handover(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "snapshot": parsed(row.get("snapshot"), {})}


def _check(row: dict[str, Any]) -> dict[str, Any]:
    state = ("answered" if row.get("answered_at") is not None else "missed" if row.get("missed_at") is not None
             else "waiting")
    return {**row, "state": state}
