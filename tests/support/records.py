"""Records and births for tests of the store, checked exactly as ingest checks them off the wire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from devices.contract import Alarm, Birth, Event, Reading, Record, as_birth, as_record
from edge.clock import FakeClock
from edge.records import RecordMaker

__all__ = ["checked", "checked_birth", "new_alarm", "new_event", "new_reading"]

_DEFAULTS: dict[str, dict[str, Any]] = {
    "alarm": {"severity": 3, "device": "", "rule": ""},
    "event": {"details": {}},
    "command": {"reason": ""},
    "reading": {},
}


def checked(records: Iterable[Mapping[str, Any]], site: str = "s1") -> list[Record]:
    """Typed records from test dicts; a test leaves out what it does not care about (site, times)."""
    out = []
    for rec in records:
        full = {"site": site, "t": 1_800_000_000.0, "mono": 1.0, "trusted": True,
                **_DEFAULTS.get(str(rec.get("type")), {}), **rec}
        out.append(as_record(full))
    return out


def checked_birth(fields: Mapping[str, Any]) -> Birth:
    return as_birth(dict(fields))


_MAKER = RecordMaker("s1", FakeClock())


def new_alarm(key: str = "d1/smoke", *, cls: str = "fire", active: bool = True, device: str = "d1") -> Alarm:
    """A record as the agent makes it, before the outbox gives it an id."""
    return _MAKER.alarm(key=key, device=device, rule=key.rsplit("/", 1)[-1], cls=cls, severity=1, active=active,
                        value=True, text="")


def new_event(kind: str = "action", *, device: str = "d1", **details: Any) -> Event:
    return _MAKER.event(device, kind, details)


def new_reading(device: str = "d1", t: float | None = None, **values: Any) -> Reading:
    reading = _MAKER.reading(device, values)
    return reading if t is None else msgspec.structs.replace(reading, t=t)
