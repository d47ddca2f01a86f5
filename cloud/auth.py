"""Users, roles, password hashing and sessions for the collector's HTTP API.

Passwords are hashed with scrypt (memory-hard, in the standard library): 16 MiB and a random salt per
user. A login gets a session token (a random 32-byte value; only its SHA-256 is stored) and a CSRF
token. Browsers carry the session in an HttpOnly, SameSite=Strict cookie and must echo the CSRF token
in `X-CSRF-Token` on every write; API clients send `Authorization: Bearer <token>` instead (no ambient
credential, so no CSRF check). Failed logins are limited per user name: 5 in 5 minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cloud.store import Store

__all__ = ["PERMISSIONS", "ROLES", "Auth", "Session", "may"]

ROLES: Final = ("duty_officer", "maintenance", "district_viewer", "admin")
# What each write needs. Reads are open to every signed-in role.
PERMISSIONS: Final = {
    "alarm.handle": ("duty_officer", "admin"),
    "alarm.silence": ("duty_officer", "admin"),
    "command.send": ("duty_officer", "admin"),
    "ticket.handle": ("maintenance", "admin"),
    "user.manage": ("admin",),
}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024}
SESSION_S = 12 * 3600
FAILED_LOGINS_ALLOWED, FAILED_LOGIN_WINDOW_S = 5, 300.0


def may(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, ())


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hash_password(password, bytes.fromhex(salt_hex)).split("$")[2]
    return hmac.compare_digest(candidate, digest_hex)


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    csrf: str
    expires: float


class Auth:
    """Users and sessions live in the store: a restarted collector (or a second one on the same store)
    keeps everyone signed in, so a duty console reconnects by itself after a restart."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.users: dict[str, tuple[str, str]] = store.users()  # name -> (password hash, role)
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def add_user(self, name: str, password: str, role: str) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise ValueError("a password needs at least 8 characters")
        self.users[name] = (hash_password(password), role)
        self.store.save_user(name, *self.users[name])

    def login(self, name: str, password: str, now: float | None = None) -> tuple[str, Session]:
        """(token, session); PermissionError with a reason when refused or rate limited."""
        now = time.time() if now is None else now
        recent = self._failures[name]
        while recent and now - recent[0] > FAILED_LOGIN_WINDOW_S:
            recent.popleft()
        if len(recent) >= FAILED_LOGINS_ALLOWED:
            raise PermissionError("too many failed logins: try again in a few minutes")
        user = self.users.get(name)
        if user is None or not check_password(password, user[0]):
            recent.append(now)
            raise PermissionError("wrong user name or password")
        recent.clear()
        token = secrets.token_urlsafe(32)
        session = Session(user=name, role=user[1], csrf=secrets.token_urlsafe(16), expires=now + SESSION_S)
        self.store.save_session(_digest(token), name, user[1], session.csrf, session.expires)
        return token, session

    def session(self, token: str | None, now: float | None = None) -> Session | None:
        if not token:
            return None
        found = self.store.session(_digest(token))  # not cached: a sign-out on any collector counts at once
        if found is None:
            return None
        session = Session(*found)
        if session.expires < (time.time() if now is None else now):
            return None
        return session

    def logout(self, token: str) -> None:
        self.store.delete_session(_digest(token))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
