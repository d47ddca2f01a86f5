"""Fault injection: what a misbehaving device does instead of answering properly. Pure.

Every fault kind a field technician meets on an RS-485 line or a flaky LAN:

    no_reply        silence (a dead or unpowered device)
    slow_reply      answers after `delay_ms` (a busy or sleepy MCU; beyond the master's timeout = silence)
    bad_crc         answers with a corrupted CRC / checksum (line noise, a bad termination)
    garbage         sends `length` random bytes instead of an answer
    exception       answers with Modbus exception `code` (default 6, slave busy)
    wrong_slave_id  answers as another unit id (a mis-addressed or cross-wired device)
    flapping        alternates answering and silence every `period_s` seconds

`rate` (0..1, default 1) makes a fault hit only that share of requests.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FAULT_KINDS", "Fault", "FaultSet", "parse_fault"]

FAULT_KINDS = ("no_reply", "slow_reply", "bad_crc", "garbage", "exception", "wrong_slave_id", "flapping")


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str
    delay_ms: int = 800
    code: int = 6
    length: int = 12
    period_s: float = 5.0
    rate: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_fault(data: Any) -> Fault:
    """A fault from a JSON/YAML mapping; ValueError with a readable reason when it is wrong."""
    if not isinstance(data, dict):
        raise ValueError("a fault is an object with a 'kind'")
    unknown = set(data) - {"kind", "delay_ms", "code", "length", "period_s", "rate"}
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    kind = data.get("kind")
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    fault = Fault(kind=kind, delay_ms=int(data.get("delay_ms", 800)), code=int(data.get("code", 6)),
                  length=int(data.get("length", 12)), period_s=float(data.get("period_s", 5.0)),
                  rate=float(data.get("rate", 1.0)))
    if not 0 <= fault.delay_ms <= 60_000 or not 1 <= fault.code <= 255 or not 1 <= fault.length <= 256:
        raise ValueError("delay_ms 0..60000, code 1..255, length 1..256")
    if not 0 < fault.period_s <= 3600 or not 0 <= fault.rate <= 1:
        raise ValueError("period_s 0..3600 (exclusive of 0), rate 0..1")
    return fault


class FaultSet:
    """The faults active on one device, at most one of each kind."""

    def __init__(self, seed: int = 0) -> None:
        self._faults: dict[str, Fault] = {}
        self._rng = random.Random(seed)
        self.since: dict[str, float] = {}

    def add(self, fault: Fault, now: float) -> None:
        self._faults[fault.kind] = fault
        self.since[fault.kind] = now

    def clear(self, kind: str | None = None) -> None:
        if kind is None:
            self._faults.clear()
            self.since.clear()
        else:
            self._faults.pop(kind, None)
            self.since.pop(kind, None)

    def active(self) -> list[Fault]:
        return list(self._faults.values())

    def hits(self, kind: str) -> Fault | None:
        """The fault of `kind` if it strikes this request (rate applied), else None."""
        fault = self._faults.get(kind)
        if fault is None or (fault.rate < 1.0 and self._rng.random() >= fault.rate):
            return None
        return fault

    def silent(self, now: float) -> bool:
        """True when this request gets no answer at all (no_reply, or the off half of flapping)."""
        if self.hits("no_reply"):
            return True
        flap = self._faults.get("flapping")
        if flap is not None:
            phase = int((now - self.since["flapping"]) / flap.period_s)
            return phase % 2 == 1
        return False

    def random_bytes(self, n: int) -> bytes:
        return bytes(self._rng.randrange(256) for _ in range(n))
