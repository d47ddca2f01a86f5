"""Signatures between the collector and notification providers. Pure; imported by the collector (cloud) and
the provider simulator (simulators), so both sides compute them the same way.

- SMS and voice providers: each request and each callback carries `X-FF-Key-Id`, `X-FF-Timestamp` (Unix
  seconds) and `X-FF-Signature`, base64 of HMAC-SHA256(secret, "{timestamp}\\n{body}"), the way Chinese
  SMS and voice platforms sign their API calls and their status reports; a receiver refuses a signature
  that is wrong or more than five minutes old.
- DingTalk group robots ("加签"): `timestamp` (ms) and `sign`, base64 of HMAC-SHA256(secret,
  "{timestamp}\\n{secret}"), added to the webhook's query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Final

__all__ = ["MAX_SKEW_S", "dingtalk_sign", "signature", "valid_signature"]

MAX_SKEW_S: Final = 300.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"\n" + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def valid_signature(secret: str, timestamp: str, body: bytes, given: str, now: float) -> bool:
    try:
        fresh = abs(now - float(timestamp)) <= MAX_SKEW_S
    except ValueError:
        return False
    return fresh and bool(secret) and hmac.compare_digest(signature(secret, timestamp, body), given)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()
