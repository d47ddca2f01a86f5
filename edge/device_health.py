"""Whether a device answers: online, missing (parked with backoff), offline. Pure; time is passed in.

A device that misses a poll is parked: it is skipped until its backoff expires (0.5 s, 1 s, 2 s, capped
at `max_backoff`), so a dead detector costs its line one timeout every few seconds instead of one per
poll. After `offline_after` misses in a row it is reported offline, once; its first answer after that
reports it online again, once. `transition` is what changed with this observation, or None.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DeviceHealth"]


@dataclass
class DeviceHealth:
    offline_after: int = 3
    first_backoff: float = 0.5
    max_backoff: float = 4.0
    misses: int = 0
    online: bool = True
    parked_until: float = 0.0
    reason: str = ""
    answered: int = 0
    missed: int = 0

    def available(self, now: float) -> bool:
        return now >= self.parked_until

    def answered_at(self, now: float) -> str | None:
        self.answered += 1
        self.misses = 0
        self.parked_until = 0.0
        if not self.online:
            self.online = True
            self.reason = ""
            return "online"
        return None

    def missed_at(self, now: float, reason: str) -> str | None:
        self.missed += 1
        self.misses += 1
        self.reason = reason
        self.parked_until = now + min(self.max_backoff, self.first_backoff * 2 ** (self.misses - 1))
        if self.online and self.misses >= self.offline_after:
            self.online = False
            return "offline"
        return None
