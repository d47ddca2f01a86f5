"""Records sent and not yet acknowledged by the collector. Pure: times are passed in.

A record stays in the outbox until an ack names it. One sent and not acknowledged within `resend_after`
seconds is forgotten here, so the next drain sends it again (the collector skips ids it has). At most
`limit` records are in flight: past that the uplink waits for acks instead of flooding a collector that
is slow or gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Inflight"]


class Inflight:
    def __init__(self, *, resend_after: float = 10.0, limit: int = 4000) -> None:
        self.resend_after = resend_after
        self.limit = limit
        self._sent: dict[int, float] = {}  # outbox row -> when it was sent

    @property
    def rows(self) -> Mapping[int, float]:
        """What the next batch must skip."""
        return self._sent

    def room(self) -> int:
        """How many more records may be sent before acks come back."""
        return max(0, self.limit - len(self._sent))

    def sent(self, rows: Iterable[int], at: float) -> None:
        for row in rows:
            self._sent[row] = at

    def acked(self, row: int) -> None:
        self._sent.pop(row, None)

    def expire(self, now: float) -> int:
        """Forget what waited too long for its ack (it will be sent again); returns how many."""
        late = [row for row, at in self._sent.items() if now - at > self.resend_after]
        for row in late:
            del self._sent[row]
        return len(late)

    def clear(self) -> None:
        """A new connection: everything unacknowledged goes again."""
        self._sent.clear()
