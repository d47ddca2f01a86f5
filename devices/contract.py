"""The uplink contract as types: every field a gateway may send, with its type, range and size. Pure.

A gateway's credentials can be stolen and a broker misconfigured (DESIGN section 11), so the collector
trusts nothing it receives: each message is decoded straight into these frozen msgspec structs, which
check every field while decoding (types, finite numbers, string and list sizes, nesting depth). A value
that does not fit is refused with the field's path (`$.records[0].t`), never filled in with a default.

Values (a reading's points, an alarm's value, an event's details) are scalars, or one level of list or
map of scalars: enough for every profile, and a bound on depth that no payload can get past.

Decoding a batch goes in two steps so that one bad record cannot take its neighbours with it: the
envelope first (`boot`, `seq`, and each record's raw bytes), then each record on its own. A record that
does not decode is refused alone, and its raw bytes and reason can be kept for inspection.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from devices.errors import MessageError
from devices.profile import ALARM_CLASSES

__all__ = [
    "ALARM_CLASSES",
    "Ack",
    "AgentPackage",
    "Alarm",
    "AlarmClass",
    "Attachment",
    "Batch",
    "Birth",
    "BirthDevice",
    "Command",
    "CommandState",
    "CommandStep",
    "ConfigBundle",
    "ContractError",
    "Death",
    "Event",
    "Health",
    "Heartbeat",
    "LogQuery",
    "MalformedPayload",
    "Override",
    "Place",
    "Reading",
    "Record",
    "Scalar",
    "Value",
    "as_ack",
    "as_birth",
    "as_command",
    "as_record",
    "decode_message",
    "decode_record",
    "record_id_of",
]

# DESIGN section 6, in priority order: defined once, in devices.profile
MAX_RECORDS: Final = 2000  # per message; the agent sends at most 200
MAX_DEVICES: Final = 5000  # per birth

Finite = Annotated[float, msgspec.Meta(ge=-1e15, le=1e15)]  # NaN and infinities fail both bounds
Time = Annotated[float, msgspec.Meta(ge=0, le=4_102_444_800)]  # 1970 .. 2100
Text = Annotated[str, msgspec.Meta(max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=2000)]
Name = Annotated[str, msgspec.Meta(max_length=120)]
RecordId = Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=r"^[\x21-\x7e]+$")]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Scalar = None | bool | int | Finite | Text
Value = Scalar | Annotated[list[Scalar], msgspec.Meta(max_length=200)] | \
    Annotated[dict[Name, Scalar], msgspec.Meta(max_length=200)]
Values = Annotated[dict[Name, Value], msgspec.Meta(max_length=2000)]


AlarmClass = Literal["fire", "supervisory", "fault", "prewarning", "status"]  # ALARM_CLASSES, as a type
# A command runs `executing` -> `successful` | `failed`; an operation (configure, update) runs `prepare` ->
# `apply` -> `verify` -> `successful`, or ends `failed` (refused while preparing) or `rolled_back` (with why)
CommandStep = Literal["executing", "prepare", "apply", "verify", "successful", "failed", "refused", "rolled_back"]


class ContractError(MessageError, ValueError):
    """A message or record that does not fit the contract; the text names the field and the reason."""


class MalformedPayload(ContractError):
    """Not msgpack at all (garbage, truncated, trailing bytes)."""


class _Record(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    id: RecordId
    site: Name
    t: Time
    mono: Finite
    trusted: bool
    historical: bool = False
    clk: Annotated[str, msgspec.Meta(max_length=32)] = ""  # which monotonic clock `mono` is on


class Alarm(_Record, frozen=True, tag="alarm"):
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    cls: AlarmClass = msgspec.field(name="class")
    severity: Annotated[int, msgspec.Meta(ge=1, le=5)]
    state: Literal["active", "cleared"]
    device: Name = ""
    rule: Name = ""
    value: Value = None
    text: LongText = ""


class Event(_Record, frozen=True, tag="event"):
    kind: Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=r"^[a-z_:]+$")]
    device: Name = ""
    details: Annotated[dict[Name, Value], msgspec.Meta(max_length=200)] = {}


class CommandState(_Record, frozen=True, tag="command"):
    command: RecordId
    state: CommandStep
    reason: LongText = ""


class Reading(_Record, frozen=True, tag="reading"):
    device: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    values: Values
    min: Annotated[dict[Name, Finite], msgspec.Meta(max_length=2000)] | None = None
    max: Annotated[dict[Name, Finite], msgspec.Meta(max_length=2000)] | None = None
    n: Count | None = None
    t0: Time | None = None


ATTACHMENT_CHUNK: Final = 96 * 1024  # bytes of a picture per record: two fit a message under MAX_PAYLOAD
ATTACHMENT_MAX: Final = 2 * 1024 * 1024  # a whole picture
ATTACHMENT_PARTS: Final = -(-ATTACHMENT_MAX // ATTACHMENT_CHUNK)


class Attachment(_Record, frozen=True, tag="attachment"):
    """One chunk of a camera's still picture taken for an alarm (`key`), or asked for by a command."""

    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]  # the alarm it belongs to
    device: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]  # the camera
    channel: Annotated[int, msgspec.Meta(ge=1, le=64)]
    ref: RecordId  # the picture (all its chunks carry it)
    media: Literal["image/jpeg", "application/gzip"]  # a camera's picture, or a gateway's log lines
    part: Annotated[int, msgspec.Meta(ge=0, lt=ATTACHMENT_PARTS)]
    parts: Annotated[int, msgspec.Meta(ge=1, le=ATTACHMENT_PARTS)]
    size: Annotated[int, msgspec.Meta(ge=1, le=ATTACHMENT_MAX)]  # of the whole picture
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]  # of the whole picture
    data: Annotated[bytes, msgspec.Meta(min_length=1, max_length=ATTACHMENT_CHUNK)]
    taken: Time  # when the camera answered (the record's `t` is when it was stored)
    command: Annotated[str, msgspec.Meta(max_length=120)] = ""  # the command that asked for it, if one did


