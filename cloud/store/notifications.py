"""What the collector told people about alarms, and what came back (cloud.notify_plan, cloud.notify_job);
and micro stations dispatched to confirmed fires (cloud.api.dispatch).

A notification row is claimed before anything is sent: one row per alarm, step, person and channel, kept
unique by the database, so a step is never sent twice through one channel to one person, whichever
collector leads and however often it looks. Its state goes sending -> accepted (the provider took it)
-> delivered | failed (its receipt) -> answered (a reply or a key press acknowledged the alarm).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from typing import Any

from cloud.alarm_lifecycle import Refused
from cloud.store.base import StoreBase

__all__ = ["GROUP", "Notifications"]

GROUP = "*"  # the person of a group robot's post: everyone of the step at once
REPLY_WINDOW_S = 2 * 3600.0  # a reply acknowledges what was sent to that number this recently


class Notifications(StoreBase):
    def claim_notification(self, alarm: int, step: int, person: str, channel: str, address: str) -> str | None:
        """The row for one send, made now; its out_id (the id given to the provider), or None when it was
        claimed before (sent, or being sent)."""
        out_id = f"ff{alarm}s{step}{person}{channel}"[:64]
        now = time.time()
        made = self.sql.insert_rows(
            "notifications", ("alarm", "step", "person", "channel", "address", "out_id", "provider_id", "state",
                              "detail", "sent_at", "updated_at", "reply"),
            [(alarm, step, person, channel, address, out_id, "", "sending", "", now, now, "")],
            skip_existing="alarm, step, person, channel", returning="id")
        return out_id if made else None

    def notification_result(self, out_id: str, state: str, *, provider_id: str = "", detail: str = "",
                            reply: str = "") -> dict[str, Any] | None:
        """Record what became of a send (accepted, failed, delivered, answered); the row, or None."""
        fields: dict[str, Any] = {"state": state, "updated_at": time.time()}
        if provider_id:
            fields["provider_id"] = provider_id
        if detail:
            fields["detail"] = detail[:300]
        if reply:
            fields["reply"] = reply[:100]
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.sql.execute(f"UPDATE notifications SET {sets} WHERE out_id = ?", [*fields.values(), out_id])
        rows = self._rows("notifications", "out_id = ?", [out_id])
        return rows[0] if rows else None

    def give_up_stuck_notifications(self, sent_before: float) -> int:
        return int(self.sql.execute("UPDATE notifications SET state = 'failed', detail = 'no outcome from the "
                                    "provider', updated_at = ? WHERE state = 'sending' AND sent_at < ?",
                                    (time.time(), sent_before)).rowcount)

    def notification_attempts(self, alarms: Collection[int]) -> list[dict[str, Any]]:
        if not alarms:
            return []
        where, args = f"alarm IN ({', '.join('?' * len(alarms))})", list(alarms)
        return self._rows("notifications", where, args, order_by="id",
                          select="alarm, step, person, channel, state, sent_at")

    def notifications_of(self, alarm: int) -> list[dict[str, Any]]:
        return self._rows("notifications", "alarm = ?", [alarm], order_by="id")

    def sent_to(self, address: str, channel: str) -> list[dict[str, Any]]:
        """What a number got through a channel within the reply window, newest first."""
        return self._rows("notifications", "address = ? AND channel = ? AND sent_at >= ?",
                          [address, channel, time.time() - REPLY_WINDOW_S], order_by="sent_at DESC, id DESC",
                          limit=50)

    # -- dispatch ----------------------------------------------------------------------------------
    def add_dispatch(self, alarm: int, station: str, token: str, who: str, ttl: float) -> dict[str, Any]:
        now = time.time()
        dispatch_id = self._insert("dispatches", {
            "alarm": alarm, "station": station, "token_digest": _digest(token), "sent_at": now, "sent_by": who,
            "expires": now + ttl, "acknowledged_at": None, "on_scene_at": None}, returning_id=True)
        assert dispatch_id is not None
        self._log(alarm, who, "dispatched", station)
        return self._rows("dispatches", "id = ?", [dispatch_id])[0]

    def dispatch_by_token(self, token: str) -> dict[str, Any] | None:
        rows = self._rows("dispatches", "token_digest = ? AND expires > ?", [_digest(token), time.time()])
        return rows[0] if rows else None

    def dispatches_of(self, alarm: int) -> list[dict[str, Any]]:
        return self._rows("dispatches", "alarm = ?", [alarm], order_by="id",
                          select="id, alarm, station, sent_at, sent_by, acknowledged_at, on_scene_at")

    def dispatch_step(self, token: str, step: str, who: str) -> dict[str, Any]:
        """The station's answer: `acknowledged` (on its way) or `on_scene`, each once, in that order, logged
        on the alarm with its time."""
        found = self.dispatch_by_token(token)
        if found is None:
            raise KeyError(token)
        column = {"acknowledged": "acknowledged_at", "on_scene": "on_scene_at"}[step]
        if found[column] is not None:
            return found
        now = time.time()
        if step == "on_scene" and found["acknowledged_at"] is None:
            raise Refused("say the station is on its way first", code="dispatch_order")
        self.sql.execute(f"UPDATE dispatches SET {column} = ? WHERE id = ?", (now, found["id"]))
        minutes = (now - float(found["sent_at"])) / 60
        self._log(int(found["alarm"]), who, f"station {step.replace('_', ' ')}",
                  f"{found['station']}: {minutes:.1f} min after dispatch")
        return {**found, column: now}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
