"""Upkeep: readings retention, maintenance tickets, daily readiness."""

from __future__ import annotations

import json
import time
from typing import Any

from cloud.alarm_lifecycle import Refused
from cloud.store.read_models import ReadModels
from cloud.tickets import DAY, OFFLINE_AFTER_S, faults_of, ticket_deadline

__all__ = ["Maintenance"]

REOPEN_WITHIN_S = 7 * 86400.0  # a fault back within a week reopens its ticket, first deadline and all


class Maintenance(ReadModels):  # tickets follow the devices' state
    def prune_readings(self, now: float, *, raw_days: float = 7, hourly_days: float = 90) -> int:
        """Readings older than `raw_days` are thinned to the last one per device and hour; older than
        `hourly_days`, dropped. (Charging data must be kept 7 days at the facility: T/GBC 48-2025.)
        Alarms, events and the audit trail are never pruned here."""
        raw_cutoff, hourly_cutoff = now - raw_days * DAY, now - hourly_days * DAY
        with self.sql.transaction():
            thinned = self.sql.execute(
                "DELETE FROM readings WHERE t < ? AND (gateway, id) NOT IN (SELECT gateway, id FROM (SELECT gateway, "
                f"id, ROW_NUMBER() OVER (PARTITION BY site, device, {self.sql.hour_bucket('t')} ORDER BY t DESC) "
                "AS n FROM readings "
                "WHERE t < ?) AS ranked WHERE n = 1)", (raw_cutoff, raw_cutoff)).rowcount
            dropped = self.sql.drop_readings_before(hourly_cutoff)
        return int(thinned + dropped)

    # -- maintenance tickets -----------------------------------------------------------------------
    def evaluate_tickets(self, now: float, offline_after: float = OFFLINE_AFTER_S) -> list[dict[str, Any]]:
        """Open tickets for persistent faults, mark those whose fault went away for review. Returns changes.
        Read first (three queries, whatever the number of devices), then the changes in one short
        transaction: a city's 700,000 devices cost no round trip each, and no lock is held while reading."""
        open_tickets: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        for ticket in self._rows("tickets", "status != 'closed'"):
            open_tickets.setdefault((ticket["site"], ticket["device"]), {})[ticket["kind"]] = ticket
        closed: dict[tuple[str, str, str], dict[str, Any]] = {}
        for ticket in self._rows("tickets", "status = 'closed' AND closed_at > ?", [now - REOPEN_WITHIN_S],
                                 order_by="closed_at"):
            closed[(ticket["site"], ticket["device"], ticket["kind"])] = ticket  # the latest one wins
        plan: list[tuple[str, dict[str, Any]]] = []  # ("insert", row) | ("update", ticket with its changes)
        # only the devices that may need a ticket or have one: values that call for one (kept at write),
        # offline, on other firmware than configured, or with an open ticket
        for dev in self.devices(where="attention != 0 OR online = 0 OR (configured_profile != '' AND "
                                      "profile != configured_profile) OR EXISTS (SELECT 1 FROM tickets t WHERE "
                                      "t.site = devices.site AND t.device = devices.id AND t.status != 'closed')"):
            if dev["online"] is None:
                continue  # its gateway is gone: nothing is known of it now (the gateway has the ticket)
            faults = faults_of(dev, now, offline_after)
            have = open_tickets.get((dev["site"], dev["id"]), {})
            for kind in faults - have.keys():
                again = closed.get((dev["site"], dev["id"], kind))
                if again is not None:  # back within a week: the same ticket, with its first deadline
                    plan.append(("update", {**_was(again), "status": "open", "updated": now, "closed_at": None,
                                            "notes": f"{again['notes']}\nreopened: the fault came back"}))
                    continue
                level, deadline = ticket_deadline(kind, now)
                plan.append(("insert", {"site": dev["site"], "device": dev["id"], "kind": kind, "level": level,
                                        "opened": now, "deadline": deadline, "status": "open", "notes": "",
                                        "closed_by": "", "closed_at": None, "updated": now}))
            for kind, ticket in have.items():
                status = "open" if kind in faults else "review"
                if ticket["status"] == "deferred" and status == "open":
                    continue  # deferred with a reason while the fault holds
                if ticket["status"] != status:
                    plan.append(("update", {**_was(ticket), "status": status, "updated": now}))
        plan += self._gateway_tickets(now, offline_after, open_tickets)
        changes = []
        with self.sql.transaction():
            for how, row in plan:
                if how == "insert":
                    row["id"] = self._insert("tickets", row, returning_id=True)
                elif not self.sql.execute(  # only if nobody changed it since it was read (a person closing it)
                        "UPDATE tickets SET status = ?, updated = ?, closed_at = ?, notes = ? WHERE id = ? "
                        "AND status = ? AND COALESCE(updated, -1) = COALESCE(?, -1)",
                        (row["status"], row["updated"], row["closed_at"], row["notes"], row["id"], row["was"],
                         row["was_updated"])).rowcount:
                    continue
                changes.append({k: v for k, v in row.items() if k not in ("was", "was_updated")})
        return changes

    def _gateway_tickets(self, now: float, offline_after: float,
                         open_tickets: dict[tuple[str, str], dict[str, dict[str, Any]]]
                         ) -> list[tuple[str, dict[str, Any]]]:
        """A gateway gone this long gets one ticket (device ''), marked for review when it is back."""
        plan: list[tuple[str, dict[str, Any]]] = []
        for site, gateway, online, since in self.sql.execute("SELECT site, id, online, offline_since FROM gateways"):
            ticket = open_tickets.get((site, ""), {}).get("gateway_offline")
            gone = not online and since is not None and now - float(since) >= offline_after
            if gone and ticket is None:
                level, deadline = ticket_deadline("gateway_offline", now)
                plan.append(("insert", {"site": site, "device": "", "kind": "gateway_offline", "level": level,
                                        "opened": now, "deadline": deadline, "status": "open",
                                        "notes": f"gateway {gateway}", "closed_by": "", "closed_at": None,
                                        "updated": now}))
            elif ticket is not None and ticket["status"] != ("open" if not online else "review"):
                plan.append(("update", {**_was(ticket), "status": "open" if not online else "review",
                                        "updated": now}))
        return plan

    def tickets(self, *, now: float | None = None, overdue_only: bool = False) -> list[dict[str, Any]]:
        where, args = "status != 'closed'", []
        if overdue_only:
            where += " AND deadline < ?"
            args.append(time.time() if now is None else now)
        return list(self._rows("tickets", where, args, order_by="deadline"))

    def close_ticket(self, ticket_id: int, who: str, notes: str, now: float | None = None) -> dict[str, Any]:
        rows = list(self._rows("tickets", "id = ?", [ticket_id]))
        if not rows:
            raise KeyError(ticket_id)
        if rows[0]["status"] == "closed":
            raise Refused("the ticket is already closed", code="ticket_closed")
        if rows[0]["status"] in ("open", "deferred"):
            raise Refused("the fault still holds: a ticket is closed as fixed only once the fault has gone "
                          "(defer it with a reason instead; the deadline stays)", code="ticket_fault_holds")
        if not notes.strip():
            raise Refused("closing a ticket needs notes: what was done", code="ticket_needs_notes")
        at = time.time() if now is None else now
        with self.sql.transaction():
            self._update("tickets", ticket_id, {"status": "closed", "notes": notes, "closed_by": who,
                                                        "closed_at": at, "updated": at})
        return next(iter(self._rows("tickets", "id = ?", [ticket_id])))

    def defer_ticket(self, ticket_id: int, who: str, reason: str) -> dict[str, Any]:
        """A fault that cannot be fixed yet (a part on order): deferred with a reason, the deadline kept."""
        rows = list(self._rows("tickets", "id = ?", [ticket_id]))
        if not rows:
            raise KeyError(ticket_id)
        if rows[0]["status"] == "closed":
            raise Refused("the ticket is already closed", code="ticket_closed")
        if not reason.strip():
            raise Refused("deferring a ticket needs a reason", code="ticket_needs_reason")
        with self.sql.transaction():
            notes = f"{rows[0]['notes']}\n" if rows[0]["notes"] else ""
            self._update("tickets", ticket_id, {"status": "deferred", "updated": time.time(),
                                                        "notes": f"{notes}deferred by {who}: {reason.strip()}"})
        return next(iter(self._rows("tickets", "id = ?", [ticket_id])))

    # -- readiness ---------------------------------------------------------------------------------
    def save_readiness(self, day: str, site: str, street: str, score: float, missing: list[str]) -> None:
        with self.sql.transaction():
            self._upsert("readiness", {"day": day, "site": site, "street": street, "score": score,
                                               "missing": json.dumps(missing, ensure_ascii=False)},
                                              pk=("day", "site"))

    def tickets_due(self, since: float, until: float) -> list[dict[str, Any]]:
        """Tickets whose deadline falls in [since, until), closed or not (the monthly street report)."""
        return self._rows("tickets", "deadline >= ? AND deadline < ?", [since, until],
                          select="id, site, kind, deadline, status, closed_at")

    def readiness_history(self, month: str) -> list[tuple[str, str, float]]:
        return [(r["day"], r["street"], r["score"]) for r in
                self._rows("readiness", "day LIKE ?", [f"{month}-%"], order_by="day")]


def _was(ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket about to change, with what it was (the change applies only if it still is)."""
    return {**ticket, "was": ticket["status"], "was_updated": ticket["updated"]}
