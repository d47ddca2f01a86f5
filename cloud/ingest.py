"""Checking what gateways send, before anything is stored. Pure: a message in, a verdict out.

A message is refused (and counted under the reason) when its topic is not ours, its payload is not a
msgpack map or too large, its fields have the wrong types, the gateway is unknown (unless enrolment is
open), or the gateway publishes for a site that is not its own. Refusals never raise past here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.protocol import MAX_PAYLOAD, ProtocolError, decode, parse_topic

__all__ = ["Ingest", "Verdict"]

_RECORD_TYPES = {"alarms": ("alarm",), "events": ("event", "command"), "telemetry": ("reading",)}
_ALARM_FIELDS = {"key": str, "state": str, "class": str}


@dataclass
class Verdict:
    site: str = ""
    gateway: str = ""
    kind: str = ""
    message: dict[str, Any] = field(default_factory=dict)
    refused: str = ""  # the reason, when refused

    @property
    def ok(self) -> bool:
        return not self.refused


class Ingest:
    def __init__(self, gateways: Mapping[str, str] | None = None, *, open_enrolment: bool = False) -> None:
        self.gateways = dict(gateways or {})  # gateway -> its site, from the inventory
        self.open_enrolment = open_enrolment
        self.refused: Counter[str] = Counter()
        self.accepted = 0

    def check(self, topic: str, payload: bytes) -> Verdict:
        verdict = self._check(topic, payload)
        if verdict.refused:
            self.refused[verdict.refused.split(":", 1)[0]] += 1
        else:
            self.accepted += 1
        return verdict

    def _check(self, topic: str, payload: bytes) -> Verdict:
        try:
            site, gateway, kind = parse_topic(topic)
        except ProtocolError:
            return Verdict(refused="bad topic")
        if kind in ("ack", "command"):
            return Verdict(refused="downlink topic")
        if len(payload) > MAX_PAYLOAD:
            return Verdict(site, gateway, kind, refused=f"oversize: {len(payload)} bytes")
        try:
            message = decode(payload)
        except ProtocolError as exc:
            return Verdict(site, gateway, kind, refused=f"not msgpack: {exc}")
        home = self.gateways.get(gateway)
        if home is None:
            if not self.open_enrolment:
                return Verdict(site, gateway, kind, refused=f"unknown gateway: {gateway}")
            self.gateways[gateway] = site  # enrolled on first sight (open policy: demo and lab only)
        elif home != site:
            return Verdict(site, gateway, kind, refused=f"wrong site: {gateway} belongs to {home}, not {site}")
        problem = _shape_problem(kind, message, site)
        if problem:
            return Verdict(site, gateway, kind, refused=f"bad payload: {problem}")
        return Verdict(site, gateway, kind, message)


def _shape_problem(kind: str, message: dict[str, Any], site: str) -> str:
    if not isinstance(message.get("boot"), str) or not isinstance(message.get("seq", 0), int):
        return "boot must be text and seq a number"
    if kind == "birth":
        if message.get("site", site) != site:
            return "birth names another site than its topic"
        if not isinstance(message.get("devices", []), list):
            return "devices must be a list"
    if kind in _RECORD_TYPES:
        records = message.get("records")
        if not isinstance(records, list):
            return "records must be a list"
        for rec in records:
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                return "every record needs a text id"
            if rec.get("type") not in _RECORD_TYPES[kind]:
                return f"a {rec.get('type')!r} record on the {kind} topic"
            if rec.get("site", site) != site:
                return "a record names another site than its topic"
            if rec["type"] == "alarm":
                for name, type_ in _ALARM_FIELDS.items():
                    if not isinstance(rec.get(name), type_):
                        return f"alarm field {name!r} must be {type_.__name__}"
    return ""
