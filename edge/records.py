"""The agent's records, built as the contract's types (devices.contract) and stamped once, here.

Every record carries the site and the time as DESIGN section 5 asks (wall, monotonic, trusted, and which
monotonic clock). Its `id` is the outbox's to give (`{outbox id}:{row}`, when it is stored), so records
are made with `UNASSIGNED` and the outbox fills it in; nothing else ever leaves it empty, and the
collector refuses an empty id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, cast

from devices.contract import (
    ALARM_CLASSES,
    ATTACHMENT_CHUNK,
    Alarm,
    AlarmClass,
    Attachment,
    CommandState,
    CommandStep,
    Event,
    Reading,
)
from edge.clock import SYSTEM_BOOT, Clock

__all__ = ["UNASSIGNED", "RecordMaker"]

UNASSIGNED = ""


class RecordMaker:
    def __init__(self, site: str, clock: Clock) -> None:
        self.site = site
        self.clock = clock

    def stamp(self) -> dict[str, Any]:
        stamp = self.clock.stamp()
        return {"id": UNASSIGNED, "site": self.site, "t": round(stamp.wall, 3), "mono": round(stamp.mono, 3),
                "trusted": stamp.trusted, "clk": SYSTEM_BOOT}

    def alarm(self, *, key: str, device: str, rule: str, cls: str, severity: int, active: bool, value: Any,
              text: str) -> Alarm:
        if cls not in ALARM_CLASSES:  # profiles are checked at load; this is the last word before the wire
            raise ValueError(f"no alarm class {cls!r}")
        return Alarm(key=key, device=device, rule=rule, cls=cast(AlarmClass, cls), severity=severity,
                     state="active" if active else "cleared", value=value, text=text, **self.stamp())

    def event(self, device: str, kind: str, details: Mapping[str, Any]) -> Event:
        return Event(device=device, kind=kind, details=dict(details), **self.stamp())

    def command_state(self, command: str, state: CommandStep, reason: str = "") -> CommandState:
        return CommandState(command=command, state=state, reason=reason, **self.stamp())

    def reading(self, device: str, values: Mapping[str, Any]) -> Reading:
        return Reading(device=device, values=dict(values), **self.stamp())

    def attachment(self, body: bytes, *, key: str, device: str, channel: int, ref: str, media: str,
                   command: str = "") -> list[Attachment]:
        """A picture or a log bundle as chunks under the payload limit, each naming the whole (size, SHA-256)."""
        digest = hashlib.sha256(body).hexdigest()
        pieces = [body[i:i + ATTACHMENT_CHUNK] for i in range(0, len(body), ATTACHMENT_CHUNK)]
        taken = round(self.clock.wall(), 3)
        return [Attachment(key=key, device=device, channel=channel, ref=ref, media=cast(Any, media), part=n,
                           parts=len(pieces), size=len(body), sha256=digest, data=piece, taken=taken,
                           command=command, **self.stamp()) for n, piece in enumerate(pieces)]
