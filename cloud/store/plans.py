"""Floor plans of sites (checked images: cloud.plan_image) and where each device sits on them (fractions of
the plan's width and height, so a plan may be drawn at any size)."""

from __future__ import annotations

import time
from typing import Any

from cloud.alarm_lifecycle import Refused
from cloud.store.base import StoreBase

__all__ = ["Plans"]

PLANS_PER_SITE = 8


class Plans(StoreBase):
    def add_plan(self, site: str, name: str, media_type: str, width: int, height: int, image: bytes, who: str
                 ) -> dict[str, Any]:
        with self.sql.transaction():
            count = int(self.sql.execute("SELECT COUNT(*) FROM plans WHERE site = ?", (site,)).rows[0][0])
            if count >= PLANS_PER_SITE:
                raise Refused(f"a site has at most {PLANS_PER_SITE} plans", code="too_many_plans")
            plan_id = self._insert("plans", {"site": site, "name": name, "media_type": media_type, "width": width,
                                             "height": height, "image": image, "uploaded_by": who,
                                             "uploaded_at": time.time()}, returning_id=True)
        assert plan_id is not None
        return self.plans(site, plan_id)[0]

    def plans(self, site: str, plan_id: int | None = None) -> list[dict[str, Any]]:
        """A site's plans (not their images), each with its device positions."""
        where, args = ("site = ? AND id = ?", [site, plan_id]) if plan_id is not None else ("site = ?", [site])
        found = self._rows("plans", where, args, order_by="id",
                           select="id, site, name, media_type, width, height, uploaded_by, uploaded_at")
        for plan in found:
            plan["positions"] = {r[0]: {"x": r[1], "y": r[2]} for r in self.sql.execute(
                "SELECT device, x, y FROM plan_positions WHERE plan = ? ORDER BY device", (plan["id"],))}
        return found

    def plan_image(self, plan_id: int) -> tuple[str, bytes] | None:
        row = self.sql.execute("SELECT media_type, image FROM plans WHERE id = ?", (plan_id,)).fetchone()
        return (str(row[0]), bytes(row[1])) if row else None

    def place_devices(self, plan_id: int, positions: dict[str, tuple[float, float] | None]) -> dict[str, Any]:
        """Put devices on a plan (x, y as fractions 0..1) or take them off (None); every device must be one
        of the plan's site."""
        row = self.sql.execute("SELECT site FROM plans WHERE id = ?", (plan_id,)).fetchone()
        if row is None:
            raise KeyError(plan_id)
        site = str(row[0])
        known = {str(r[0]) for r in self.sql.execute("SELECT id FROM devices WHERE site = ?", (site,))}
        strangers = sorted(set(positions) - known)
        if strangers:
            raise Refused(f"no device {strangers[0]!r} at site {site!r}", code="no_such_device", device=strangers[0])
        with self.sql.transaction():
            for device, at in positions.items():
                self.sql.execute("DELETE FROM plan_positions WHERE plan = ? AND device = ?", (plan_id, device))
                if at is not None:
                    self._insert("plan_positions", {"plan": plan_id, "device": device, "x": at[0], "y": at[1]})
        return self.plans(site, plan_id)[0]

    def delete_plan(self, plan_id: int) -> bool:
        with self.sql.transaction():
            self.sql.execute("DELETE FROM plan_positions WHERE plan = ?", (plan_id,))
            return bool(self.sql.execute("DELETE FROM plans WHERE id = ?", (plan_id,)).rowcount)
