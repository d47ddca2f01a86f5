"""The GB/T 26875.3 link to the city's monitoring centre (cloud.uitd): every frame exchanged, and the
fault raised when the centre stops confirming ("监控中心链路中断"), one per site, cleared when it answers."""

from __future__ import annotations

import json
import time
from typing import Any

from cloud.store.base import StoreBase

__all__ = ["CENTRE_LINK", "Uitd"]

CENTRE_LINK = "centre-link"
FRAMES_KEPT = 20_000  # the newest; older ones are for the centre's own records


class Uitd(StoreBase):
    def uitd_frame(self, site: str, direction: str, serial: int, command: int, kind: int | None, state: str,
                   detail: str, raw: bytes) -> int:
        frame_id = self._insert("uitd_frames", {
            "site": site, "at": time.time(), "direction": direction, "serial": serial, "command": command,
            "type": kind, "state": state, "detail": detail[:300], "raw": raw.hex()}, returning_id=True)
        assert frame_id is not None
        if frame_id % 1000 == 0:
            self.sql.execute("DELETE FROM uitd_frames WHERE id <= ?", (frame_id - FRAMES_KEPT,))
        return frame_id

    def uitd_frame_state(self, frame_id: int, state: str, detail: str = "") -> None:
        self.sql.execute("UPDATE uitd_frames SET state = ?, detail = CASE WHEN ? = '' THEN detail ELSE ? END "
                         "WHERE id = ?", (state, detail, detail[:300], frame_id))

    def uitd_frames(self, site: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        where, args = ("site = ?", [site]) if site else ("1 = 1", [])
        return self._rows("uitd_frames", where, args, order_by="id DESC", limit=limit)

    def centre_link(self, site: str, lost: bool, reason: str) -> int | None:
        """Raise (lost) or clear the site's monitoring-centre link fault; the alarm, if it changed."""
        key, now = f"{site}/{CENTRE_LINK}", time.time()
        with self.sql.transaction():
            row = self.sql.execute("SELECT id, condition, count FROM alarms WHERE key = ? AND site = ? AND "
                                   "handling != 'closed' ORDER BY id DESC LIMIT 1", (key, site)).fetchone()
            if lost and row is None:
                alarm_id = self._insert("alarms", {
                    "key": key, "site": site, "street": self.streets.get(site, ""), "device": "",
                    "rule": CENTRE_LINK, "class": "fault", "severity": 2, "condition": "active",
                    "handling": "raised", "count": 1, "text": "监控中心链路中断",
                    "value_json": json.dumps({"reason": reason}, ensure_ascii=False), "raised_at": now,
                    "updated_at": now, "escalated": 0, "disposition_json": ""}, returning_id=True)
                assert alarm_id is not None
                self._log(alarm_id, "collector", "raised", reason)
                return int(alarm_id)
            if row is None or (row[1] == "active") == lost:
                return None
            self.sql.execute("UPDATE alarms SET condition = ?, count = ?, updated_at = ? WHERE id = ?",
                             ("active" if lost else "cleared", row[2] + (1 if lost else 0), now, row[0]))
            self._log(int(row[0]), "collector", "repeated" if lost else "condition cleared", reason)
            return int(row[0])