Record = Alarm | Event | CommandState | Reading | Attachment
LANE_TYPES: Final[dict[str, tuple[type[_Record], ...]]] = {
    "alarms": (Alarm,), "events": (Event, CommandState), "telemetry": (Reading,), "attachments": (Attachment,)}


class Place(msgspec.Struct, frozen=True):
    name: Name = ""
    kind: Name = ""
    street: Name = ""
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class BirthDevice(msgspec.Struct, frozen=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    name: Name = ""
    profile: Name = ""
    configured_profile: Name = ""
    kind: Name = ""
    location: Name = ""
    bus: Name = ""
    unit: Annotated[int, msgspec.Meta(ge=0, le=255)] = 0
    groups: Annotated[list[Name], msgspec.Meta(max_length=50)] = []
    online: bool = True
    values: Values = {}


class _Message(msgspec.Struct, frozen=True):
    boot: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Count = 0


class Birth(_Message, frozen=True):
    bdseq: Count = 0
    site: Name = ""
    place: Place | None = None
    agent_version: Name = ""
    config_version: Name = ""  # of the site file the agent runs (a digest)
    profiles_version: Name = ""  # of the firmware profiles its devices use (a digest)
    heartbeat_s: Annotated[float, msgspec.Meta(ge=0.1, le=3600)] = 30.0
    t: Time = 0.0
    mono: Finite = 0.0
    trusted: bool = True
    clk: Annotated[str, msgspec.Meta(max_length=32)] = ""
    active_alarms: Annotated[list[Text], msgspec.Meta(max_length=MAX_DEVICES)] = []
    devices: Annotated[list[BirthDevice], msgspec.Meta(max_length=MAX_DEVICES)] = []


class Death(_Message, frozen=True):
    bdseq: Count = 0


Counters = Annotated[dict[Name, Finite], msgspec.Meta(max_length=50)]


class Health(msgspec.Struct, frozen=True, omit_defaults=True):
    """A gateway's health as its heartbeat says it (docs/protocol.md, "Heartbeat health")."""

    cpu_percent: Finite | None = None
    rss_mb: Finite | None = None
    disk_free_mb: Finite | None = None
    load1: Finite | None = None
    clock_trusted: bool | None = None
    outbox: Count | Annotated[dict[Name, Counters], msgspec.Meta(max_length=10)] | None = None
    buses: Annotated[dict[Name, Counters], msgspec.Meta(max_length=64)] = {}
    devices_offline: Annotated[list[Name], msgspec.Meta(max_length=MAX_DEVICES)] = []
    downlink_refused: Count = 0
    light: bool = False


class Heartbeat(_Message, frozen=True):
    health: Health = Health()


class Batch(_Message, frozen=True):
    """The envelope of alarms, events or telemetry: each record still raw, decoded one at a time."""

    records: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_RECORDS)] = []


