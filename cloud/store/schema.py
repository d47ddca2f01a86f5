"""The store's schema as code: SQLite's migrations (sqlite-utils, one function per version, run once
each) and PostgreSQL's (SQL, one list per version, run once each in one transaction). A new version is
added to both lists, never edited in place.

The PostgreSQL schema is SQLite's at version 11 (then each later version's own SQL) with proper types,
identity ids, and the readings table partitioned by day (`t` is epoch seconds; `readings_YYYYMMDD`
partitions are made on demand by the store, and retention drops whole partitions).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from cloud.store.base import parsed
from cloud.store.faults import FAULT_FLAGS, attention, faulty

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS", "migrate_sqlite"]


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


def _m12_device_fault_flag(db: sqlite_utils.Database) -> None:
    """Whether a device's values hold a fault, kept beside them: a city's site list counts in SQL."""
    db.table("devices").add_column("faulty", int)
    for site, device, values in db.execute("SELECT site, id, values_json FROM devices").fetchall():
        db.execute("UPDATE devices SET faulty = ? WHERE site = ? AND id = ?",
                   (faulty(parsed(values, {})), site, device))


def _m13_device_attention(db: sqlite_utils.Database) -> None:
    """Whether a device's values alone call for a ticket, kept beside them: the ticket round's filter."""
    db.table("devices").add_column("attention", int)
    for site, device, values in db.execute("SELECT site, id, values_json FROM devices").fetchall():
        db.execute("UPDATE devices SET attention = ? WHERE site = ? AND id = ?",
                   (attention(parsed(values, {})), site, device))


def _m14_device_health_index(db: sqlite_utils.Database) -> None:
    """The site list's counts from an index alone."""
    db.execute("CREATE INDEX devices_site_health ON devices (site, online, faulty)")


def _m15_handovers_and_duty_checks(db: sqlite_utils.Database) -> None:
    """The duty centre's own records: shift handovers (交接班) and duty checks (查岗)."""
    db.table("handovers").create({"id": int, "written_at": float, "outgoing": str, "note": str, "snapshot": str,
                                  "accepted_by": str, "accepted_at": float, "accept_note": str}, pk="id")
    db.table("duty_checks").create({"id": int, "sent_at": float, "sent_by": str, "due_at": float,
                                    "answered_at": float, "answered_by": str, "missed_at": float}, pk="id")


def _m16_floor_plans(db: sqlite_utils.Database) -> None:
    """Sites' floor plans (checked PNG or SVG) and where devices sit on them (fractions of width and height)."""
    db.table("plans").create({"id": int, "site": str, "name": str, "media_type": str, "width": int, "height": int,
                              "image": bytes, "uploaded_by": str, "uploaded_at": float}, pk="id")
    db.table("plans").create_index(["site"])
    db.table("plan_positions").create({"plan": int, "device": str, "x": float, "y": float}, pk=("plan", "device"))


def _m17_snapshots(db: sqlite_utils.Database) -> None:
    """Camera pictures for alarms: chunks as they come (until the last one), then the checked picture."""
    db.table("attachment_parts").create({"gateway": str, "ref": str, "part": int, "parts": int, "data": bytes,
                                         "received": float}, pk=("gateway", "ref", "part"))
    db.table("snapshots").create({"id": int, "site": str, "gateway": str, "camera": str, "channel": int,
                                  "alarm_key": str, "ref": str, "taken_at": float, "received_at": float, "size": int,
                                  "width": int, "height": int, "command": str, "image": bytes}, pk="id")
    db.table("snapshots").create_index(["site", "alarm_key", "taken_at"])
    db.table("snapshots").create_index(["gateway", "ref"], unique=True)


