"""Whether the collector can be reached, as a site fault: raised when the link has been down for
`fault_after` seconds (DESIGN target 30 s, the standard's 100 s), cleared when it is back. Pure: the
agent feeds it the link's state and the time, and asks when to look again.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["LinkSupervisor"]


class LinkSupervisor:
    def __init__(self, fault_after: float) -> None:
        self.fault_after = fault_after
        self.lost_since: float | None = None
        self.fault = False

    def update(self, link_ok: bool, now: float) -> Literal["active", "cleared"] | None:
        """The link's state now; returns the fault's change, if any."""
        if link_ok:
            self.lost_since = None
            if self.fault:
                self.fault = False
                return "cleared"
            return None
        if self.lost_since is None:
            self.lost_since = now
        if not self.fault and now - self.lost_since >= self.fault_after:
            self.fault = True
            return "active"
        return None

    def due_in(self, now: float) -> float | None:
        """Seconds until the fault is due if nothing changes (None: nothing is due)."""
        if self.lost_since is None or self.fault:
            return None
        return max(0.0, self.lost_since + self.fault_after - now)
