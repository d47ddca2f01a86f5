"""Rollouts: one operation (a configuration set, an agent version) for many gateways, in stages.

Each gateway's step is an ordinary durable command (cloud.store.commands), so its state is the state
the gateway reports for it; the rollout's own row keeps its plan and whether it runs, stopped or completed.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloud.rollout_plan import Target
from cloud.store.accounts import Accounts

__all__ = ["PACKAGES_KEPT", "Rollouts"]

PACKAGES_KEPT = 10  # agent wheels kept (about 500 kB each), besides those a running rollout hands out


class Rollouts(Accounts):
    def add_rollout(self, *, who: str, action: str, description: str, payload: dict[str, Any], digest: str,
                    targets: dict[str, Any], stage_of: dict[str, tuple[str, int]], max_failures: int) -> int:
        """`stage_of`: gateway -> (site, stage)."""
        now = time.time()
        with self.sql.transaction():
            rid = self._insert("rollouts", {"created": now, "who": who, "action": action, "description": description,
                                            "payload": json.dumps(payload), "digest": digest,
                                            "targets": json.dumps(targets, ensure_ascii=False),
                                            "max_failures": max_failures, "state": "running", "reason": "",
                                            "updated": now}, returning_id=True)
            assert rid is not None
            self.sql.insert_rows("rollout_targets", ("rollout", "gateway", "site", "stage"),
                                 [(rid, gateway, site, stage) for gateway, (site, stage) in stage_of.items()])
            self.audit(who, "rollout created", f"rollout/{rid}",
                       {"action": action, "description": description, "digest": digest, "targets": targets,
                        "gateways": len(stage_of), "max_failures": max_failures})
        return rid

    def add_package(self, sha256: str, name: str, version: str, data: bytes, who: str) -> dict[str, Any]:
        with self.sql.transaction():
            self._upsert("packages", {"sha256": sha256, "name": name, "version": version, "size": len(data),
                                      "data": data, "uploaded": time.time(), "who": who}, pk=("sha256",))
            self.audit(who, "agent package uploaded", name, {"sha256": sha256, "version": version, "size": len(data)})
            self.sql.execute(  # the newest few, and any a running rollout still hands out
                "DELETE FROM packages WHERE sha256 NOT IN (SELECT sha256 FROM packages ORDER BY uploaded DESC LIMIT ?) "
                "AND sha256 NOT IN (SELECT digest FROM rollouts WHERE state = 'running' AND action = 'update')",
                (PACKAGES_KEPT,))
        return {"sha256": sha256, "name": name, "version": version, "size": len(data)}

    def packages(self) -> list[dict[str, Any]]:
        return self._rows("packages", select="sha256, name, version, size, uploaded, who", order_by="uploaded DESC")

    def package(self, sha256: str) -> tuple[str, bytes] | None:
        row = self.sql.execute("SELECT name, data FROM packages WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def rollout_candidates(self) -> list[dict[str, Any]]:
        """Every gateway the collector has seen, with its site's kind and street (what a rollout targets)."""
        rows = self.sql.execute("SELECT g.id, g.site, g.online, s.kind, s.street FROM gateways g "
                                "LEFT JOIN sites s ON s.id = g.site ORDER BY s.street, g.site, g.id").fetchall()
        return [{"gateway": g, "site": site, "online": bool(online), "kind": kind or "", "street": street or ""}
                for g, site, online, kind, street in rows]

    def rollouts(self, limit: int = 50, rollout_id: int | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE r.id = ? ", [rollout_id]) if rollout_id is not None else ("", [])
        rows = self.sql.execute(
            "SELECT r.id, r.created, r.who, r.action, r.description, r.digest, r.targets, r.max_failures, r.state, "
            "r.reason, r.updated, COUNT(t.gateway), "
            "SUM(CASE WHEN c.state = 'successful' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN c.state IN ('failed', 'refused', 'rolled_back') THEN 1 ELSE 0 END) "
            "FROM rollouts r LEFT JOIN rollout_targets t ON t.rollout = r.id LEFT JOIN commands c ON c.id = t.command "
            + where + "GROUP BY r.id, r.created, r.who, r.action, r.description, r.digest, r.targets, "
            "r.max_failures, r.state, r.reason, r.updated ORDER BY r.id DESC LIMIT ?", (*args, limit)).fetchall()
        names = ("id", "created", "who", "action", "description", "digest", "targets", "max_failures", "state",
                 "reason", "updated", "gateways", "successful", "failed")
        out = []
        for row in rows:
            item = dict(zip(names, row, strict=True))
            item["targets"] = json.loads(item["targets"] or "{}")
            item["successful"], item["failed"] = int(item["successful"] or 0), int(item["failed"] or 0)
            out.append(item)
        return out

    def rollout(self, rollout_id: int) -> dict[str, Any] | None:
        found = next(iter(self.rollouts(1, rollout_id)), None)
        if found is None:
            return None
        found["gateways"] = self.rollout_targets(rollout_id)
        return found

    def rollout_targets(self, rollout_id: int) -> list[dict[str, Any]]:
        rows = self.sql.execute(
            "SELECT t.gateway, t.site, t.stage, t.command, t.sent_at, c.state, c.reason, c.updated, g.online "
            "FROM rollout_targets t LEFT JOIN commands c ON c.id = t.command LEFT JOIN gateways g ON g.id = t.gateway "
            "WHERE t.rollout = ? ORDER BY t.stage, t.gateway", (rollout_id,)).fetchall()
        names = ("gateway", "site", "stage", "command", "sent_at", "state", "reason", "updated", "online")
        return [{**dict(zip(names, row, strict=True)), "state": row[5] or "", "reason": row[6] or "",
                 "online": bool(row[8])} for row in rows]

    def running_rollouts(self) -> list[tuple[int, dict[str, Any], int, list[tuple[Target, str]]]]:
        """Each running rollout's payload, failures allowed, and its gateways (with their sites) as the planner
        sees them."""
        out = []
        for rid, payload, allowed in self.sql.execute("SELECT id, payload, max_failures FROM rollouts WHERE "
                                                      "state = 'running' ORDER BY id").fetchall():
            targets = [(Target(t["gateway"], int(t["stage"]), t["state"], t["online"], t["reason"]), t["site"])
                       for t in self.rollout_targets(int(rid))]
            out.append((int(rid), json.loads(payload), int(allowed), targets))
        return out

    def rollout_sent(self, rollout_id: int, gateway: str, command: str) -> None:
        self.sql.execute("UPDATE rollout_targets SET command = ?, sent_at = ? WHERE rollout = ? AND gateway = ?",
                         (command, time.time(), rollout_id, gateway))

    def end_rollout(self, rollout_id: int, state: str, reason: str, who: str) -> bool:
        """Stop (or complete) a running rollout: its commands not yet taken up are cancelled. False: not running."""
        with self.sql.transaction():
            changed = self.sql.execute("UPDATE rollouts SET state = ?, reason = ?, updated = ? WHERE id = ? AND "
                                       "state = 'running'", (state, reason, time.time(), rollout_id)).rowcount
            if not changed:
                return False
            cancelled = self.sql.execute(
                "UPDATE commands SET state = 'cancelled', reason = ?, updated = ? WHERE state = 'init' AND id IN "
                "(SELECT command FROM rollout_targets WHERE rollout = ?)",
                (f"rollout {state}: {reason}"[:500], time.time(), rollout_id)).rowcount
            self.audit(who, f"rollout {state}", f"rollout/{rollout_id}", {"reason": reason, "cancelled": cancelled})
        return True
