"""Records from gateways: stored once per (gateway, id) in one transaction per message, folded into
alarms, events, device values and readings; what does not fit the contract is quarantined."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from cloud.ingest import Reject
from cloud.store.faults import attention, faulty
from cloud.store.snapshots import Snapshots
from devices.contract import Alarm, Attachment, CommandState, Event, Reading, Record
from devices.protocol import gateway_topic

__all__ = ["Records"]

QUARANTINE_PER_GATEWAY = 1000  # the newest kept: a hostile gateway cannot fill the disk


class Records(Snapshots):
    def store_records(self, site: str, gateway: str, records: Sequence[Record]) -> tuple[list[str], int]:
        """Store a batch of checked records in one transaction. Returns (ids to acknowledge, how many were
        new). Ids this gateway sent before are acknowledged again (the edge may have missed the first ack)
        but not applied twice; the same id from another gateway is another record.
        The alarms this batch opened or changed are in `self.touched` afterwards, and `self.site_changed`
        says whether a device of the site went online, offline, faulty or well (what the site list counts)."""
        ack = [rec.id for rec in records]
        self.touched = []
        self.site_changed = False
        now = time.time()
        self._clock = self._gateway_clock(gateway)
        self.sql.prepare_readings(self._occurred(r, now) for r in records if isinstance(r, Reading))
        with self.sql.transaction():
            unique: dict[str, Record] = {}
            for rec in records:
                unique.setdefault(rec.id, rec)  # a duplicate inside the batch is applied once too
            # One statement inserts the new ids and names them: the unique key decides what is a replay, in
            # the same index lookup that stores the id (no read-then-write).
            batch = list(unique.values())
            new = set(self.sql.insert_rows("records", ("id", "gateway", "type", "received"),
                                           [(r.id, gateway, _TYPE[type(r)], now) for r in batch],
                                           skip_existing="gateway, id", returning="id"))
            fresh = [r for r in batch if r.id in new]
            readings = [r for r in fresh if isinstance(r, Reading)]
            if readings:
                self.sql.insert_rows("readings", ("id", "gateway", "site", "device", "t", "values_json"),
                                     [(one.id, gateway, site, one.device, self._occurred(one, now),
                                       json.dumps(one.values)) for one in readings])
                latest: dict[str, tuple[dict[str, Any], float]] = {}
                for r in readings:
                    values, _ = latest.get(r.device, ({}, 0.0))
                    latest[r.device] = ({**values, **r.values}, self._occurred(r, now))
                self._device_values(site, latest)
            for rec in fresh:
                if isinstance(rec, Alarm):
                    self._apply_alarm(site, rec)
                elif isinstance(rec, (Event, CommandState)):
                    self._apply_event(site, gateway, rec, now)
            chunks = [r for r in fresh if isinstance(r, Attachment)]
            refused = self._attachments(site, gateway, chunks, self._occurred(chunks[0], now), now) if chunks else []
        if refused:
            touched = self.touched
            alarm = self.quarantine(site, gateway, gateway_topic(site, gateway, "attachments"), refused)
            self.touched = [*touched, *([alarm] if alarm is not None else [])]
        return ack, len(fresh)

    def _gateway_clock(self, gateway: str) -> tuple[str, float, float] | None:
        row = self.sql.execute("SELECT clk, clk_mono, clk_at FROM gateways WHERE id = ?", (gateway,)).fetchone()
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
        with self.sql.transaction():
            self.sql.executemany(
                "INSERT INTO quarantine (gateway, site, topic, record_id, reason, raw, received) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(gateway, site, topic, r.record_id, r.reason[:500], r.raw, now) for r in rejects])
            self.sql.execute("DELETE FROM quarantine WHERE gateway = ? AND id <= (SELECT id FROM quarantine WHERE "
                            "gateway = ? ORDER BY id DESC LIMIT 1 OFFSET ?)", (gateway, gateway,
                                                                                QUARANTINE_PER_GATEWAY))
            key = f"{gateway}/ingest-error"
            row = self.sql.execute("SELECT id, count FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' "
                                  "ORDER BY id DESC LIMIT 1", (key, site)).fetchone()
            reason = rejects[0].reason[:300]
            if row is None:
                alarm_id = self._insert("alarms", {
                    "key": key, "site": site, "street": self.streets.get(site, ""), "device": "",
                    "rule": "ingest-error", "class": "fault", "severity": 3, "condition": "cleared",
                    "handling": "raised", "count": len(rejects), "text": "网关发来无法识别的数据，已隔离待查",
                    "value_json": json.dumps({"reason": reason}), "raised_at": now, "updated_at": now,
                    "escalated": 0, "disposition_json": ""}, returning_id=True)
                assert alarm_id is not None
                self._log(alarm_id, "collector", "raised", reason)
            else:
                alarm_id = int(row[0])
                self.sql.execute("UPDATE alarms SET count = ?, updated_at = ?, value_json = ? WHERE id = ?",
                                (row[1] + len(rejects), now, json.dumps({"reason": reason}), alarm_id))
                self._log(alarm_id, "collector", "repeated", reason)
        return alarm_id

    def quarantined(self, gateway: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """What was set aside, newest first (raw bytes as hex), for an administrator to inspect."""
        where, args = ("gateway = ?", [gateway]) if gateway else ("1 = 1", [])
        rows = self.sql.execute(f"SELECT id, gateway, site, topic, record_id, reason, raw, received FROM quarantine "
                               f"WHERE {where} ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [{"id": r[0], "gateway": r[1], "site": r[2], "topic": r[3], "record_id": r[4], "reason": r[5],
                 "raw_hex": bytes(r[6] or b"").hex(), "received": r[7]} for r in rows]

    def _device_values(self, site: str, latest: dict[str, tuple[dict[str, Any], float]]) -> None:
        """Each device's latest values merged into what it had, in two statements for the whole batch
        (a device its gateway's birth did not name is left out)."""
        ids = sorted(latest)
        known = self.sql.execute(f"SELECT id, values_json FROM devices WHERE site = ? AND id IN "
                                 f"({', '.join('?' * len(ids))})", [site, *ids]).fetchall()
        merged: dict[str, dict[str, Any]] = {}
        for device, had in known:
            before = json.loads(had or "{}")
            merged[device] = {**before, **latest[device][0]}
            if faulty(merged[device]) != faulty(before):
                self.site_changed = True
        self.sql.update_rows("devices", ("site", "id"), ("values_json", "faulty", "attention", "last_seen"),
                             [(json.dumps(values), faulty(values), attention(values), latest[device][1], site, device)
                              for device, values in merged.items()])

    def _apply_event(self, site: str, gateway: str, rec: Event | CommandState, now: float) -> None:
        t = self._occurred(rec, now)
        if isinstance(rec, CommandState):
            details: dict[str, Any] = {"command": rec.command, "state": rec.state, "reason": rec.reason}
            self._insert("events", {"id": rec.id, "site": site, "gateway": gateway, "device": "",
                                            "kind": f"command:{rec.state}", "details_json": json.dumps(details),
                                            "t": t})
            self.sql.execute("UPDATE commands SET state = ?, reason = ?, updated = ? WHERE id = ? AND gateway = ?",
                            (rec.state, rec.reason, now, rec.command, gateway))
            owner = self.sql.execute("SELECT who FROM commands WHERE id = ? AND gateway = ?",
                                     (rec.command, gateway)).fetchone()
            if owner is not None and str(owner[0]).startswith("rollout/"):  # each gateway's step, in the audit
                self._insert("audit", {"at": now, "who": gateway, "action": "rollout step", "target": owner[0],
                                       "details": json.dumps(details)})
            return
        self._insert("events", {"id": rec.id, "site": site, "gateway": gateway, "device": rec.device,
                                        "kind": rec.kind, "details_json": json.dumps(rec.details), "t": t})
        if rec.kind in ("device_online", "device_offline"):
            online = rec.kind == "device_online"
            self.site_changed = True
            self.sql.execute("UPDATE devices SET online = ?, offline_since = ? WHERE site = ? AND id = ?",
                            (int(online), None if online else t, site, rec.device))

    def _apply_alarm(self, site: str, rec: Alarm) -> None:
        """Fold the record into the open alarm of its key, or open a new alarm. Records of one key are
        applied in the order they happened, whatever order they arrive in: a clear that overtook its raise
        (sent first after an outage) is remembered, and the raise that follows opens an alarm that is
        already cleared; a record older than the condition in force changes no condition."""
        open_row = self.sql.execute(
            "SELECT id, count FROM alarms WHERE key = ? AND site = ? AND handling != 'closed' ORDER BY id DESC LIMIT 1",
            (rec.key, site)).fetchone()
        now = time.time()
        t = self._occurred(rec, now)
        mark = self.sql.execute("SELECT state, occurred, clk, mono FROM conditions WHERE site = ? AND key = ?",
                               (site, rec.key)).fetchone()
        if mark is None:
            late = False
        elif rec.clk and mark[2] == rec.clk:
            late = rec.mono < float(mark[3])  # one kernel boot: its monotonic clock orders them, whatever NTP did
        else:
            late = t < float(mark[1])
        condition = str(mark[0]) if late and mark is not None else rec.state
        if not late:
            self._upsert("conditions", {"site": site, "key": rec.key, "state": rec.state, "occurred": t,
                                        "clk": rec.clk, "mono": rec.mono}, pk=("site", "key"))
        value = json.dumps(rec.value)
        if open_row is None:
            if rec.state == "cleared":
                return  # a clear with no open alarm: remembered above, in case its raise is still on its way
            inserted = self._insert("alarms", {
                "key": rec.key, "site": site, "street": self.streets.get(site, ""), "device": rec.device,
                "rule": rec.rule, "class": rec.cls, "severity": rec.severity, "condition": condition,
                "handling": "raised", "count": 1, "text": rec.text, "value_json": value, "raised_at": t,
                "received_at": now, "updated_at": now, "escalated": 0, "disposition_json": ""}, returning_id=True)
            assert inserted is not None
            self._log(inserted, "site", "raised", "", record=rec.id)
            if late:
                self._log(inserted, "site", "condition cleared", "the clear arrived before its raise")
            self.touched.append(inserted)
            return
        alarm_id, count = open_row
        self.touched.append(alarm_id)
        if rec.state == "active":
            self.sql.execute("UPDATE alarms SET condition = ?, count = ?, updated_at = ?, value_json = ? "
                            "WHERE id = ?", (condition, count + 1, now, value, alarm_id))
            self._log(alarm_id, "site", "repeated", "late: it happened before the condition in force" if late
                      else "", record=rec.id)
        else:
            self.sql.execute("UPDATE alarms SET condition = ?, updated_at = ? WHERE id = ?",
                            (condition, now, alarm_id))
            self._log(alarm_id, "site", "condition cleared", "late: it happened before the condition in force"
                      if late else "", record=rec.id)


_TYPE: dict[type, str] = {Alarm: "alarm", Event: "event", CommandState: "command", Reading: "reading",
                          Attachment: "attachment"}
