"""Records and births for tests of the store, checked exactly as ingest checks them off the wire."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from devices.contract import Birth, Record, as_birth, as_record

__all__ = ["checked", "checked_birth"]

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
