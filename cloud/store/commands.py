"""Commands for gateways: durable until taken up or expired."""

from __future__ import annotations

import json
import time
from typing import Any

from cloud.store.base import StoreBase

__all__ = ["Commands"]


class Commands(StoreBase):
    def add_command(self, command: dict[str, Any], site: str, gateway: str, who: str, expires: float) -> None:
        with self.sql.transaction():
            now = time.time()
            self._insert("commands", {"id": command["id"], "site": site, "gateway": gateway,
                                              "action": command["action"], "payload": json.dumps(command, default=str),
                                              "state": "init", "reason": "", "who": who, "created": now,
                                              "updated": now, "expires": expires})

    def pending_commands(self, gateway: str, now: float) -> list[tuple[dict[str, Any], float]]:
        """Commands for a gateway not yet taken up and not expired, oldest first, with their expiry; those
        past their expiry are marked `expired` on the way (never sent late)."""
        with self.sql.transaction():
            self.sql.execute("UPDATE commands SET state = 'expired', reason = 'the gateway did not take it up in '"
                            "|| 'time', updated = ? WHERE gateway = ? AND state = 'init' AND expires <= ?",
                            (now, gateway, now))
        rows = self.sql.execute("SELECT payload, expires FROM commands WHERE gateway = ? AND state = 'init' "
                               "AND expires > ? ORDER BY created", (gateway, now)).fetchall()
        return [(json.loads(payload), float(expires)) for payload, expires in rows]

    def expire_commands(self, now: float) -> int:
        with self.sql.transaction():
            return int(self.sql.execute("UPDATE commands SET state = 'expired', reason = 'the gateway did not take '"
                                       "|| 'it up in time', updated = ? WHERE state = 'init' AND expires <= ?",
                                       (now, now)).rowcount)

    def command(self, command_id: str) -> dict[str, Any] | None:
        rows = list(self._rows("commands", "id = ?", [command_id]))
        return rows[0] if rows else None
