"""Users, sessions and the audit trail."""

from __future__ import annotations

import json
import time
from typing import Any

from cloud.store.base import StoreBase

__all__ = ["Accounts"]


class Accounts(StoreBase):
    def users(self) -> dict[str, tuple[str, str]]:
        """Active users: name -> (password hash, role)."""
        return {r["name"]: (r["password_hash"], r["role"]) for r in self._rows("users")
                if not r.get("disabled")}

    def user(self, name: str) -> tuple[str, str] | None:
        row = self.sql.execute("SELECT password_hash, role FROM users WHERE name = ? AND COALESCE(disabled, 0) = 0",
                              (name,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def save_user(self, name: str, password_hash: str, role: str) -> None:
        """Create a user, or change one's role or password: that ends every session it had."""
        with self.sql.transaction():
            self._upsert("users", {"name": name, "password_hash": password_hash, "role": role,
                                           "disabled": 0}, pk=("name",))
            self.sql.execute('DELETE FROM sessions WHERE "user" = ?', (name,))

    def disable_user(self, name: str, disabled: bool = True) -> bool:
        """Disable (or enable again) a user; a disabled user's sessions end at once."""
        with self.sql.transaction():
            changed = self.sql.execute("UPDATE users SET disabled = ? WHERE name = ?", (int(disabled), name)).rowcount
            self.sql.execute('DELETE FROM sessions WHERE "user" = ?', (name,))
        return bool(changed)

    def user_list(self) -> list[dict[str, Any]]:
        """Every user with role and state, by name (never a password hash)."""
        return [{"name": r["name"], "role": r["role"], "disabled": bool(r["disabled"])}
                for r in self._rows("users", select="name, role, disabled", order_by="name")]

    def active_admins(self) -> list[str]:
        return [str(r[0]) for r in self.sql.execute(
            "SELECT name FROM users WHERE role = 'admin' AND COALESCE(disabled, 0) = 0")]

    def save_session(self, digest: str, user: str, role: str, csrf: str, expires: float) -> None:
        """A signed-in session (by the digest of its token only); expired ones are dropped on the way."""
        with self.sql.transaction():
            self.sql.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            self._insert("sessions", {"digest": digest, "user": user, "role": role, "csrf": csrf,
                                              "expires": expires})

    def session(self, digest: str) -> tuple[str, str, str, float] | None:
        """A session, only while its user is active with the role it signed in with."""
        row = self.sql.execute('SELECT s."user", s.role, s.csrf, s.expires FROM sessions s JOIN users u '
                              'ON u.name = s."user" AND u.role = s.role AND COALESCE(u.disabled, 0) = 0 '
                              "WHERE s.digest = ?",
                              (digest,)).fetchone()
        return (row[0], row[1], row[2], float(row[3])) if row else None

    def delete_session(self, digest: str) -> None:
        with self.sql.transaction():
            self.sql.execute("DELETE FROM sessions WHERE digest = ?", (digest,))

    def audit(self, who: str, action: str, target: str, details: dict[str, Any] | None = None) -> None:
        with self.sql.transaction():
            self._insert("audit", {"at": time.time(), "who": who, "action": action, "target": target,
                                           "details": json.dumps(details or {}, default=str)})

    def audit_log(self, limit: int = 100, *, who: str = "", action: str = "", text: str = "",
                  since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
        """The audit trail, newest first, narrowed by who, action (exact), a time range and a text found in
        who did it, the target or the details."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        for column, value in (("who", who), ("action", action)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if text:
            where.append("(who LIKE ? OR target LIKE ? OR details LIKE ?)")
            args += [f"%{text}%"] * 3
        if since is not None:
            where.append("at >= ?")
            args.append(since)
        if until is not None:
            where.append("at < ?")
            args.append(until)
        return list(self._rows("audit", " AND ".join(where), args, order_by="id desc", limit=limit))
