"""The collector's store: SQLite through sqlite-utils, migrations as code, one narrow interface.

Everything above this module speaks in gateways, records, alarms and audit entries; a PostgreSQL
implementation can stand behind the same methods. Writes come in batches (one transaction per MQTT
message), and a record id that was stored before is skipped, which makes replays idempotent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import sqlite_utils

from cloud.alarm_lifecycle import CLASS_ORDER, ESCALATE_AFTER, Refused, escalation_due_at, next_handling
from cloud.ingest import Reject
from cloud.tickets import DAY, OFFLINE_AFTER_S, faults_of, low_battery, ticket_deadline
from devices.contract import Alarm, Birth, CommandState, Event, Reading, Record

__all__ = ["Store"]

STALE_AFTER_S = 300.0  # an online device with no new reading this long: its data is stale
FLAPPING_WINDOW_S = 600.0  # three offline episodes within this window: flapping
FAULT_FLAGS = ("fault", "dirty_chamber", "tamper", "sensor_fault", "meter_fault", "rcd_tripped", "sounder_open",
               "charger_fault", "video_loss")


def _m1_initial(db: sqlite_utils.Database) -> None:
    db.table("gateways").create({"id": str, "site": str, "boot": str, "bdseq": int, "seq": int, "online": int,
                           "last_seen": float, "birth": str}, pk="id")
    db.table("devices").create({"site": str, "id": str, "gateway": str, "name": str, "profile": str, "online": int,
                          "last_seen": float, "values_json": str}, pk=("site", "id"))
    db.table("records").create({"id": str, "gateway": str, "type": str, "received": float}, pk="id")
    db.table("alarms").create({"id": int, "key": str, "site": str, "street": str, "device": str, "rule": str,
                         "class": str, "severity": int, "condition": str, "handling": str, "count": int,
                         "text": str, "value_json": str, "raised_at": float, "updated_at": float,
                         "escalated": int, "disposition_json": str}, pk="id")
    db.table("alarms").create_index(["key", "handling"])
    db.table("alarm_log").create({"id": int, "alarm": int, "at": float, "who": str, "action": str, "notes": str},
                           pk="id", foreign_keys=[("alarm", "alarms", "id")])
    db.table("events").create({"id": str, "site": str, "gateway": str, "device": str, "kind": str, "details_json": str,
                         "t": float}, pk="id")
    db.table("readings").create({"id": str, "site": str, "device": str, "t": float, "values_json": str}, pk="id")
    db.table("readings").create_index(["site", "device", "t"])


def _m2_users_and_audit(db: sqlite_utils.Database) -> None:
    db.table("users").create({"name": str, "password_hash": str, "role": str}, pk="name")
    db.table("audit").create({"id": int, "at": float, "who": str, "action": str, "target": str, "details": str},
                             pk="id")


def _m3_commands(db: sqlite_utils.Database) -> None:
    db.table("commands").create({"id": str, "site": str, "gateway": str, "action": str, "payload": str,
                                 "state": str, "reason": str, "who": str, "created": float, "updated": float},
                                pk="id")


def _m4_tickets_and_readiness(db: sqlite_utils.Database) -> None:
    db.table("devices").add_column("configured_profile", str)
    db.table("devices").add_column("offline_since", float)
    db.table("tickets").create({"id": int, "site": str, "device": str, "kind": str, "level": str, "opened": float,
                                "deadline": float, "status": str, "notes": str, "closed_by": str, "closed_at": float,
                                "updated": float}, pk="id")
    db.table("tickets").create_index(["site", "device", "kind", "status"])
    db.table("readiness").create({"day": str, "site": str, "street": str, "score": float, "missing": str},
                                 pk=("day", "site"))


def _m5_silence_and_shelve(db: sqlite_utils.Database) -> None:
    db.table("alarms").add_column("silenced_until", float)
    db.table("alarms").add_column("shelved_until", float)


def _m6_gateway_health(db: sqlite_utils.Database) -> None:
    db.table("gateways").add_column("health", str)
    db.table("gateways").add_column("last_heartbeat", float)
    db.table("events").create_index(["site", "device", "kind", "t"])


def _m7_places(db: sqlite_utils.Database) -> None:
    db.table("sites").create({"id": str, "gateway": str, "name": str, "kind": str, "street": str, "lat": float,
                              "lon": float}, pk="id")
    db.table("devices").add_column("kind", str)
    db.table("devices").add_column("location", str)


def _m8_sessions(db: sqlite_utils.Database) -> None:
    db.table("sessions").create({"digest": str, "user": str, "role": str, "csrf": str, "expires": float},
                                pk="digest")


def _m9_ids_per_gateway_and_quarantine(db: sqlite_utils.Database) -> None:
    """Record ids are unique per gateway, never across gateways (one gateway must not be able to make
    another's records look like replays); records that do not fit the contract are kept, not retried."""
    db.table("records").transform(pk=("gateway", "id"))
    db.table("events").transform(pk=("gateway", "id"))
    db.table("readings").add_column("gateway", str)
    db.execute("UPDATE readings SET gateway = (SELECT gateway FROM sites WHERE sites.id = readings.site)")
    db.table("readings").transform(pk=("gateway", "id"))
    db.table("alarm_log").add_column("record", str)  # the record behind a site action: not shown to viewers
    db.execute("UPDATE alarm_log SET record = json_extract(notes, '$.record'), notes = '' "
               "WHERE who = 'site' AND json_valid(notes) AND json_extract(notes, '$.record') IS NOT NULL")
    db.table("quarantine").create({"id": int, "gateway": str, "site": str, "topic": str, "record_id": str,
                                   "reason": str, "raw": bytes, "received": float}, pk="id")
    db.table("quarantine").create_index(["gateway", "id"])


def _m10_gateway_liveness(db: sqlite_utils.Database) -> None:
    db.table("gateways").add_column("heartbeat_s", float)
    db.table("gateways").add_column("offline_since", float)
    db.table("commands").add_column("expires", float)  # durable until then: sent again on the gateway's birth
    db.table("gateways").add_column("clk", str)  # the gateway's monotonic clock at its birth, against ours
    db.table("gateways").add_column("clk_mono", float)
    db.table("gateways").add_column("clk_at", float)
    db.table("alarms").add_column("received_at", float)
    # the latest condition record applied per key, by when it happened: records may arrive out of order
    db.table("conditions").create({"site": str, "key": str, "state": str, "occurred": float, "clk": str,
                                   "mono": float}, pk=("site", "key"))
    db.table("commands").create_index(["gateway", "state"])


def _m11_disabled_users(db: sqlite_utils.Database) -> None:
    db.table("users").add_column("disabled", int)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1_initial, _m2_users_and_audit, _m3_commands,
                                                              _m4_tickets_and_readiness, _m5_silence_and_shelve,
                                                              _m6_gateway_health, _m7_places, _m8_sessions,
                                                              _m9_ids_per_gateway_and_quarantine,
                                                              _m10_gateway_liveness, _m11_disabled_users]
