"""Slowing password guessing without locking the real user out. Pure: times are passed in.

Two counts of recent failed logins (10-minute window):

- per client address: after 5 failures an address must wait before its next attempt, twice as long
  after each further failure (1 s, 2 s, 4 s ... at most 5 min). Guessing from one place slows to a crawl,
  and unknown user names count as much as known ones.
- per user name: never a refusal, only a growing delay before the answer (at most 3 s), so that many
  addresses guessing one name gain little, while the real duty officer, from their own address, always
  gets in with the right password. (A lock per name would let anyone lock the duty officer out: five
  wrong passwords for `duty` from anywhere did exactly that.)

Both tables are bounded: the oldest entries go first.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["LoginThrottle"]

WINDOW_S: Final = 600.0
FREE_FAILURES: Final = 5
MAX_WAIT_S: Final = 300.0
MAX_NAME_DELAY_S: Final = 3.0
MAX_KEYS: Final = 10_000


@dataclass
class LoginThrottle:
    by_address: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    by_name: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def wait_for(self, address: str, now: float) -> float:
        """Seconds this address must still wait before it may try again (0: it may)."""
        recent = self._recent(self.by_address, address, now)
        if len(recent) < FREE_FAILURES:
            return 0.0
        wait = min(MAX_WAIT_S, 2.0 ** (len(recent) - FREE_FAILURES))
        return max(0.0, recent[-1] + wait - now)

    def name_delay(self, name: str, now: float) -> float:
        """How long to hold the answer for this user name (a slowdown, never a refusal)."""
        recent = self._recent(self.by_name, name, now)
        if len(recent) < FREE_FAILURES:
            return 0.0
        return float(min(MAX_NAME_DELAY_S, 0.25 * 2.0 ** (len(recent) - FREE_FAILURES)))

    def failed(self, address: str, name: str, now: float) -> int:
        """Count a failure; returns how many this address has in the window."""
        for table, key in ((self.by_address, address), (self.by_name, name)):
            self._recent(table, key, now).append(now)
            table.move_to_end(key)
            while len(table) > MAX_KEYS:
                table.popitem(last=False)
        return len(self.by_address[address])

    def succeeded(self, address: str) -> None:
        self.by_address.pop(address, None)  # the name's count stays: others may still be guessing it

    @staticmethod
    def _recent(table: OrderedDict[str, deque[float]], key: str, now: float) -> deque[float]:
        recent = table.setdefault(key, deque())
        while recent and now - recent[0] > WINDOW_S:
            recent.popleft()
        return recent
