"""What the console reads: devices with their latest values and health, places, readings, events."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from cloud.store.base import StoreBase, among, parsed
from cloud.store.faults import FAULT_FLAGS
from cloud.tickets import low_battery

__all__ = ["ReadModels"]

STALE_AFTER_S = 300.0  # an online device with no new reading this long: its data is stale
FLAPPING_WINDOW_S = 600.0  # three offline episodes within this window: flapping


_GATEWAY_COLUMNS = ("id, site, boot, bdseq, seq, online, last_seen, health, last_heartbeat, heartbeat_s, "
                    "offline_since, clk, clk_mono, clk_at")


class ReadModels(StoreBase):
    def health_summary(self, now: float) -> dict[str, Any]:
        """What a technician chases: offline, stale, flapping, low battery, faulty, wrong firmware."""
        flapping = {(r[0], r[1]) for r in self.sql.execute(
            "SELECT site, device FROM events WHERE kind = 'device_offline' AND t > ? GROUP BY site, device "
            "HAVING COUNT(*) >= 3", (now - FLAPPING_WINDOW_S,))}
        devices = []
        for dev in self.devices():
            values = dev["values"]
            faults = sorted(k for k in FAULT_FLAGS if values.get(k) is True)
            battery = values.get("battery")
            devices.append({
                "site": dev["site"], "id": dev["id"], "name": dev["name"], "online": dev["online"],
                "last_seen": dev["last_seen"],
                "stale": bool(dev["online"]) and now - float(dev["last_seen"] or 0) > STALE_AFTER_S,
                "flapping": (dev["site"], dev["id"]) in flapping,
                "battery": battery, "low_battery": low_battery(values),
                "faults": faults, "profile": dev["profile"],
                "firmware_mismatch": bool(dev.get("configured_profile"))
                and dev["profile"] != dev["configured_profile"],
            })
        gateways = []
        for gw in self._rows("gateways"):
            gateways.append({"id": gw["id"], "site": gw["site"], "online": bool(gw["online"]),
                             "last_seen": gw["last_seen"], "health": json.loads(gw["health"] or "{}")})
        return {"gateways": gateways, "devices": devices}

    def gateways(self) -> list[dict[str, Any]]:
        """Every gateway's row but its birth (a birth holds every device's values: 5 kB each, 125 MB for a
        city, read for nothing)."""
        return self._rows("gateways", select=_GATEWAY_COLUMNS)

    def presence(self, sites: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per site (of `sites`, or all), its gateway's online state and when it was last heard (what the
        site list needs)."""
        where, args = among("site", sites)
        return {r["site"]: r for r in self._rows("gateways", where, args, select="site, online, last_seen")}

    def fleet(self) -> list[dict[str, Any]]:
        """Every gateway as the fleet page shows it: versions, last heartbeat, its health, and its trends."""
        rows = self._rows("gateways", order_by="id", select=(
            "id, site, online, last_heartbeat, agent_version, config_version, profiles_version, outbox, "
            "outbox_rises, bus_errors, error_rate, health"))
        for row in rows:
            row["health"] = json.loads(row["health"] or "{}")
        return rows

    def metric_counts(self) -> dict[str, Any]:
        """What /metrics counts in the store: open alarms by class, handling and condition; gateways online
        and offline; the notification plan's sends by state."""
        alarms = {(str(c), str(h), str(k)): int(n) for c, h, k, n in self.sql.execute(
            "SELECT class, handling, condition, COUNT(*) FROM alarms WHERE handling != 'closed' "
            "GROUP BY class, handling, condition").fetchall()}
        gateways = {"online" if o else "offline": int(n) for o, n in self.sql.execute(
            "SELECT COALESCE(online, 0), COUNT(*) FROM gateways GROUP BY COALESCE(online, 0)").fetchall()}
        notifications = {str(st): int(n) for st, n in self.sql.execute(
            "SELECT state, COUNT(*) FROM notifications GROUP BY state").fetchall()}
        return {"alarms": alarms, "gateways": gateways, "notifications": notifications}

    def places(self, sites: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
        """Where each site (of `sites`, or all) is, from its gateway's birth: name, kind, street, lat, lon."""
        where, args = among("id", sites)
        return {r["id"]: r for r in self._rows("sites", where, args)}

    def readings(self, site: str, device: str, since: float, limit: int = 5000) -> list[dict[str, Any]]:
        """A device's readings since a time, oldest first (each has only the values that changed)."""
        rows = self.sql.execute("SELECT t, values_json FROM readings WHERE site = ? AND device = ? AND t >= ? "
                               "ORDER BY t DESC LIMIT ?", (site, device, since, limit)).fetchall()
        return [{"t": t, "values": json.loads(v)} for t, v in reversed(rows)]

    def device_events(self, site: str, device: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.sql.execute("SELECT t, kind, details_json FROM events WHERE site = ? AND device = ? "
                               "ORDER BY t DESC LIMIT ?", (site, device, limit)).fetchall()
        return [{"t": t, "kind": kind, "details": json.loads(details or "{}")} for t, kind, details in rows]

    def device(self, site: str, device: str) -> dict[str, Any] | None:
        rows = list(self._rows("devices", "site = ? AND id = ?", [site, device]))
        if not rows:
            return None
        row = rows[0]
        return {**{k: v for k, v in row.items() if k != "values_json"}, "values": parsed(row["values_json"], {})}

    def devices(self, sites: Collection[str] | None = None, *, where: str = "") -> list[dict[str, Any]]:
        """Devices (of `sites`, or all; `where`: a further SQL condition) with their latest values; `online`
        is null (unknown) while their gateway is gone."""
        away = {r[0] for r in self.sql.execute("SELECT id FROM gateways WHERE online = 0")}
        if sites is None:
            rows = self._rows("devices", where or "1 = 1")
        elif not sites:
            return []
        else:
            wanted = sorted(sites)
            rows = self._rows("devices", f"site IN ({', '.join('?' * len(wanted))})", wanted)
        return [{**{k: v for k, v in r.items() if k not in ("values_json", "faulty", "attention")},
                 "values": json.loads(r["values_json"] or "{}"),
                 "online": None if r["gateway"] in away else bool(r["online"])} for r in rows]

    def device_counts(self, sites: Collection[str] | None = None) -> dict[str, tuple[int, int, int]]:
        """Per site (of `sites`, or all): devices, offline ones (all of them while the site's gateway is
        gone: nothing is known), faulty ones; counted by the database from an index (devices_site_health),
        so a city's 700,000 devices are neither read nor parsed here."""
        where, args = among("site", sites)
        away = {r[0] for r in self.sql.execute(f"SELECT site FROM gateways WHERE online = 0 AND {where}", args)}
        return {site: (int(total), int(total) if site in away else int(offline or 0), int(bad or 0))
                for site, total, offline, bad in self.sql.execute(
                    "SELECT site, COUNT(*), SUM(CASE WHEN online = 0 THEN 1 ELSE 0 END), SUM(faulty) FROM devices "
                    f"WHERE {where} GROUP BY site", args)}

    def count(self, table: str) -> int:
        return int(self.sql.execute(f'SELECT COUNT(*) FROM "{table}"').rows[0][0])
