"""The MQTT contract between edge agents and collectors: topics, message shapes, msgpack codec. Pure.

Both sides import this module (it lives in `devices`, which both may import) so that a topic or a field
is spelled once. docs/protocol.md is the prose version; tests pin the two together.

Topics, under `ff/v1`:

    ff/v1/{site}/{gateway}/birth      edge -> cloud  full snapshot on every connect            QoS 1
    ff/v1/{site}/{gateway}/death      edge -> cloud  MQTT will, carries the birth's bdseq      QoS 1
    ff/v1/{site}/{gateway}/alarms     edge -> cloud  durable alarm records (first, always)     QoS 1
    ff/v1/{site}/{gateway}/events     edge -> cloud  durable event and command-result records  QoS 1
    ff/v1/{site}/{gateway}/telemetry  edge -> cloud  readings (thinned oldest first offline)    QoS 1
    ff/v1/{site}/{gateway}/attachments edge -> cloud camera pictures for alarms, chunked         QoS 1
    ff/v1/{site}/{gateway}/heartbeat  edge -> cloud  health, every 30 s                        QoS 1
    ff/v1/{site}/{gateway}/ack        cloud -> edge  ids the collector has stored              QoS 1
    ff/v1/{site}/{gateway}/command    cloud -> edge  durable requests (cut a port, rebirth...)  QoS 1
    ff/v1/collector/state             cloud          retained {"online": bool}, will = offline  QoS 1

Every uplink message carries `boot` (random per agent start) and `seq` (per boot, +1 per message), so
a collector sees gaps and asks for a rebirth. Every durable record has an `id` that never repeats
(`{outbox id}:{row}`), so replays are idempotent; the edge deletes a record only when an `ack` names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgpack
import msgspec

from devices.errors import MessageError

__all__ = [
    "COLLECTOR_STATE_TOPIC",
    "LANES",
    "MAX_PAYLOAD",
    "ProtocolError",
    "decode",
    "encode",
    "gateway_topic",
    "parse_topic",
]

PREFIX: Final = "ff/v1"
COLLECTOR_STATE_TOPIC: Final = f"{PREFIX}/collector/state"
UPLINK_KINDS: Final = ("birth", "death", "alarms", "events", "telemetry", "heartbeat", "attachments")
DOWNLINK_KINDS: Final = ("ack", "command")
# Outbox lanes in priority order; the first two are never dropped.
LANES: Final = ("alarm", "event", "attachment", "telemetry")
LANE_TOPIC: Final = {"alarm": "alarms", "event": "events", "attachment": "attachments", "telemetry": "telemetry"}
MAX_PAYLOAD: Final = 256 * 1024
COMMAND_ACTIONS: Final = ("write", "rebirth", "reload_config", "acknowledge", "snapshot", "logs")


class ProtocolError(MessageError, ValueError):
    """A topic or payload that does not follow the contract (counted and dropped by the receiver)."""


def gateway_topic(site: str, gateway: str, kind: str) -> str:
    if kind not in UPLINK_KINDS and kind not in DOWNLINK_KINDS:
        raise ValueError(f"unknown message kind {kind!r}")
    return f"{PREFIX}/{site}/{gateway}/{kind}"


def parse_topic(topic: str) -> tuple[str, str, str]:
    """(site, gateway, kind) of a gateway topic; ProtocolError otherwise."""
    parts = topic.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX:
        raise ProtocolError(f"not a firefleet gateway topic: {topic!r}")
    site, gateway, kind = parts[2], parts[3], parts[4]
    if kind not in UPLINK_KINDS and kind not in DOWNLINK_KINDS:
        raise ProtocolError(f"unknown message kind {kind!r} in {topic!r}")
    return site, gateway, kind


_ENCODER: Final = msgspec.msgpack.Encoder()


def encode(message: Mapping[str, Any] | msgspec.Struct) -> bytes:
    """msgpack of a message: a contract type (devices.contract) or a map; records kept as stored bytes
    (`msgspec.Raw`) go into it unchanged."""
    data = _ENCODER.encode(message)
    if len(data) > MAX_PAYLOAD:
        raise ValueError(f"message of {len(data)} bytes exceeds {MAX_PAYLOAD}")
    return data


def decode(payload: bytes) -> dict[str, Any]:
    """A msgpack map; ProtocolError for anything else (garbage, oversize, a bare value)."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except (msgpack.UnpackException, ValueError, TypeError) as exc:
        raise ProtocolError(f"not msgpack: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError(f"payload is a {type(message).__name__}, not a map")
    return message