def _m18_notifications_and_dispatch(db: sqlite_utils.Database) -> None:
    """Who was told about an alarm, through what, and what came back; micro stations dispatched to fires."""
    db.table("notifications").create({"id": int, "alarm": int, "step": int, "person": str, "channel": str,
                                      "address": str, "out_id": str, "provider_id": str, "state": str, "detail": str,
                                      "sent_at": float, "updated_at": float, "reply": str}, pk="id")
    db.table("notifications").create_index(["alarm", "step", "person", "channel"], unique=True)
    db.table("notifications").create_index(["out_id"], unique=True)
    db.table("notifications").create_index(["address", "sent_at"])
    db.table("dispatches").create({"id": int, "alarm": int, "station": str, "token_digest": str, "sent_at": float,
                                   "sent_by": str, "expires": float, "acknowledged_at": float,
                                   "on_scene_at": float}, pk="id")
    db.table("dispatches").create_index(["token_digest"], unique=True)
    db.table("dispatches").create_index(["alarm"])


def _m19_uitd_frames(db: sqlite_utils.Database) -> None:
    """Every GB/T 26875.3 frame exchanged with the city's monitoring centre, and what became of it."""
    db.table("uitd_frames").create({"id": int, "site": str, "at": float, "direction": str, "serial": int,
                                    "command": int, "type": int, "state": str, "detail": str, "raw": str}, pk="id")
    db.table("uitd_frames").create_index(["site", "id"])


def _m20_fleet(db: sqlite_utils.Database) -> None:
    """The fleet page: each gateway's versions and latest trends, and its heartbeats sampled over time."""
    for column, kind in (("agent_version", str), ("config_version", str), ("profiles_version", str),
                         ("outbox", int), ("outbox_rises", int), ("bus_errors", int), ("error_rate", float)):
        db.table("gateways").add_column(column, kind)
    db.table("gateway_samples").create({"gateway": str, "t": float, "cpu": float, "rss": float, "disk": float,
                                        "outbox": int, "requests": int, "errors": int, "clock_trusted": int})
    db.table("gateway_samples").create_index(["gateway", "t"])


def _m21_log_bundles(db: sqlite_utils.Database) -> None:
    """Log lines gateways sent on request (the `logs` command), gzip-compressed as they came."""
    db.table("log_bundles").create({"id": int, "site": str, "gateway": str, "command": str, "received_at": float,
                                    "size": int, "lines": int, "data": bytes}, pk="id")
    db.table("log_bundles").create_index(["gateway", "id"])


def _m22_rollouts(db: sqlite_utils.Database) -> None:
    """Rollouts of configuration sets and agent versions, staged over many gateways, and the agent wheels
    they install (cloud.store.rollouts)."""
    db.table("rollouts").create({"id": int, "created": float, "who": str, "action": str, "description": str,
                                 "payload": str, "digest": str, "targets": str, "max_failures": int, "state": str,
                                 "reason": str, "updated": float}, pk="id")
    db.table("rollout_targets").create({"rollout": int, "gateway": str, "site": str, "stage": int, "command": str,
                                        "sent_at": float}, pk=("rollout", "gateway"))
    db.table("rollout_targets").create_index(["command"])
    db.table("packages").create({"sha256": str, "name": str, "version": str, "size": int, "data": bytes,
                                 "uploaded": float, "who": str}, pk="sha256")


SQLITE_MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_m1_initial, _m2_users_and_audit, _m3_commands,
                                                              _m4_tickets_and_readiness, _m5_silence_and_shelve,
                                                              _m6_gateway_health, _m7_places, _m8_sessions,
                                                              _m9_ids_per_gateway_and_quarantine,
                                                              _m10_gateway_liveness, _m11_disabled_users,
                                                              _m12_device_fault_flag, _m13_device_attention,
                                                              _m14_device_health_index,
                                                              _m15_handovers_and_duty_checks, _m16_floor_plans,
                                                              _m17_snapshots, _m18_notifications_and_dispatch,
                                                              _m19_uitd_frames, _m20_fleet,
                                                              _m21_log_bundles, _m22_rollouts]


