"""Users, roles, password hashing and sessions for the collector's HTTP API.

Passwords are hashed with scrypt (memory-hard, in the standard library): 16 MiB and a random salt per
user. A login gets a session token (a random 32-byte value; only its SHA-256 is stored) and a CSRF
token. Browsers carry the session in an HttpOnly, SameSite=Strict cookie and must echo the CSRF token
in `X-CSRF-Token` on every write; API clients send `Authorization: Bearer <token>` instead (no ambient
credential, so no CSRF check). Failed logins are slowed per client address and per user name
(cloud.login_throttle), never locking the real user out; a failed login costs the same time whether
the name exists or not. A role change, a password reset or a disabled account ends that user's sessions
(the store drops them, and a session counts only while its user holds the role it signed in with).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from cloud.login_throttle import LoginThrottle

if TYPE_CHECKING:
    from cloud.store import Store

from devices.errors import ActionRefused

__all__ = ["PERMISSIONS", "ROLES", "USER_NAME", "Auth", "LoginRefused", "Session", "may"]

ROLES: Final = ("duty_officer", "maintenance", "district_viewer", "admin")
# What each write needs. Reads are open to every signed-in role.
PERMISSIONS: Final = {
    "alarm.handle": ("duty_officer", "admin"),
    "alarm.silence": ("duty_officer", "admin"),
    "command.send": ("duty_officer", "admin"),
    "ticket.handle": ("maintenance", "admin"),
    "duty.record": ("duty_officer", "admin"),  # write and accept handovers, answer duty checks
    "duty.check": ("admin",),  # send a duty check
    "plan.edit": ("admin",),  # upload floor plans, place devices on them
    "logs.fetch": ("maintenance", "admin"),  # ask a gateway for its log lines, read them
    "fleet.rollout": ("admin",),  # roll a configuration set or an agent version out to gateways, stop one
    "user.manage": ("admin",),
}
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "maxmem": 64 * 1024 * 1024}
SESSION_S = 12 * 3600
USER_NAME = re.compile(r"^[\w.@-]{1,64}$")


class LoginRefused(ActionRefused, PermissionError):
    """A refused login; `retry_after` (seconds) when the client must wait, `delay` to hold the answer."""

    def __init__(self, reason: str, *, code: str, retry_after: float = 0.0, delay: float = 0.0) -> None:
        super().__init__(reason, code=code, seconds=round(retry_after))
        self.retry_after, self.delay = retry_after, delay


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
        self.throttle = LoginThrottle()
        self._dummy = hash_password(secrets.token_urlsafe(16))  # checked against for unknown names

    @property
    def users(self) -> dict[str, tuple[str, str]]:
        return self.store.users()

    def add_user(self, name: str, password: str, role: str) -> None:
        """Create a user or reset one (new password or role): its open sessions end."""
        if not USER_NAME.match(name):
            raise ValueError("a user name is 1 to 64 letters, digits and . _ @ -")
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not 8 <= len(password) <= 256:
            raise ValueError("a password has 8 to 256 characters")
        self.store.save_user(name, hash_password(password), role)

    def set_role(self, name: str, role: str) -> None:
        """A user's new role, password kept; its open sessions end."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        known = self.store.user(name)
        if known is None:
            raise ValueError(f"no user {name}")
        self.store.save_user(name, known[0], role)

    def ensure_user(self, name: str, password: str, role: str) -> None:
        """`--user` at start: create or reset the user, unless it already has that password and role (a
        restart of the collector must not sign everyone out)."""
        known = self.store.user(name)
        if known is not None and known[1] == role and check_password(password, known[0]):
            return
        self.add_user(name, password, role)

    def disable_user(self, name: str, disabled: bool = True) -> bool:
        return self.store.disable_user(name, disabled)

    def login(self, name: str, password: str, address: str = "", now: float | None = None) -> tuple[str, Session]:
        """(token, session); LoginRefused with a reason (and how long to wait) otherwise."""
        now = time.time() if now is None else now
        wait = self.throttle.wait_for(address, now)
        if wait > 0:
            raise LoginRefused(f"too many failed logins from this address: try again in {wait:.0f} s",
                               code="login_throttled", retry_after=wait)
        user = self.store.user(name) if USER_NAME.match(name) else None
        # the same scrypt work whether or not the name exists: timing tells an attacker nothing
        good = check_password(password[:256], user[0] if user else self._dummy) and user is not None
        if not good:
            delay = self.throttle.name_delay(name, now)
            self.throttle.failed(address, name[:64], now)
            raise LoginRefused("wrong user name or password", code="login_wrong", delay=delay)
        assert user is not None
        self.throttle.succeeded(address)
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
