"""Gateways: births, heartbeats, and one communication fault when a gateway is gone."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import msgspec

from cloud.store.base import StoreBase
from cloud.store.faults import attention, faulty
from devices.contract import Birth

SAMPLE_EVERY_S = 60.0
SAMPLES_KEPT_S = 7 * 86400.0

__all__ = ["Gateways"]

SILENT_AFTER_BEATS = 2.5  # heartbeats missing this many intervals: the gateway is gone
COMM_LOST = "comm-lost"


class Gateways(StoreBase):
    def gateway(self, gateway_id: str) -> dict[str, Any] | None:
        rows = list(self._rows("gateways", "id = ?", [gateway_id]))
        return rows[0] if rows else None

    def save_birth(self, site: str, gateway: str, message: Birth) -> None:
        now = time.time()
        with self.sql.transaction():
            self._upsert("gateways", {"id": gateway, "site": site, "boot": message.boot,
                                              "bdseq": message.bdseq, "seq": message.seq, "online": 1,
                                              "last_seen": now, "last_heartbeat": now,
                                              "heartbeat_s": message.heartbeat_s, "offline_since": None,
                                              "clk": message.clk, "clk_mono": message.mono, "clk_at": now,
                                              "agent_version": message.agent_version,
                                              "config_version": message.config_version,
                                              "profiles_version": message.profiles_version,
                                              "birth": msgspec.json.encode(message).decode()}, pk=("id",))
            self._comm_restored(site, gateway)
            place = message.place
            if place is not None:
                self._upsert("sites", {"id": site, "gateway": gateway, "name": place.name, "kind": place.kind,
                                               "street": place.street, "lat": place.lat, "lon": place.lon}, pk=("id",))
            self.sql.insert_rows(
                "devices", ("site", "id", "gateway", "name", "profile", "configured_profile", "kind", "location",
                            "online", "last_seen", "values_json", "faulty", "attention"),
                [(site, dev.id, gateway, dev.name, dev.profile, dev.configured_profile, dev.kind, dev.location,
                  int(dev.online), now, json.dumps(dev.values), faulty(dev.values), attention(dev.values))
                 for dev in message.devices],
                upsert_on="site, id")

    def gateway_heartbeat(self, site: str, gateway: str, seq: int, health: Mapping[str, Any]) -> bool:
        """A heartbeat, also from a gateway whose birth the collector has not seen yet (it asks for one).
        Returns True when the gateway had been given up for lost: it is back (its fault clears)."""
        now = time.time()
        self.touched = []
        with self.sql.transaction():
            was = self.sql.execute("SELECT online FROM gateways WHERE id = ?", (gateway,)).fetchone()
            self._upsert("gateways", {"id": gateway, "site": site, "seq": seq, "online": 1, "last_seen": now,
                                              "last_heartbeat": now, "offline_since": None,
                                              "health": json.dumps(health)}, pk=("id",))
            back = was is not None and not was[0]
            if back:
                self._comm_restored(site, gateway)
            self._sample(gateway, health, now)
        return back

    def _sample(self, gateway: str, health: Mapping[str, Any], now: float) -> None:
        """At most one heartbeat a minute per gateway kept as a sample (the fleet page's charts), and the
        gateway's trends beside it: its outbox rising sample after sample, its buses' error rate."""
        if now - self._sampled.get(gateway, 0.0) < SAMPLE_EVERY_S:
            return
        self._sampled[gateway] = now
        lanes = health.get("outbox") or {}
        outbox = int(sum(lane.get("records", 0) for lane in lanes.values())) if isinstance(lanes, dict) else int(lanes)
        buses = (health.get("buses") or {}).values()
        requests = int(sum(b.get("requests", 0) for b in buses))
        errors = int(sum(b.get(k, 0) for b in buses for k in ("timeouts", "exceptions", "frame_errors", "link_errors")))
        before = self.sql.execute("SELECT outbox, outbox_rises, bus_errors FROM gateways WHERE id = ?",
                                  (gateway,)).fetchone()
        last = self.sql.execute("SELECT requests, errors FROM gateway_samples WHERE gateway = ? ORDER BY t DESC "
                                "LIMIT 1", (gateway,)).fetchone()
        rises = (int(before[1] or 0) + 1) if before and before[0] is not None and outbox > int(before[0]) else 0
        asked = requests - int(last[0]) if last and requests >= int(last[0]) else 0
        failed = errors - int(last[1]) if last and errors >= int(last[1]) else 0
        self.sql.execute("UPDATE gateways SET outbox = ?, outbox_rises = ?, bus_errors = ?, error_rate = ? "
                         "WHERE id = ?", (outbox, rises, errors, failed / asked if asked else 0.0, gateway))
        self._insert("gateway_samples", {
            "gateway": gateway, "t": now, "cpu": health.get("cpu_percent"), "rss": health.get("rss_mb"),
            "disk": health.get("disk_free_mb"), "outbox": outbox, "requests": requests, "errors": errors,
            "clock_trusted": int(bool(health.get("clock_trusted")))})
        self._samples_taken += 1
        if self._samples_taken % 1000 == 1:  # now and then: a week of samples is enough
            self.sql.execute("DELETE FROM gateway_samples WHERE t < ?", (now - SAMPLES_KEPT_S,))

    def gateway_samples(self, gateway: str, since: float) -> list[dict[str, Any]]:
        return self._rows("gateway_samples", "gateway = ? AND t >= ?", [gateway, since], order_by="t",
                          select="t, cpu, rss, disk, outbox, requests, errors, clock_trusted")

    def gateway_lost(self, site: str, gateway: str, reason: str, at: float | None = None) -> int | None:
        """The gateway is gone (its death, or its heartbeats stopped): one communication fault for it, not
        one per device; its devices read 'unknown' until its next birth. Returns the alarm, if new or changed."""
        now = time.time() if at is None else at
        with self.sql.transaction():
            changed = self.sql.execute("UPDATE gateways SET online = 0, offline_since = COALESCE(offline_since, ?) "
                                      "WHERE id = ? AND online = 1", (now, gateway)).rowcount
            if not changed:
                return None
            key = f"{gateway}/{COMM_LOST}"
            row = self.sql.execute("SELECT id, count FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' "
                                  "ORDER BY id DESC LIMIT 1", (key, site)).fetchone()
            if row is None:
                alarm_id = self._insert("alarms", {
                    "key": key, "site": site, "street": self.streets.get(site, ""), "device": "",
                    "rule": COMM_LOST, "class": "fault", "severity": 2, "condition": "active", "handling": "raised",
                    "count": 1, "text": "网关通信中断", "value_json": json.dumps({"reason": reason}),
                    "raised_at": now, "updated_at": now, "escalated": 0, "disposition_json": ""}, returning_id=True)
                assert alarm_id is not None
                self._log(alarm_id, "collector", "raised", reason)
                return int(alarm_id)
            self.sql.execute("UPDATE alarms SET condition = 'active', count = ?, updated_at = ? WHERE id = ?",
                            (row[1] + 1, now, row[0]))
            self._log(int(row[0]), "collector", "repeated", reason)
            return int(row[0])

    def _comm_restored(self, site: str, gateway: str) -> None:
        row = self.sql.execute("SELECT id FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' "
                              "AND condition = 'active'", (f"{gateway}/{COMM_LOST}", site)).fetchone()
        if row is not None:
            self.sql.execute("UPDATE alarms SET condition = 'cleared', updated_at = ? WHERE id = ?",
                            (time.time(), row[0]))
            self._log(int(row[0]), "collector", "condition cleared", "birth: the gateway is back")
            self.touched.append(int(row[0]))

    def silent_gateways(self, now: float, watching_since: float) -> list[tuple[str, str]]:
        """(site, gateway) of gateways still marked online whose heartbeats stopped 2.5 intervals ago, counted
        from when this collector started watching at the earliest (it cannot have heard beats before that)."""
        return [(r[0], r[1]) for r in self.sql.execute(
            f"SELECT site, id FROM gateways WHERE online = 1 AND "
            f"{self.sql.greatest('COALESCE(last_heartbeat, last_seen, 0)', '?')} < "
            f"? - {SILENT_AFTER_BEATS} * COALESCE(heartbeat_s, 30.0)", (watching_since, now))]

    def gateway_seen(self, gateway: str, *, seq: int | None = None, online: bool | None = None) -> None:
        fields: dict[str, Any] = {"last_seen": time.time()}
        if seq is not None:
            fields["seq"] = seq
        if online is not None:
            fields["online"] = int(online)
        with self.sql.transaction():  # a gateway with no row yet has nothing to update (no error either)
            self.sql.execute(f"UPDATE gateways SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                            (*fields.values(), gateway))