def migrate_sqlite(db: sqlite_utils.Database) -> None:
    if "schema_version" not in db.table_names():
        db.table("schema_version").create({"version": int})
        db.table("schema_version").insert({"version": 0})
    version = db.execute("SELECT version FROM schema_version").fetchone()[0]
    for number, migration in enumerate(SQLITE_MIGRATIONS[version:], start=version + 1):
        with db.conn:
            migration(db)
            db.execute("UPDATE schema_version SET version = ?", (number,))


_ID = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
POSTGRES_MIGRATIONS: list[list[str]] = [[
    "CREATE TABLE gateways (id TEXT PRIMARY KEY, site TEXT, boot TEXT, bdseq BIGINT, seq BIGINT, online INTEGER, "
    "last_seen DOUBLE PRECISION, birth TEXT, health TEXT, last_heartbeat DOUBLE PRECISION, "
    "heartbeat_s DOUBLE PRECISION, offline_since DOUBLE PRECISION, clk TEXT, clk_mono DOUBLE PRECISION, "
    "clk_at DOUBLE PRECISION)",
    "CREATE TABLE devices (site TEXT, id TEXT, gateway TEXT, name TEXT, profile TEXT, online INTEGER, "
    "last_seen DOUBLE PRECISION, values_json TEXT, configured_profile TEXT, offline_since DOUBLE PRECISION, "
    "kind TEXT, location TEXT, PRIMARY KEY (site, id))",
    "CREATE TABLE records (id TEXT, gateway TEXT, type TEXT, received DOUBLE PRECISION, PRIMARY KEY (gateway, id))",
    f"CREATE TABLE alarms (id {_ID}, key TEXT, site TEXT, street TEXT, device TEXT, rule TEXT, class TEXT, "
    "severity INTEGER, condition TEXT, handling TEXT, count INTEGER, text TEXT, value_json TEXT, "
    "raised_at DOUBLE PRECISION, updated_at DOUBLE PRECISION, escalated INTEGER, disposition_json TEXT, "
    "silenced_until DOUBLE PRECISION, shelved_until DOUBLE PRECISION, received_at DOUBLE PRECISION)",
    "CREATE INDEX alarms_key_handling ON alarms (key, handling)",
    f"CREATE TABLE alarm_log (id {_ID}, alarm BIGINT REFERENCES alarms (id), at DOUBLE PRECISION, who TEXT, "
    "action TEXT, notes TEXT, record TEXT)",
    "CREATE INDEX alarm_log_alarm ON alarm_log (alarm)",
    "CREATE TABLE events (id TEXT, site TEXT, gateway TEXT, device TEXT, kind TEXT, details_json TEXT, "
    "t DOUBLE PRECISION, PRIMARY KEY (gateway, id))",
    "CREATE INDEX events_site_device_kind_t ON events (site, device, kind, t)",
    # partitioned by day on t: the key must hold t (records, keyed by gateway and id, keep replays out)
    "CREATE TABLE readings (id TEXT, gateway TEXT, site TEXT, device TEXT, t DOUBLE PRECISION NOT NULL, "
    "values_json TEXT, PRIMARY KEY (gateway, id, t)) PARTITION BY RANGE (t)",
    "CREATE TABLE readings_default PARTITION OF readings DEFAULT",
    "CREATE INDEX readings_site_device_t ON readings (site, device, t)",
    "CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT, role TEXT, disabled INTEGER)",
    f"CREATE TABLE audit (id {_ID}, at DOUBLE PRECISION, who TEXT, action TEXT, target TEXT, details TEXT)",
    "CREATE TABLE commands (id TEXT PRIMARY KEY, site TEXT, gateway TEXT, action TEXT, payload TEXT, state TEXT, "
    "reason TEXT, who TEXT, created DOUBLE PRECISION, updated DOUBLE PRECISION, expires DOUBLE PRECISION)",
    "CREATE INDEX commands_gateway_state ON commands (gateway, state)",
    f"CREATE TABLE tickets (id {_ID}, site TEXT, device TEXT, kind TEXT, level TEXT, opened DOUBLE PRECISION, "
    "deadline DOUBLE PRECISION, status TEXT, notes TEXT, closed_by TEXT, closed_at DOUBLE PRECISION, "
    "updated DOUBLE PRECISION)",
    "CREATE INDEX tickets_site_device_kind_status ON tickets (site, device, kind, status)",
    "CREATE TABLE readiness (day TEXT, site TEXT, street TEXT, score DOUBLE PRECISION, missing TEXT, "
    "PRIMARY KEY (day, site))",
    "CREATE TABLE sites (id TEXT PRIMARY KEY, gateway TEXT, name TEXT, kind TEXT, street TEXT, "
    "lat DOUBLE PRECISION, lon DOUBLE PRECISION)",
    "CREATE TABLE sessions (digest TEXT PRIMARY KEY, \"user\" TEXT, role TEXT, csrf TEXT, expires DOUBLE PRECISION)",
    f"CREATE TABLE quarantine (id {_ID}, gateway TEXT, site TEXT, topic TEXT, record_id TEXT, reason TEXT, "
    "raw BYTEA, received DOUBLE PRECISION)",
    "CREATE INDEX quarantine_gateway_id ON quarantine (gateway, id)",
    "CREATE TABLE conditions (site TEXT, key TEXT, state TEXT, occurred DOUBLE PRECISION, clk TEXT, "
    "mono DOUBLE PRECISION, PRIMARY KEY (site, key))",
], [
    # SQLite's 12: the fault flag beside each device's values (always written as JSON objects here)
    "ALTER TABLE devices ADD COLUMN faulty INTEGER",
    "UPDATE devices SET faulty = CASE WHEN values_json LIKE '{%' AND (" + " OR ".join(
        f"(values_json::jsonb -> '{flag}') = 'true'::jsonb" for flag in FAULT_FLAGS) + ") THEN 1 ELSE 0 END",
], [
    # SQLite's 13: over-inclusive for the devices there are (each is a ticket candidate until its next values)
    "ALTER TABLE devices ADD COLUMN attention INTEGER DEFAULT 1",
], [
    "CREATE INDEX devices_site_health ON devices (site, online, faulty)",
], [
    f"CREATE TABLE handovers (id {_ID}, written_at DOUBLE PRECISION, outgoing TEXT, note TEXT, snapshot TEXT, "
    "accepted_by TEXT, accepted_at DOUBLE PRECISION, accept_note TEXT)",
    f"CREATE TABLE duty_checks (id {_ID}, sent_at DOUBLE PRECISION, sent_by TEXT, due_at DOUBLE PRECISION, "
    "answered_at DOUBLE PRECISION, answered_by TEXT, missed_at DOUBLE PRECISION)",
], [
    f"CREATE TABLE plans (id {_ID}, site TEXT, name TEXT, media_type TEXT, width INTEGER, height INTEGER, "
    "image BYTEA, uploaded_by TEXT, uploaded_at DOUBLE PRECISION)",
    "CREATE INDEX plans_site ON plans (site)",
    "CREATE TABLE plan_positions (plan BIGINT, device TEXT, x DOUBLE PRECISION, y DOUBLE PRECISION, "
    "PRIMARY KEY (plan, device))",
], [
    "CREATE TABLE attachment_parts (gateway TEXT, ref TEXT, part INTEGER, parts INTEGER, data BYTEA, "
    "received DOUBLE PRECISION, PRIMARY KEY (gateway, ref, part))",
    f"CREATE TABLE snapshots (id {_ID}, site TEXT, gateway TEXT, camera TEXT, channel INTEGER, alarm_key TEXT, "
    "ref TEXT, taken_at DOUBLE PRECISION, received_at DOUBLE PRECISION, size INTEGER, width INTEGER, "
    "height INTEGER, command TEXT, image BYTEA)",
    "CREATE INDEX snapshots_site_key_taken ON snapshots (site, alarm_key, taken_at)",
    "CREATE UNIQUE INDEX snapshots_gateway_ref ON snapshots (gateway, ref)",
], [
    f"CREATE TABLE notifications (id {_ID}, alarm BIGINT, step INTEGER, person TEXT, channel TEXT, address TEXT, "
    "out_id TEXT, provider_id TEXT, state TEXT, detail TEXT, sent_at DOUBLE PRECISION, updated_at DOUBLE PRECISION, "
    "reply TEXT)",
    "CREATE UNIQUE INDEX notifications_step ON notifications (alarm, step, person, channel)",
    "CREATE UNIQUE INDEX notifications_out_id ON notifications (out_id)",
    "CREATE INDEX notifications_address ON notifications (address, sent_at)",
    f"CREATE TABLE dispatches (id {_ID}, alarm BIGINT, station TEXT, token_digest TEXT, sent_at DOUBLE PRECISION, "
    "sent_by TEXT, expires DOUBLE PRECISION, acknowledged_at DOUBLE PRECISION, on_scene_at DOUBLE PRECISION)",
    "CREATE UNIQUE INDEX dispatches_token ON dispatches (token_digest)",
    "CREATE INDEX dispatches_alarm ON dispatches (alarm)",
], [
    f"CREATE TABLE uitd_frames (id {_ID}, site TEXT, at DOUBLE PRECISION, direction TEXT, serial INTEGER, "
    "command INTEGER, type INTEGER, state TEXT, detail TEXT, raw TEXT)",
    "CREATE INDEX uitd_frames_site ON uitd_frames (site, id)",
], [
    "ALTER TABLE gateways ADD COLUMN agent_version TEXT",
    "ALTER TABLE gateways ADD COLUMN config_version TEXT",
    "ALTER TABLE gateways ADD COLUMN profiles_version TEXT",
    "ALTER TABLE gateways ADD COLUMN outbox BIGINT",
    "ALTER TABLE gateways ADD COLUMN outbox_rises INTEGER",
    "ALTER TABLE gateways ADD COLUMN bus_errors BIGINT",
    "ALTER TABLE gateways ADD COLUMN error_rate DOUBLE PRECISION",
    "CREATE TABLE gateway_samples (gateway TEXT, t DOUBLE PRECISION, cpu DOUBLE PRECISION, rss DOUBLE PRECISION, "
    "disk DOUBLE PRECISION, outbox BIGINT, requests BIGINT, errors BIGINT, clock_trusted INTEGER)",
    "CREATE INDEX gateway_samples_gateway_t ON gateway_samples (gateway, t)",
], [
    f"CREATE TABLE log_bundles (id {_ID}, site TEXT, gateway TEXT, command TEXT, received_at DOUBLE PRECISION, "
    "size BIGINT, lines BIGINT, data BYTEA)",
    "CREATE INDEX log_bundles_gateway ON log_bundles (gateway, id)",
], [
    f"CREATE TABLE rollouts (id {_ID}, created DOUBLE PRECISION, who TEXT, action TEXT, description TEXT, "
    "payload TEXT, digest TEXT, targets TEXT, max_failures INTEGER, state TEXT, reason TEXT, updated DOUBLE PRECISION)",
    "CREATE TABLE rollout_targets (rollout BIGINT, gateway TEXT, site TEXT, stage INTEGER, command TEXT, "
    "sent_at DOUBLE PRECISION, PRIMARY KEY (rollout, gateway))",
    "CREATE INDEX rollout_targets_command ON rollout_targets (command)",
    "CREATE TABLE packages (sha256 TEXT PRIMARY KEY, name TEXT, version TEXT, size BIGINT, data BYTEA, "
    "uploaded DOUBLE PRECISION, who TEXT)",
]]
