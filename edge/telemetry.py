"""Readings, reported on change: a value goes up only when it moved past its point's deadband.

Changed values wait in memory for at most `flush_after` seconds and are then committed in one transaction
(a kill -9 loses at most that much telemetry, never an alarm: alarms and events are committed at once).
The flush is a timer armed by the first reading of a batch, not a polling loop; a batch that grows past
`max_batch` is committed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from devices.contract import Reading
from devices.profile import Profile
from edge.outbox import Outbox
from edge.records import RecordMaker

__all__ = ["Telemetry"]

_MISSING = object()


class Telemetry:
    def __init__(self, outbox: Outbox, records: RecordMaker, profile_of: Mapping[str, Profile], *,
                 on_stored: Callable[[], None] = lambda: None, flush_after: float = 1.0,
                 max_batch: int = 5000) -> None:
        self.outbox = outbox
        self.records = records
        self.profile_of = profile_of  # device -> profile, for deadbands
        self.on_stored = on_stored
        self.flush_after = flush_after
        self.max_batch = max_batch
        self._reported: dict[str, dict[str, Any]] = {}
        self._pending: list[Reading] = []
        self._timer: asyncio.TimerHandle | None = None

    def observe(self, device: str, values: Mapping[str, Any]) -> None:
        changed = self._changed(device, values)
        if not changed:
            return
        self._pending.append(self.records.reading(device, changed))
        if len(self._pending) >= self.max_batch:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_after, self.flush)

    def forget(self, device: str) -> None:
        """Report every value of this device afresh (it was offline)."""
        self._reported.pop(device, None)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self.outbox.append_many(batch)
            self.on_stored()

    def _changed(self, device: str, values: Mapping[str, Any]) -> dict[str, Any]:
        last = self._reported.setdefault(device, {})
        profile = self.profile_of[device]
        changed = {}
        for name, value in values.items():
            old = last.get(name, _MISSING)
            if old is not _MISSING and _within_deadband(profile, name, old, value):
                continue
            last[name] = value
            changed[name] = value
        return changed


def _within_deadband(profile: Profile, name: str, old: Any, new: Any) -> bool:
    if old == new:
        return True
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(new, bool):
        try:
            deadband = profile.point(name).deadband
        except KeyError:
            return False
        return abs(new - old) < deadband
    return False
