"""Checking what gateways send, before anything is stored. Pure: a message in, a verdict out.

A whole message is refused (and counted under the reason) when its topic is not ours, its payload is
too large or does not fit the contract (devices.contract: every field typed, ranged and sized), the
gateway is unknown (unless enrolment is open), or the gateway publishes for a site that is not its own.

In a batch of records each record is checked on its own: the good ones go on to the store, a bad one is
set aside as a *reject* with its raw bytes and the reason, so that one bad record neither blocks its
neighbours nor comes back forever (its id, when it has one, is acknowledged with the rest).
Refusals never raise past here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.contract import (
    Batch,
    Birth,
    ContractError,
    Death,
    Heartbeat,
    MalformedPayload,
    Record,
    decode_message,
    decode_record,
    record_id_of,
)
from devices.protocol import MAX_PAYLOAD, ProtocolError, parse_topic

__all__ = ["Ingest", "Reject", "Verdict"]

Message = Birth | Death | Heartbeat | Batch


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that did not fit the contract: kept for inspection, acknowledged when it has an id."""

    record_id: str | None
    raw: bytes
    reason: str


@dataclass
class Verdict:
    site: str = ""
    gateway: str = ""
    kind: str = ""
    message: Message | None = None
    records: list[Record] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    refused: str = ""  # the reason the whole message was refused
    known_gateway: bool = False  # the refusal came from an enrolled gateway on its own site: worth keeping

    @property
    def ok(self) -> bool:
        return not self.refused


class Ingest:
    def __init__(self, gateways: Mapping[str, str] | None = None, *, open_enrolment: bool = False) -> None:
        self.gateways = dict(gateways or {})  # gateway -> its site, from the inventory
        self.open_enrolment = open_enrolment
        self.refused: Counter[str] = Counter()
        self.rejected_records = 0
        self.accepted = 0

    def check(self, topic: str, payload: bytes) -> Verdict:
        verdict = self._check(topic, payload)
        if verdict.refused:
            self.refused[verdict.refused.split(":", 1)[0]] += 1
        else:
            self.accepted += 1
            self.rejected_records += len(verdict.rejects)
        return verdict

    def _check(self, topic: str, payload: bytes) -> Verdict:
        try:
            site, gateway, kind = parse_topic(topic)
        except ProtocolError:
            return Verdict(refused="bad topic")
        if kind in ("ack", "command"):
            return Verdict(refused="downlink topic")
        home = self.gateways.get(gateway)
        if home is None and not self.open_enrolment:
            return Verdict(site, gateway, kind, refused=f"unknown gateway: {gateway}")
        if home is not None and home != site:
            return Verdict(site, gateway, kind, refused=f"wrong site: {gateway} belongs to {home}, not {site}")
        known = home is not None
        if len(payload) > MAX_PAYLOAD:
            return Verdict(site, gateway, kind, refused=f"oversize: {len(payload)} bytes", known_gateway=known)
        try:
            message = decode_message(kind, payload)
        except MalformedPayload as exc:
            return Verdict(site, gateway, kind, refused=f"not msgpack: {exc}", known_gateway=known)
        except ContractError as exc:
            return Verdict(site, gateway, kind, refused=f"bad payload: {exc}", known_gateway=known)
        if isinstance(message, Birth) and message.site and message.site != site:
            return Verdict(site, gateway, kind, refused="bad payload: birth names another site than its topic",
                           known_gateway=known)
        if home is None:
            self.gateways[gateway] = site  # enrolled on first sight (open policy: demo and lab only)
        verdict = Verdict(site, gateway, kind, message, known_gateway=True)
        if isinstance(message, Batch):
            for raw in message.records:
                try:
                    record = decode_record(raw, kind)
                except ContractError as exc:
                    verdict.rejects.append(Reject(record_id_of(raw), bytes(raw), str(exc)))
                    continue
                if record.site != site:
                    verdict.rejects.append(Reject(record.id, bytes(raw), "a record names another site than its topic"))
                    continue
                verdict.records.append(record)
        return verdict