class Override(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A person's explicit word that their write outranks an interlock that holds (audited)."""

    reason: Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
    by: Name = ""


class LogQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which of a gateway's log lines to send up (the `logs` command)."""

    since: Time
    until: Time
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    text: Text = ""
    max_bytes: Annotated[int, msgspec.Meta(ge=1024, le=ATTACHMENT_MAX)] = 1024 * 1024


ProfileFile = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9._-]{0,80}\.yaml$")]
FileText = Annotated[str, msgspec.Meta(max_length=200_000)]
Digest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class ConfigBundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A configuration set for one gateway (the `configure` operation, devices.config_bundle): a new site
    file and/or profile files that add to or replace the gateway's own, with the SHA-256 of them all."""

    sha256: Digest
    site: FileText = ""  # empty: keep the gateway's site file
    profiles: Annotated[dict[ProfileFile, FileText], msgspec.Meta(max_length=64)] = {}
    verify_s: Annotated[float, msgspec.Meta(ge=5, le=3600)] = 120.0  # every device identified within this


class AgentPackage(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A new agent version (the `update` operation, edge.updates): a wheel to fetch, checked by its SHA-256."""

    url: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https?://")]
    sha256: Digest
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    healthy_s: Annotated[float, msgspec.Meta(ge=10, le=3600)] = 120.0  # the new agent reports healthy within this


class Command(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """A durable request from the collector to one gateway (sealed by devices.downlink_auth)."""

    id: RecordId
    action: Literal["write", "rebirth", "reload_config", "acknowledge", "snapshot", "logs", "configure", "update"]
    device: Name = ""
    point: Name = ""
    value: Scalar = None
    key: Text = ""
    override: Override | None = None
    query: LogQuery | None = None
    bundle: ConfigBundle | None = None
    package: AgentPackage | None = None


class Ack(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The ids of records the collector has stored (the gateway may delete them)."""

    ids: Annotated[list[RecordId], msgspec.Meta(max_length=MAX_RECORDS)]


_MESSAGE_TYPES: Final = {"birth": Birth, "death": Death, "heartbeat": Heartbeat, "alarms": Batch,
                         "events": Batch, "telemetry": Batch, "attachments": Batch}
_DECODERS: Final = {kind: msgspec.msgpack.Decoder(t) for kind, t in _MESSAGE_TYPES.items()}
_RECORD_DECODER: Final = msgspec.msgpack.Decoder(Record)
_ID_ONLY: Final = msgspec.msgpack.Decoder(dict[str, object])


def decode_message(kind: str, payload: bytes) -> Birth | Death | Heartbeat | Batch:
    """The message of a topic kind, checked field by field; ContractError with the field otherwise."""
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise ContractError(f"no message kind {kind!r}")
    try:
        message: Birth | Death | Heartbeat | Batch = decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise ContractError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise MalformedPayload(str(exc)) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ContractError(f"not a {kind} message: {exc}") from None
    return message


def decode_record(raw: bytes | msgspec.Raw, lane: str) -> Record:
    """One record of a batch, checked; it must be of a type its lane carries."""
    try:
        record: Record = _RECORD_DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ContractError(str(exc).replace("$", "record", 1)) from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ContractError(f"not a record: {exc}") from None
    allowed = LANE_TYPES.get(lane, ())
    if not isinstance(record, allowed):
        kind = type(record).__name__.lower()
        raise ContractError(f"a {kind} record on the {lane} topic")
    return record


def record_id_of(raw: bytes | msgspec.Raw) -> str | None:
    """The id of a record that failed to decode, if it has a usable one (so it can still be acknowledged)."""
    try:
        loose = _ID_ONLY.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError, TypeError, RecursionError):
        return None
    rid = loose.get("id")
    if isinstance(rid, str) and 0 < len(rid) <= 120 and rid.isascii() and rid.isprintable() and " " not in rid:
        return rid
    return None


def as_record(fields: object) -> Record:
    """A record from plain Python values (a test's or a benchmark's), checked exactly as on the wire."""
    try:
        record: Record = msgspec.convert(fields, Record)
    except msgspec.ValidationError as exc:
        raise ContractError(str(exc)) from None
    return record


def as_command(fields: object) -> Command:
    """A command from plain values (the API's, or a sealed body the gateway opened), checked."""
    try:
        return msgspec.convert(fields, Command)
    except msgspec.ValidationError as exc:
        raise ContractError(str(exc)) from None


def as_ack(fields: object) -> Ack:
    try:
        return msgspec.convert(fields, Ack)
    except msgspec.ValidationError as exc:
        raise ContractError(str(exc)) from None


def as_birth(fields: object) -> Birth:
    try:
        return msgspec.convert(fields, Birth)
    except msgspec.ValidationError as exc:
        raise ContractError(str(exc)) from None