REOPEN_WITHIN_S = 7 * 86400.0  # a fault back within a week reopens its ticket, first deadline and all
SILENT_AFTER_BEATS = 2.5  # heartbeats missing this many intervals: the gateway is gone
COMM_LOST = "comm-lost"
QUARANTINE_PER_GATEWAY = 1000  # the newest kept: a hostile gateway cannot fill the disk


class Store:
    def __init__(self, path: Path, streets: dict[str, str] | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # an ack goes out only after this commit is on disk
        self.streets = streets or {}  # site -> street, from the inventory
        self.touched: list[int] = []  # alarms the last store_records opened or changed
        self._clock: tuple[str, float, float] | None = None  # the batch's gateway clock reference
        self._migrate()

    def _migrate(self) -> None:
        if "schema_version" not in self.db.table_names():
            self.db.table("schema_version").create({"version": int})
            self.db.table("schema_version").insert({"version": 0})
        version = self.db.execute("SELECT version FROM schema_version").fetchone()[0]
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.db.conn:
                migration(self.db)
                self.db.execute("UPDATE schema_version SET version = ?", (number,))

    def close(self) -> None:
        self.db.close()

    # -- gateways ----------------------------------------------------------------------------------
    def gateway(self, gateway_id: str) -> dict[str, Any] | None:
        rows = list(self.db.table("gateways").rows_where("id = ?", [gateway_id]))
        return rows[0] if rows else None

    def save_birth(self, site: str, gateway: str, message: Birth) -> None:
        now = time.time()
        with self.db.conn:
            self.db.table("gateways").upsert({"id": gateway, "site": site, "boot": message.boot,
                                              "bdseq": message.bdseq, "seq": message.seq, "online": 1,
                                              "last_seen": now, "last_heartbeat": now,
                                              "heartbeat_s": message.heartbeat_s, "offline_since": None,
                                              "clk": message.clk, "clk_mono": message.mono, "clk_at": now,
                                              "birth": msgspec.json.encode(message).decode()}, pk="id")
            self._comm_restored(site, gateway)
            place = message.place
            if place is not None:
                self.db.table("sites").upsert({"id": site, "gateway": gateway, "name": place.name, "kind": place.kind,
                                               "street": place.street, "lat": place.lat, "lon": place.lon}, pk="id")
            for dev in message.devices:
                self.db.table("devices").upsert({"site": site, "id": dev.id, "gateway": gateway, "name": dev.name,
                                                 "profile": dev.profile, "configured_profile": dev.configured_profile,
                                                 "kind": dev.kind, "location": dev.location, "online": int(dev.online),
                                                 "last_seen": now, "values_json": json.dumps(dev.values)},
                                                pk=("site", "id"))

    def gateway_heartbeat(self, site: str, gateway: str, seq: int, health: Mapping[str, Any]) -> bool:
        """A heartbeat, also from a gateway whose birth the collector has not seen yet (it asks for one).
        Returns True when the gateway had been given up for lost: it is back (its fault clears)."""
        now = time.time()
        self.touched = []
        with self.db.conn:
            was = self.db.execute("SELECT online FROM gateways WHERE id = ?", (gateway,)).fetchone()
            self.db.table("gateways").upsert({"id": gateway, "site": site, "seq": seq, "online": 1, "last_seen": now,
                                              "last_heartbeat": now, "offline_since": None,
                                              "health": json.dumps(health)}, pk="id")
            back = was is not None and not was[0]
            if back:
                self._comm_restored(site, gateway)
        return back

    def health_summary(self, now: float) -> dict[str, Any]:
        """What a technician chases: offline, stale, flapping, low battery, faulty, wrong firmware."""
        flapping = {(r[0], r[1]) for r in self.db.execute(
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
        for gw in self.db.table("gateways").rows:
            gateways.append({"id": gw["id"], "site": gw["site"], "online": bool(gw["online"]),
                             "last_seen": gw["last_seen"], "health": json.loads(gw["health"] or "{}")})
        return {"gateways": gateways, "devices": devices}

    # -- gateway liveness --------------------------------------------------------------------------
    def gateway_lost(self, site: str, gateway: str, reason: str, at: float | None = None) -> int | None:
        """The gateway is gone (its death, or its heartbeats stopped): one communication fault for it, not
        one per device; its devices read 'unknown' until its next birth. Returns the alarm, if new or changed."""
        now = time.time() if at is None else at
        with self.db.conn:
            changed = self.db.execute("UPDATE gateways SET online = 0, offline_since = COALESCE(offline_since, ?) "
                                      "WHERE id = ? AND online = 1", (now, gateway)).rowcount
            if not changed:
                return None
            key = f"{gateway}/{COMM_LOST}"
            row = self.db.execute("SELECT id, count FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' "
                                  "ORDER BY id DESC LIMIT 1", (key, site)).fetchone()
            if row is None:
                alarm_id = self.db.table("alarms").insert({
                    "key": key, "site": site, "street": self.streets.get(site, ""), "device": "",
                    "rule": COMM_LOST, "class": "fault", "severity": 2, "condition": "active", "handling": "raised",
                    "count": 1, "text": "网关通信中断", "value_json": json.dumps({"reason": reason}),
                    "raised_at": now, "updated_at": now, "escalated": 0, "disposition_json": ""}).last_rowid
                assert alarm_id is not None
                self._log(alarm_id, "collector", "raised", reason)
                return int(alarm_id)
            self.db.execute("UPDATE alarms SET condition = 'active', count = ?, updated_at = ? WHERE id = ?",
                            (row[1] + 1, now, row[0]))
            self._log(int(row[0]), "collector", "repeated", reason)
            return int(row[0])

    def _comm_restored(self, site: str, gateway: str) -> None:
        row = self.db.execute("SELECT id FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' "
                              "AND condition = 'active'", (f"{gateway}/{COMM_LOST}", site)).fetchone()
        if row is not None:
            self.db.execute("UPDATE alarms SET condition = 'cleared', updated_at = ? WHERE id = ?",
                            (time.time(), row[0]))
            self._log(int(row[0]), "collector", "condition cleared", "birth: the gateway is back")
            self.touched.append(int(row[0]))

    def silent_gateways(self, now: float, watching_since: float) -> list[tuple[str, str]]:
        """(site, gateway) of gateways still marked online whose heartbeats stopped 2.5 intervals ago, counted
        from when this collector started watching at the earliest (it cannot have heard beats before that)."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT site, id FROM gateways WHERE online = 1 AND MAX(COALESCE(last_heartbeat, last_seen, 0), ?) < "
            f"? - {SILENT_AFTER_BEATS} * COALESCE(heartbeat_s, 30.0)", (watching_since, now))]

    def gateway_seen(self, gateway: str, *, seq: int | None = None, online: bool | None = None) -> None:
        fields: dict[str, Any] = {"last_seen": time.time()}
        if seq is not None:
            fields["seq"] = seq
        if online is not None:
            fields["online"] = int(online)
        with self.db.conn:  # a gateway with no row yet has nothing to update (no error either)
            self.db.execute(f"UPDATE gateways SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                            (*fields.values(), gateway))

    # -- records -----------------------------------------------------------------------------------
    def store_records(self, site: str, gateway: str, records: Sequence[Record]) -> tuple[list[str], int]:
        """Store a batch of checked records in one transaction. Returns (ids to acknowledge, how many were
        new). Ids this gateway sent before are acknowledged again (the edge may have missed the first ack)
        but not applied twice; the same id from another gateway is another record.
        The alarms this batch opened or changed are in `self.touched` afterwards."""
        ack = [rec.id for rec in records]
        self.touched = []
        now = time.time()
        self._clock = self._gateway_clock(gateway)
        with self.db.conn:
            seen: set[str] = set()
            for start in range(0, len(ack), 500):
                chunk = ack[start:start + 500]
                marks = ",".join("?" * len(chunk))
                seen.update(r[0] for r in self.db.execute(
                    f"SELECT id FROM records WHERE gateway = ? AND id IN ({marks})", [gateway, *chunk]))
            fresh: list[Record] = []
            for rec in records:
                if rec.id not in seen:
                    seen.add(rec.id)  # a duplicate inside the batch is applied once too
                    fresh.append(rec)
            self.db.conn.executemany("INSERT INTO records (id, gateway, type, received) VALUES (?, ?, ?, ?)",
                                     [(r.id, gateway, _TYPE[type(r)], now) for r in fresh])
            readings = [r for r in fresh if isinstance(r, Reading)]
            if readings:
                self.db.conn.executemany(
                    "INSERT INTO readings (id, gateway, site, device, t, values_json) VALUES (?, ?, ?, ?, ?, ?)",
                    [(r.id, gateway, site, r.device, self._occurred(r, now), json.dumps(r.values)) for r in readings])
                latest: dict[str, tuple[dict[str, Any], float]] = {}
                for r in readings:
                    values, _ = latest.get(r.device, ({}, 0.0))
                    latest[r.device] = ({**values, **r.values}, self._occurred(r, now))
                for device, (values, t) in latest.items():
                    self._device_values(site, device, values, t)
            for rec in fresh:
                if isinstance(rec, Alarm):
                    self._apply_alarm(site, rec)
                elif isinstance(rec, (Event, CommandState)):
                    self._apply_event(site, gateway, rec, now)
        return ack, len(fresh)

    def _gateway_clock(self, gateway: str) -> tuple[str, float, float] | None:
        row = self.db.execute("SELECT clk, clk_mono, clk_at FROM gateways WHERE id = ?", (gateway,)).fetchone()
        return (str(row[0]), float(row[1]), float(row[2])) if row and row[0] and row[1] is not None else None

    def _occurred(self, rec: Record, now: float) -> float:
        """When the record happened. A trusted gateway clock says so itself; an untrusted one is placed on
        our clock through its monotonic time, measured against ours at the gateway's birth (same kernel
        boot only); failing both, when it arrived."""
        if rec.trusted:
            return rec.t
        if self._clock is not None and rec.clk and rec.clk == self._clock[0]:
            _, mono0, at0 = self._clock
            return min(now, at0 + (rec.mono - mono0))
        return now

    def quarantine(self, site: str, gateway: str, topic: str, rejects: Sequence[Reject]) -> int | None:
        """Keep what a gateway sent that did not fit the contract (raw bytes and reason), and raise or fold
        one ingest-error alarm for that gateway. Returns the alarm's id."""
        if not rejects:
            return None
        now = time.time()
        with self.db.conn:
            self.db.conn.executemany(
                "INSERT INTO quarantine (gateway, site, topic, record_id, reason, raw, received) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(gateway, site, topic, r.record_id, r.reason[:500], r.raw, now) for r in rejects])
            self.db.execute("DELETE FROM quarantine WHERE gateway = ? AND id <= (SELECT id FROM quarantine WHERE "
                            "gateway = ? ORDER BY id DESC LIMIT 1 OFFSET ?)", (gateway, gateway,
                                                                                QUARANTINE_PER_GATEWAY))
            key = f"{gateway}/ingest-error"
            row = self.db.execute("SELECT id, count FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' "
                                  "ORDER BY id DESC LIMIT 1", (key, site)).fetchone()
            reason = rejects[0].reason[:300]
            if row is None:
                alarm_id = self.db.table("alarms").insert({
                    "key": key, "site": site, "street": self.streets.get(site, ""), "device": "",
                    "rule": "ingest-error", "class": "fault", "severity": 3, "condition": "cleared",
                    "handling": "raised", "count": len(rejects), "text": "网关发来无法识别的数据，已隔离待查",
                    "value_json": json.dumps({"reason": reason}), "raised_at": now, "updated_at": now,
                    "escalated": 0, "disposition_json": ""}).last_rowid
                assert alarm_id is not None
                self._log(alarm_id, "collector", "raised", reason)
            else:
                alarm_id = int(row[0])
                self.db.execute("UPDATE alarms SET count = ?, updated_at = ?, value_json = ? WHERE id = ?",
                                (row[1] + len(rejects), now, json.dumps({"reason": reason}), alarm_id))
                self._log(alarm_id, "collector", "repeated", reason)
        return alarm_id

    def quarantined(self, gateway: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """What was set aside, newest first (raw bytes as hex), for an administrator to inspect."""
        where, args = ("gateway = ?", [gateway]) if gateway else ("1 = 1", [])
        rows = self.db.execute(f"SELECT id, gateway, site, topic, record_id, reason, raw, received FROM quarantine "
                               f"WHERE {where} ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [{"id": r[0], "gateway": r[1], "site": r[2], "topic": r[3], "record_id": r[4], "reason": r[5],
                 "raw_hex": bytes(r[6] or b"").hex(), "received": r[7]} for r in rows]

    def _device_values(self, site: str, device: str, values: dict[str, Any], t: float) -> None:
        row = self.db.execute("SELECT values_json FROM devices WHERE site = ? AND id = ?", (site, device)).fetchone()
        if row is None:
            return
        merged = {**json.loads(row[0] or "{}"), **values}
        self.db.execute("UPDATE devices SET values_json = ?, last_seen = ? WHERE site = ? AND id = ?",
                        (json.dumps(merged), t, site, device))

    def _apply_event(self, site: str, gateway: str, rec: Event | CommandState, now: float) -> None:
        t = self._occurred(rec, now)
        if isinstance(rec, CommandState):
            details: dict[str, Any] = {"command": rec.command, "state": rec.state, "reason": rec.reason}
            self.db.table("events").insert({"id": rec.id, "site": site, "gateway": gateway, "device": "",
                                            "kind": f"command:{rec.state}", "details_json": json.dumps(details),
                                            "t": t})
            self.db.execute("UPDATE commands SET state = ?, reason = ?, updated = ? WHERE id = ? AND gateway = ?",
                            (rec.state, rec.reason, now, rec.command, gateway))
            return
        self.db.table("events").insert({"id": rec.id, "site": site, "gateway": gateway, "device": rec.device,
                                        "kind": rec.kind, "details_json": json.dumps(rec.details), "t": t})
        if rec.kind in ("device_online", "device_offline"):
            online = rec.kind == "device_online"
            self.db.execute("UPDATE devices SET online = ?, offline_since = ? WHERE site = ? AND id = ?",
                            (int(online), None if online else t, site, rec.device))

    def _apply_alarm(self, site: str, rec: Alarm) -> None:
        """Fold the record into the open alarm of its key, or open a new alarm. Records of one key are
        applied in the order they happened, whatever order they arrive in: a clear that overtook its raise
        (sent first after an outage) is remembered, and the raise that follows opens an alarm that is
        already cleared; a record older than the condition in force changes no condition."""
        open_row = self.db.execute(
            "SELECT id, count FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' ORDER BY id DESC LIMIT 1",
            (rec.key, site)).fetchone()
        now = time.time()
        t = self._occurred(rec, now)
        mark = self.db.execute("SELECT state, occurred, clk, mono FROM conditions WHERE site = ? AND key = ?",
                               (site, rec.key)).fetchone()
        if mark is None:
            late = False
        elif rec.clk and mark[2] == rec.clk:
            late = rec.mono < float(mark[3])  # one kernel boot: its monotonic clock orders them, whatever NTP did
        else:
            late = t < float(mark[1])
        condition = str(mark[0]) if late else rec.state
        if not late:
            self.db.execute("INSERT OR REPLACE INTO conditions (site, key, state, occurred, clk, mono) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (site, rec.key, rec.state, t, rec.clk, rec.mono))
        value = json.dumps(rec.value)
        if open_row is None:
            if rec.state == "cleared":
                return  # a clear with no open alarm: remembered above, in case its raise is still on its way
            inserted = self.db.table("alarms").insert({
                "key": rec.key, "site": site, "street": self.streets.get(site, ""), "device": rec.device,
                "rule": rec.rule, "class": rec.cls, "severity": rec.severity, "condition": condition,
                "handling": "raised", "count": 1, "text": rec.text, "value_json": value, "raised_at": t,
                "received_at": now, "updated_at": now, "escalated": 0, "disposition_json": ""}).last_rowid
            assert inserted is not None
            self._log(inserted, "site", "raised", "", record=rec.id)
            if late:
                self._log(inserted, "site", "condition cleared", "the clear arrived before its raise")
            self.touched.append(inserted)
            return
        alarm_id, count = open_row
        self.touched.append(alarm_id)
        if rec.state == "active":
            self.db.execute("UPDATE alarms SET condition = ?, count = ?, updated_at = ?, value_json = ? "
                            "WHERE id = ?", (condition, count + 1, now, value, alarm_id))
            self._log(alarm_id, "site", "repeated", "late: it happened before the condition in force" if late
                      else "", record=rec.id)
        else:
            self.db.execute("UPDATE alarms SET condition = ?, updated_at = ? WHERE id = ?",
                            (condition, now, alarm_id))
            self._log(alarm_id, "site", "condition cleared", "late: it happened before the condition in force"
                      if late else "", record=rec.id)

    def _log(self, alarm_id: int, who: str, action: str, notes: str, *, record: str | None = None) -> None:
        self.db.table("alarm_log").insert({"alarm": alarm_id, "at": time.time(), "who": who, "action": action,
                                           "notes": notes, "record": record})

    # -- alarms for people -------------------------------------------------------------------------
    def alarms(self, *, open_only: bool = True, include_shelved: bool = True) -> list[dict[str, Any]]:
        """Alarms, most urgent first. Shelved ones are listed too (flagged `shelved`) unless asked not to:
        shelving takes an alarm off the active queue, never out of sight or out of the counts."""
        where = "handling != 'closed'" if open_only else "1 = 1"
        if not include_shelved:
            where += f" AND (shelved_until IS NULL OR shelved_until < {time.time()})"
        order = _CLASS_RANK_SQL + ", raised_at"
        return [_with_escalation(r) for r in self.db.table("alarms").rows_where(where, order_by=order)]

    def alarm(self, alarm_id: int) -> dict[str, Any] | None:
        rows = list(self.db.table("alarms").rows_where("id = ?", [alarm_id]))
        return _with_escalation(rows[0]) if rows else None

    def alarm_log(self, alarm_id: int) -> list[dict[str, Any]]:
        """Who did what to an alarm, and when (record ids stay in the store: they are not for viewers)."""
        return list(self.db.table("alarm_log").rows_where("alarm = ?", [alarm_id], order_by="id",
                                                          select="id, alarm, at, who, action, notes"))

    def handle(self, alarm_id: int, action: str, who: str, notes: str = "",
               disposition: dict[str, Any] | None = None) -> dict[str, Any]:
        """Apply a person's action (refused with a reason by the life cycle); logged with who and when."""
        alarm = self.alarm(alarm_id)
        if alarm is None:
            raise KeyError(alarm_id)
        handling = next_handling(alarm["handling"], alarm["condition"], action, disposition)
        with self.db.conn:
            fields: dict[str, Any] = {"handling": handling, "updated_at": time.time()}
            if disposition is not None:
                fields["disposition_json"] = json.dumps({**disposition, "who": who})
            self.db.table("alarms").update(alarm_id, fields)
            self._log(alarm_id, who, action, notes)
        return self.alarm(alarm_id) or {}

    def mute(self, alarm_id: int, how: str, minutes: float, who: str, reason: str) -> dict[str, Any]:
        """Silence (no sound, no notifications) or shelve (off the active queue) until an expiry.
        Neither closes the alarm; both are in its log."""
        if how not in ("silence", "shelve"):
            raise Refused("how is silence or shelve")
        if not 0 < minutes <= 24 * 60:
            raise Refused("minutes must be between 1 and 1440")
        if not reason.strip():
            raise Refused(f"to {how} an alarm, say why")
        alarm = self.alarm(alarm_id)
        if alarm is None:
            raise KeyError(alarm_id)
        if alarm["handling"] == "closed":
            raise Refused("the alarm is closed")
        if alarm["class"] == "fire" and alarm["handling"] == "raised":
            raise Refused(f"a fire alarm cannot be {'silenced' if how == 'silence' else 'shelved'} before someone "
                          "acknowledges it: nothing may hide an unanswered fire")
        until = time.time() + minutes * 60
        column = "silenced_until" if how == "silence" else "shelved_until"
        with self.db.conn:
            self.db.table("alarms").update(alarm_id, {column: until})
            self._log(alarm_id, who, how, f"{minutes:g} min: {reason}")
        return self.alarm(alarm_id) or {}

    def next_escalation(self) -> float | None:
        """When the next unacknowledged alarm goes up the roster (one aggregate query: the escalation loop
        asks this every second instead of loading every open alarm)."""
        after = "CASE class " + " ".join(f"WHEN '{c}' THEN {s}" for c, s in ESCALATE_AFTER.items()) + " ELSE 600 END"
        row = self.db.execute(f"SELECT MIN(raised_at + ({after}) * (COALESCE(escalated, 0) + 1)) FROM alarms "
                              "WHERE handling = 'raised' AND typeof(raised_at) IN ('real', 'integer')").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def escalate(self, alarm_id: int, level: int, to: str) -> None:
        with self.db.conn:
            self.db.table("alarms").update(alarm_id, {"escalated": level})
            self._log(alarm_id, "collector", "escalated", to)

    # -- users and audit ---------------------------------------------------------------------------
    def users(self) -> dict[str, tuple[str, str]]:
        """Active users: name -> (password hash, role)."""
        return {r["name"]: (r["password_hash"], r["role"]) for r in self.db.table("users").rows
                if not r.get("disabled")}

    def user(self, name: str) -> tuple[str, str] | None:
        row = self.db.execute("SELECT password_hash, role FROM users WHERE name = ? AND COALESCE(disabled, 0) = 0",
                              (name,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def save_user(self, name: str, password_hash: str, role: str) -> None:
        """Create a user, or change one's role or password: that ends every session it had."""
        with self.db.conn:
            self.db.table("users").upsert({"name": name, "password_hash": password_hash, "role": role,
                                           "disabled": 0}, pk="name")
            self.db.execute("DELETE FROM sessions WHERE user = ?", (name,))

    def disable_user(self, name: str) -> bool:
        with self.db.conn:
            changed = self.db.execute("UPDATE users SET disabled = 1 WHERE name = ?", (name,)).rowcount
            self.db.execute("DELETE FROM sessions WHERE user = ?", (name,))
        return bool(changed)

    def save_session(self, digest: str, user: str, role: str, csrf: str, expires: float) -> None:
        """A signed-in session (by the digest of its token only); expired ones are dropped on the way."""
        with self.db.conn:
            self.db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            self.db.table("sessions").insert({"digest": digest, "user": user, "role": role, "csrf": csrf,
                                              "expires": expires})

    def session(self, digest: str) -> tuple[str, str, str, float] | None:
        """A session, only while its user is active with the role it signed in with."""
        row = self.db.execute("SELECT s.user, s.role, s.csrf, s.expires FROM sessions s JOIN users u "
                              "ON u.name = s.user AND u.role = s.role AND COALESCE(u.disabled, 0) = 0 "
                              "WHERE s.digest = ?",
                              (digest,)).fetchone()
        return (row[0], row[1], row[2], float(row[3])) if row else None

    def delete_session(self, digest: str) -> None:
        with self.db.conn:
            self.db.execute("DELETE FROM sessions WHERE digest = ?", (digest,))

    def audit(self, who: str, action: str, target: str, details: dict[str, Any] | None = None) -> None:
        with self.db.conn:
            self.db.table("audit").insert({"at": time.time(), "who": who, "action": action, "target": target,
                                           "details": json.dumps(details or {}, default=str)})

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.db.table("audit").rows_where(order_by="id desc", limit=limit))

    def add_command(self, command: dict[str, Any], site: str, gateway: str, who: str, expires: float) -> None:
        with self.db.conn:
            now = time.time()
            self.db.table("commands").insert({"id": command["id"], "site": site, "gateway": gateway,
                                              "action": command["action"], "payload": json.dumps(command, default=str),
                                              "state": "init", "reason": "", "who": who, "created": now,
                                              "updated": now, "expires": expires})

    def pending_commands(self, gateway: str, now: float) -> list[tuple[dict[str, Any], float]]:
        """Commands for a gateway not yet taken up and not expired, oldest first, with their expiry; those
        past their expiry are marked `expired` on the way (never sent late)."""
        with self.db.conn:
            self.db.execute("UPDATE commands SET state = 'expired', reason = 'the gateway did not take it up in '"
                            "|| 'time', updated = ? WHERE gateway = ? AND state = 'init' AND expires <= ?",
                            (now, gateway, now))
        rows = self.db.execute("SELECT payload, expires FROM commands WHERE gateway = ? AND state = 'init' "
                               "AND expires > ? ORDER BY created", (gateway, now)).fetchall()
        return [(json.loads(payload), float(expires)) for payload, expires in rows]

    def expire_commands(self, now: float) -> int:
        with self.db.conn:
            return int(self.db.execute("UPDATE commands SET state = 'expired', reason = 'the gateway did not take '"
                                       "|| 'it up in time', updated = ? WHERE state = 'init' AND expires <= ?",
                                       (now, now)).rowcount)

    def command(self, command_id: str) -> dict[str, Any] | None:
        rows = list(self.db.table("commands").rows_where("id = ?", [command_id]))
        return rows[0] if rows else None

    def gateways(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "birth"} for r in self.db.table("gateways").rows]

    def places(self) -> dict[str, dict[str, Any]]:
        """Where each site is (from its gateway's birth): name, kind, street, lat, lon."""
        return {r["id"]: r for r in self.db.table("sites").rows}

    def readings(self, site: str, device: str, since: float, limit: int = 5000) -> list[dict[str, Any]]:
        """A device's readings since a time, oldest first (each has only the values that changed)."""
        rows = self.db.execute("SELECT t, values_json FROM readings WHERE site = ? AND device = ? AND t >= ? "
                               "ORDER BY t DESC LIMIT ?", (site, device, since, limit)).fetchall()
        return [{"t": t, "values": json.loads(v)} for t, v in reversed(rows)]

    def device_events(self, site: str, device: str, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT t, kind, details_json FROM events WHERE site = ? AND device = ? "
                               "ORDER BY t DESC LIMIT ?", (site, device, limit)).fetchall()
        return [{"t": t, "kind": kind, "details": json.loads(details or "{}")} for t, kind, details in rows]

    def device(self, site: str, device: str) -> dict[str, Any] | None:
        rows = list(self.db.table("devices").rows_where("site = ? AND id = ?", [site, device]))
        if not rows:
            return None
        row = rows[0]
        return {**{k: v for k, v in row.items() if k != "values_json"}, "values": _parsed(row["values_json"], {})}

    def devices(self) -> list[dict[str, Any]]:
        """Devices with their latest values; `online` is null (unknown) while their gateway is gone."""
        away = {r[0] for r in self.db.execute("SELECT id FROM gateways WHERE online = 0")}
        return [{**{k: v for k, v in r.items() if k != "values_json"}, "values": json.loads(r["values_json"] or "{}"),
                 "online": None if r["gateway"] in away else bool(r["online"])} for r in self.db.table("devices").rows]

    # -- retention ---------------------------------------------------------------------------------
    def prune_readings(self, now: float, *, raw_days: float = 7, hourly_days: float = 90) -> int:
        """Readings older than `raw_days` are thinned to the last one per device and hour; older than
        `hourly_days`, dropped. (Charging data must be kept 7 days at the facility: T/GBC 48-2025.)
        Alarms, events and the audit trail are never pruned here."""
        raw_cutoff, hourly_cutoff = now - raw_days * DAY, now - hourly_days * DAY
        with self.db.conn:
            thinned = self.db.execute(
                "DELETE FROM readings WHERE t < ? AND id NOT IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
                "(PARTITION BY site, device, CAST(t / 3600 AS INTEGER) ORDER BY t DESC) AS n FROM readings "
                "WHERE t < ?) WHERE n = 1)", (raw_cutoff, raw_cutoff)).rowcount
            dropped = self.db.execute("DELETE FROM readings WHERE t < ?", (hourly_cutoff,)).rowcount
        return int(thinned + dropped)

    # -- maintenance tickets -----------------------------------------------------------------------
    def evaluate_tickets(self, now: float, offline_after: float = OFFLINE_AFTER_S) -> list[dict[str, Any]]:
        """Open tickets for persistent faults, mark those whose fault went away for review. Returns changes."""
        changes = []
        with self.db.conn:
            for dev in self.devices():
                if dev["online"] is None:
                    continue  # its gateway is gone: nothing is known of it now (the gateway has the ticket)
                faults = faults_of(dev, now, offline_after)
                open_tickets = {t["kind"]: t for t in self.db.table("tickets").rows_where(
                    "site = ? AND device = ? AND status != 'closed'", [dev["site"], dev["id"]])}
                for kind in faults - open_tickets.keys():
                    again = self._recently_closed(dev["site"], dev["id"], kind, now)
                    if again is not None:  # back within a week: the same ticket, with its first deadline
                        self.db.table("tickets").update(again["id"], {
                            "status": "open", "updated": now, "closed_at": None,
                            "notes": f"{again['notes']}\nreopened: the fault came back"})
                        changes.append({**again, "status": "open"})
                        continue
                    level, deadline = ticket_deadline(kind, now)
                    row = {"site": dev["site"], "device": dev["id"], "kind": kind, "level": level, "opened": now,
                           "deadline": deadline, "status": "open", "notes": "", "closed_by": "", "closed_at": None,
                           "updated": now}
                    row["id"] = self.db.table("tickets").insert(row).last_rowid
                    changes.append(row)
                for kind, ticket in open_tickets.items():
                    status = "open" if kind in faults else "review"
                    if ticket["status"] == "deferred" and status == "open":
                        continue  # deferred with a reason while the fault holds
                    if ticket["status"] != status:
                        self.db.table("tickets").update(ticket["id"], {"status": status, "updated": now})
                        changes.append({**ticket, "status": status})
            changes += self._gateway_tickets(now, offline_after)
        return changes

    def _recently_closed(self, site: str, device: str, kind: str, now: float) -> dict[str, Any] | None:
        return next(iter(self.db.table("tickets").rows_where(
            "site = ? AND device = ? AND kind = ? AND status = 'closed' AND closed_at > ?",
            [site, device, kind, now - REOPEN_WITHIN_S], order_by="closed_at DESC", limit=1)), None)

    def _gateway_tickets(self, now: float, offline_after: float) -> list[dict[str, Any]]:
        """A gateway gone this long gets one ticket (device ''), marked for review when it is back."""
        changes: list[dict[str, Any]] = []
        for site, gateway, online, since in self.db.execute("SELECT site, id, online, offline_since FROM gateways"):
            ticket = next(iter(self.db.table("tickets").rows_where(
                "site = ? AND device = '' AND kind = 'gateway_offline' AND status != 'closed'", [site])), None)
            gone = not online and since is not None and now - float(since) >= offline_after
            if gone and ticket is None:
                level, deadline = ticket_deadline("gateway_offline", now)
                row = {"site": site, "device": "", "kind": "gateway_offline", "level": level, "opened": now,
                       "deadline": deadline, "status": "open", "notes": f"gateway {gateway}", "closed_by": "",
                       "closed_at": None, "updated": now}
                row["id"] = self.db.table("tickets").insert(row).last_rowid
                changes.append(row)
            elif ticket is not None and ticket["status"] != ("open" if not online else "review"):
                status = "open" if not online else "review"
                self.db.table("tickets").update(ticket["id"], {"status": status, "updated": now})
                changes.append({**ticket, "status": status})
        return changes

    def tickets(self, *, now: float | None = None, overdue_only: bool = False) -> list[dict[str, Any]]:
        where, args = "status != 'closed'", []
        if overdue_only:
            where += " AND deadline < ?"
            args.append(time.time() if now is None else now)
        return list(self.db.table("tickets").rows_where(where, args, order_by="deadline"))

    def close_ticket(self, ticket_id: int, who: str, notes: str, now: float | None = None) -> dict[str, Any]:
        rows = list(self.db.table("tickets").rows_where("id = ?", [ticket_id]))
        if not rows:
            raise KeyError(ticket_id)
        if rows[0]["status"] == "closed":
            raise Refused("the ticket is already closed")
        if rows[0]["status"] in ("open", "deferred"):
            raise Refused("the fault still holds: a ticket is closed as fixed only once the fault has gone "
                          "(defer it with a reason instead; the deadline stays)")
        if not notes.strip():
            raise Refused("closing a ticket needs notes: what was done")
        at = time.time() if now is None else now
        with self.db.conn:
            self.db.table("tickets").update(ticket_id, {"status": "closed", "notes": notes, "closed_by": who,
                                                        "closed_at": at, "updated": at})
        return next(iter(self.db.table("tickets").rows_where("id = ?", [ticket_id])))

    def defer_ticket(self, ticket_id: int, who: str, reason: str) -> dict[str, Any]:
        """A fault that cannot be fixed yet (a part on order): deferred with a reason, the deadline kept."""
        rows = list(self.db.table("tickets").rows_where("id = ?", [ticket_id]))
        if not rows:
            raise KeyError(ticket_id)
        if rows[0]["status"] == "closed":
            raise Refused("the ticket is already closed")
        if not reason.strip():
            raise Refused("deferring a ticket needs a reason")
        with self.db.conn:
            notes = f"{rows[0]['notes']}\n" if rows[0]["notes"] else ""
            self.db.table("tickets").update(ticket_id, {"status": "deferred", "updated": time.time(),
                                                        "notes": f"{notes}deferred by {who}: {reason.strip()}"})
        return next(iter(self.db.table("tickets").rows_where("id = ?", [ticket_id])))

    # -- readiness ---------------------------------------------------------------------------------
    def save_readiness(self, day: str, site: str, street: str, score: float, missing: list[str]) -> None:
        with self.db.conn:
            self.db.table("readiness").upsert({"day": day, "site": site, "street": street, "score": score,
                                               "missing": json.dumps(missing, ensure_ascii=False)},
                                              pk=("day", "site"))

    def readiness_history(self, month: str) -> list[tuple[str, str, float]]:
        return [(r["day"], r["street"], r["score"]) for r in
                self.db.table("readiness").rows_where("day LIKE ?", [f"{month}-%"], order_by="day")]

    def count(self, table: str) -> int:
        return int(self.db.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0])


_CLASS_RANK_SQL = "CASE class " + " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CLASS_ORDER)) + \
    f" ELSE {len(CLASS_ORDER)} END"  # the duty queue's order, from its one home (devices.profile)
_TYPE: dict[type, str] = {Alarm: "alarm", Event: "event", CommandState: "command", Reading: "reading"}


def _with_escalation(row: dict[str, Any]) -> dict[str, Any]:
    """An alarm as the API serves it: the row's JSON columns parsed (`value`, `disposition`: a column
    name never reaches the browser), `escalate_at` (when it goes up the roster unless someone
    acknowledges it first) and whether it is shelved or silenced now."""
    row = dict(row)
    row["value"] = _parsed(row.pop("value_json", None), None)
    row["disposition"] = _parsed(row.pop("disposition_json", None), None)
    try:
        due = escalation_due_at(row["handling"], row["class"], float(row["raised_at"]), int(row["escalated"] or 0))
    except (TypeError, ValueError):  # a row from before records were checked: shown, never escalated
        due = None
    now = time.time()
    return {**row, "escalate_at": due, "shelved": (row.get("shelved_until") or 0) > now,
            "silenced": (row.get("silenced_until") or 0) > now}


def _parsed(text: str | None, empty: Any) -> Any:
    """A JSON column's value; `empty` for none (and for a value written before it was JSON)."""
    if not text:
        return empty
    try:
        return json.loads(text)
    except ValueError:
        return empty
