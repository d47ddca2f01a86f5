"""End-to-end authentication of what the cloud sends to gateways: commands, acks, the collector's state.

The one module that imports `cryptography`. Whatever the broker's ACL does, a gateway believes only what
the collector signed (DESIGN section 11). The collector holds an Ed25519 private key; every gateway holds
only the public key, so a gateway's SD card, once stolen, lets no one forge anything.

A sealed downlink message is a msgpack map `{v: 1, kid, signed, sig}`; `signed` is itself msgpack:

    {kind: "ack" | "command" | "state", gw: gateway id (or "*" for the collector state, which every
     gateway reads), iat: issued (collector's wall time), exp: expiry, nonce: random, body: {...}}

`sig` is the Ed25519 signature of the `signed` bytes. A gateway opens a message only if the signature is
good under one of its trusted keys (several during a key rotation), the kind is what the topic carries,
`gw` is its own id, it has not expired and its nonce was not seen before. The collector state is re-sent
(retained) often, and a newer one replaces an older one: for it, `iat` must not go backwards, and the
same retained message delivered again after a reconnect is the current state, not a replay.

Time. A Pi may boot with a wrong clock. While its clock is not trusted, the gateway measures expiry on
the collector's clock instead: the `iat` of the last state it accepted plus the monotonic time since.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgpack
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from devices.errors import MessageError
from devices.protocol import ProtocolError, decode

__all__ = ["BROADCAST", "KINDS", "DownlinkRefused", "Signer", "TrustedKeys", "Verifier", "generate_keys", "key_id",
           "load_public_keys"]

KINDS: Final = ("ack", "command", "state")
BROADCAST: Final = "*"
TTL: Final = {"ack": 120.0, "command": 300.0, "state": 120.0}
TrustedKeys = Mapping[str, Ed25519PublicKey]  # key id -> the collector's public key
MAX_SEEN: Final = 50_000  # nonces remembered until they expire; past this the oldest are forgotten


class DownlinkRefused(MessageError, ValueError):
    """A downlink message the gateway will not act on; the text says why (unsigned, expired, replayed...)."""


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:12]


def generate_keys(folder: Path, name: str = "collector-signing") -> tuple[Path, Path]:
    """A new key pair: `NAME.key` (private, mode 0600, for the collector) and `NAME.pub` (for gateways)."""
    folder.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    key_path, pub_path = folder / f"{name}.key", folder / f"{name}.pub"
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    pub_path.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_path, pub_path


def load_public_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Trusted collector keys by key id; ValueError with the file for anything that is not one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            public = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a collector public key ({exc})") from None
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError(f"{path}: not an Ed25519 public key")
        keys[key_id(public)] = public
    return keys


class Signer:
    """The collector's side: seal a downlink message for one gateway (or `*`)."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.kid = key_id(self.public)

    @classmethod
    def from_file(cls, path: Path) -> Signer:
        try:
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a signing key ({exc})") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return cls(private)

    def seal(self, kind: str, gateway: str, body: Mapping[str, Any], *, ttl: float | None = None,
             now: float | None = None) -> bytes:
        if kind not in KINDS:
            raise ValueError(f"unknown downlink kind {kind!r}")
        issued = time.time() if now is None else now
        signed = msgpack.packb({"kind": kind, "gw": gateway, "iat": issued, "exp": issued + (ttl or TTL[kind]),
                                "nonce": secrets.token_hex(12), "body": dict(body)}, use_bin_type=True)
        data: bytes = msgpack.packb({"v": 1, "kid": self.kid, "signed": signed, "sig": self._private.sign(signed)},
                                    use_bin_type=True)
        return data


@dataclass
class Verifier:
    """A gateway's side: open what the collector sealed, or refuse it with the reason."""

    keys: TrustedKeys
    gateway: str
    _seen: dict[str, float] = field(default_factory=dict)  # nonce -> expiry
    _state_iat: float = 0.0
    _state_nonce: str = ""
    _reference: tuple[float, float] | None = None  # (collector time, our monotonic time) at the last state
    state_expires: float = 0.0  # when the collector state in force runs out unless renewed

    def state_expired(self, wall: float | None = None, trusted: bool = True, mono: float | None = None) -> bool:
        now = self.now(time.time() if wall is None else wall, trusted, time.monotonic() if mono is None else mono)
        return now is not None and now > self.state_expires

    def now(self, wall: float, trusted: bool, mono: float) -> float | None:
        """The time to judge expiry by: ours when trusted, else the collector's as last seen (or None)."""
        if trusted:
            return wall
        if self._reference is None:
            return None
        collector_time, at = self._reference
        return collector_time + (mono - at)

    def open(self, kind: str, payload: bytes, *, wall: float | None = None, trusted: bool = True,
             mono: float | None = None) -> dict[str, Any]:
        wall = time.time() if wall is None else wall
        mono = time.monotonic() if mono is None else mono
        envelope = _unpack(payload, "message")
        signed, sig, kid = envelope.get("signed"), envelope.get("sig"), envelope.get("kid")
        if not isinstance(signed, bytes) or not isinstance(sig, bytes):
            raise DownlinkRefused("unsigned")
        public = self.keys.get(kid) if isinstance(kid, str) else None
        if public is None:
            raise DownlinkRefused(f"signed with an unknown key {kid!r}")
        try:
            public.verify(sig, signed)
        except InvalidSignature:
            raise DownlinkRefused("bad signature") from None
        inner = _unpack(signed, "signed part")
        if inner.get("kind") != kind:
            raise DownlinkRefused(f"a {inner.get('kind')!r} message on the {kind} topic")
        if inner.get("gw") != (BROADCAST if kind == "state" else self.gateway):
            raise DownlinkRefused(f"meant for gateway {inner.get('gw')!r}")
        nonce, body = inner.get("nonce"), inner.get("body")
        if not _number(inner.get("iat")) or not _number(inner.get("exp")) or not isinstance(nonce, str) \
                or not isinstance(body, dict):
            raise DownlinkRefused("malformed signed part")
        iat, exp = float(inner["iat"]), float(inner["exp"])
        now = self.now(wall, trusted, mono)
        if now is not None and now > exp:
            raise DownlinkRefused(f"expired {now - exp:.0f} s ago")
        if kind == "state":
            if nonce == self._state_nonce:
                return body  # the retained state delivered again: still the current one
            if iat < self._state_iat:
                raise DownlinkRefused("an older collector state than the one in force (replayed)")
            self._state_iat, self._state_nonce, self._reference = iat, nonce, (iat, mono)
            self.state_expires = exp
            return body
        if nonce in self._seen:
            raise DownlinkRefused("replayed")
        self._remember(nonce, exp, now)
        return body

    def _remember(self, nonce: str, exp: float, now: float | None) -> None:
        if now is not None and len(self._seen) >= 1000:
            for old in [n for n, e in self._seen.items() if e < now]:
                del self._seen[old]
        while len(self._seen) >= MAX_SEEN:
            del self._seen[next(iter(self._seen))]
        self._seen[nonce] = exp


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _unpack(data: bytes, what: str) -> dict[str, Any]:
    try:
        return decode(data)
    except ProtocolError as exc:
        raise DownlinkRefused(f"{what}: {exc}") from None
