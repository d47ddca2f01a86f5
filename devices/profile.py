"""The firmware profile model: frozen, typed objects built by `devices.profile_loader`.

A profile describes one device model and firmware range: how to recognise it (identity probe), where
its values are (points), how gently it must be polled (quirks), what its values mean for alarms, and
test vectors that prove the description decodes real data. Modbus devices have register points; plain
serial devices have a framing (binary frames or ASCII lines) and points inside frames or events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "ALARM_CLASSES",
    "BIT_TABLES",
    "REGISTER_TABLES",
    "TABLES",
    "AlarmSpec",
    "BinaryFraming",
    "Command",
    "Condition",
    "LineEvent",
    "LineFraming",
    "Point",
    "Probe",
    "Profile",
    "Quirks",
    "Rule",
    "SerialSettings",
    "Snapshot",
    "Vector",
]

REGISTER_TABLES: Final = ("holding_register", "input_register")
BIT_TABLES: Final = ("coil", "discrete_input")
TABLES: Final = BIT_TABLES + REGISTER_TABLES
# DESIGN section 6, in priority order.
ALARM_CLASSES: Final = ("fire", "supervisory", "fault", "prewarning", "status")

Table = Literal["coil", "discrete_input", "input_register", "holding_register", "frame"]


@dataclass(frozen=True, slots=True)
class AlarmSpec:
    """What a point means for alarms: active whenever the value differs from `normal`."""

    cls: str
    severity: int
    normal: Any
    text: str = ""


@dataclass(frozen=True, slots=True)
class Point:
    """One named value. For Modbus, `table` and 0-based `address`; for binary serial, `frame` and byte
    `address` (offset in the payload). `width` is in registers (Modbus) or bytes (frames)."""

    name: str
    table: Table
    address: int
    type: str
    width: int
    line: int = 0
    bit: int | None = None
    length: int = 0
    byte_swap: bool = False
    word_swap: bool = False
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    enum: dict[int, str] | None = None
    invalid: frozenset[int] = frozenset()
    valid_range: tuple[float, float] | None = None
    writable: bool = False
    readable: bool = True  # False for `access: w` (a reset coil): never polled, never read back
    poll: str = "status"
    deadband: float = 0.0
    alarm: AlarmSpec | None = None
    frame: str = ""
    command: str = ""
    instance: int | None = None
    description: str = ""

    @property
    def end(self) -> int:
        return self.address + self.width


@dataclass(frozen=True, slots=True)
class Quirks:
    """How gently a device must be handled. Defaults suit a well-behaved Modbus slave."""

    max_registers: int = 125
    max_bits: int = 2000
    max_gap: int = 0
    forbidden: tuple[tuple[int, int], ...] = ()  # inclusive address ranges never to be read
    single_register_only: bool = False
    inter_frame_pause_ms: int = 0
    timeout_ms: int = 500
    write_function: Literal["single", "multiple"] = "single"


@dataclass(frozen=True, slots=True)
class Probe:
    """One identity check: `point` read from the device must equal `equals` or fall in [min, max]."""

    point: str
    equals: Any = None
    min: float | None = None
    max: float | None = None

    def matches(self, value: Any) -> bool:
        if value is None:
            return False
        if self.equals is not None:
            return bool(value == self.equals)
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True, slots=True)
class SerialSettings:
    baud: int = 9600
    parity: Literal["N", "E", "O"] = "N"
    data_bits: int = 8
    stop_bits: int = 1

    @property
    def bits_per_char(self) -> int:
        return 1 + self.data_bits + (0 if self.parity == "N" else 1) + self.stop_bits


@dataclass(frozen=True, slots=True)
class Command:
    """A binary-frame command: request `code`, reply `reply`; payload is the listed byte fields."""

    name: str
    code: int
    reply: int
    payload: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BinaryFraming:
    """header | address (1, optional) | command (1) | length (1) | payload | checksum (1 or 2, LE)."""

    header: bytes
    checksum: Literal["sum8", "xor", "crc16-modbus"]
    has_address: bool = True
    max_payload: int = 255
    commands: dict[str, Command] = field(default_factory=dict)

    @property
    def checksum_size(self) -> int:
        return 2 if self.checksum == "crc16-modbus" else 1


@dataclass(frozen=True, slots=True)
class LineEvent:
    """An ASCII-line event: `match` parses a line from the device, `format` writes one (simulator)."""

    name: str
    cls: str
    condition: Literal["active", "cleared"]
    match: re.Pattern[str]
    format: str
    fields: dict[str, str]  # field name -> "int" | "str"


@dataclass(frozen=True, slots=True)
class LineFraming:
    terminator: bytes = b"\r\n"
    max_line: int = 256
    events: tuple[LineEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Condition:
    point: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Rule:
    """A default alarm rule or interlock shipped with a profile; the edge agent evaluates it."""

    id: str
    when: Condition
    raise_class: str
    severity: int
    each: str = ""  # group name: evaluated once per instance ("port" -> port1..portN)
    sustain_s: float = 0.0
    clear: Condition | None = None
    actions: tuple[tuple[str, Any], ...] = ()  # (point to write, value)
    latch: bool = False
    line: int = 0
    text: str = ""  # the alarm's text (zh), shown on the duty console
    text_en: str = ""


@dataclass(frozen=True, slots=True)
class Vector:
    """A test vector: raw input -> expected decoded values (or, for ASCII lines, expected event)."""

    name: str
    line: int
    raw: dict[str, dict[int, list[int]]] = field(default_factory=dict)  # table -> start -> words/bits
    frame: bytes = b""
    text: str = ""
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Where a camera serves a still picture over HTTP (what an ONVIF GetSnapshotUri answers): the port and
    the path on the device's own host, `{channel}` standing for the channel's number."""

    port: int
    path: str

    def url(self, host: str, channel: int, port: int | None = None) -> str:
        return f"http://{host}:{port or self.port}{self.path.format(channel=channel)}"


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    file: str
    vendor: str
    model: str
    kind: str
    transport: Literal["modbus", "serial"]
    firmware: tuple[str, str] = ("", "")
    abstract: bool = False
    extends: str = ""
    description: str = ""
    points: tuple[Point, ...] = ()
    groups: dict[str, int] = field(default_factory=dict)  # group name -> instance count
    probe: tuple[Probe, ...] = ()
    polling: dict[str, float] = field(default_factory=dict)  # poll class -> seconds
    quirks: Quirks = Quirks()
    serial: SerialSettings | None = None
    binary: BinaryFraming | None = None
    lines: LineFraming | None = None
    rules: tuple[Rule, ...] = ()
    vectors: tuple[Vector, ...] = ()
    snapshot: Snapshot | None = None  # cameras: the HTTP still picture

    def point(self, name: str) -> Point:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def point_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.points)
