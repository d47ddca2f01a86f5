"""GB/T 26875.3-2011 (城市消防远程监控系统 第3部分: 报警传输网络通信协议): frames and application data
units between a user information transmission device (用户信息传输装置) and the city's monitoring centre.
Pure: bytes in, typed records out, and back; no sockets, no clocks (times are passed in).

A frame (the standard's 图 4 / 表 1), every multi-byte number low byte first:

    '@@' | serial (2) | version: major 1, user (2) | time tag (6) | source (6) | destination (6) |
    application data length (2, <= 1024) | command (1) | application data | checksum (1) | '##'

The checksum is the sum, modulo 256, of the control unit after '@@' (bytes 3 to 27) and the application
data. A time tag is six binary bytes: second, minute, hour, day, month, year - 2000. Commands (表 2):
1 control (clock sync, duty check), 2 send data, 3 confirm, 4 request, 5 answer, 6 deny.

Application data (图 5): type (1), object count (1), then the objects, each its information body and,
for the types that carry one, a 6-byte time tag. Types used here, with their bodies (表 3, 8.2-8.3):

    1  system state        system type (1), system address (1), state word (2)                + time
    2  component state     system type, system address, component type (1), component address (4),
                           state word (2), description (31 bytes, GB 18030, NUL-padded)      + time
    3  analog value        system type, system address, component type, component address (4),
                           analog type (1), value (2, signed)                                 + time
    21 device state        the transmission device's state byte                              + time
    24 device operation    operation byte, operator (1)                                       + time
    90 clock sync          (down) the time to take, 6 bytes
    91 duty check          (down) minutes to answer in (1)
    61-68, 81-88 reads     (down) bodies as given (a read names what it asks for; see ReadRequest)

`Framer` is incremental like the other framers of devices/: it hunts for '@@' through junk, waits for a
whole frame, and reports a frame that fails (bad checksum, bad length, no '##') as a `BadFrame` with
what could be read of its header, so a receiver can deny it (command 6) and go on.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

__all__ = [
    "ANALOG_CURRENT",
    "ANALOG_PRESSURE_MPA",
    "ANALOG_TEMPERATURE",
    "CMD_ANSWER",
    "CMD_CONFIRM",
    "CMD_CONTROL",
    "CMD_DENY",
    "CMD_REQUEST",
    "CMD_SEND",
    "DESCRIPTION_BYTES",
    "MAX_APP_DATA",
    "STATE_FAULT",
    "STATE_FIRE",
    "STATE_NORMAL",
    "STATE_SHIELDED",
    "STATE_SUPERVISORY",
    "AnalogValue",
    "AppUnit",
    "BadFrame",
    "ClockSync",
    "ComponentState",
    "DeviceOperation",
    "DeviceState",
    "DutyCheck",
    "Frame",
    "Framer",
    "Gb26875Error",
    "ReadRequest",
    "SystemState",
    "checksum",
    "decode_app",
    "decode_description",
    "encode_app",
    "encode_description",
    "encode_frame",
    "time_of",
    "time_tag",
]

START: Final = b"@@"
END: Final = b"##"
HEADER: Final = 27  # '@@' through the command byte
MAX_APP_DATA: Final = 1024
DESCRIPTION_BYTES: Final = 31

CMD_CONTROL, CMD_SEND, CMD_CONFIRM, CMD_REQUEST, CMD_ANSWER, CMD_DENY = 1, 2, 3, 4, 5, 6
COMMANDS: Final = (CMD_CONTROL, CMD_SEND, CMD_CONFIRM, CMD_REQUEST, CMD_ANSWER, CMD_DENY)

# state word bits of a system (8.2.1.1) and a component (8.2.1.2): bit 0 set = normal operation
STATE_NORMAL, STATE_FIRE, STATE_FAULT, STATE_SHIELDED, STATE_SUPERVISORY = 0x01, 0x02, 0x04, 0x08, 0x10
STATE_STARTED, STATE_FEEDBACK, STATE_DELAYED, STATE_POWER_FAULT = 0x20, 0x40, 0x80, 0x100
# the transmission device's own state byte (8.2.1.8): bit 5 = the channel to the monitoring centre failed
DEVICE_NORMAL, DEVICE_FIRE, DEVICE_FAULT, DEVICE_CENTRE_LINK_FAULT = 0x01, 0x02, 0x04, 0x20
# its operation byte (8.2.1.9): bit 5 = the answer to a duty check (查岗应答)
OP_RESET, OP_SILENCE, OP_DUTY_ANSWER = 0x01, 0x02, 0x20
# analog types (表 6) used here, with their units
ANALOG_TEMPERATURE, ANALOG_PRESSURE_MPA, ANALOG_CURRENT = 3, 4, 9  # 0.1 C, 0.1 MPa, 0.1 A

TYPE_SYSTEM_STATE, TYPE_COMPONENT_STATE, TYPE_ANALOG = 1, 2, 3
TYPE_DEVICE_STATE, TYPE_DEVICE_OPERATION = 21, 24
TYPE_CLOCK_SYNC, TYPE_DUTY_CHECK = 90, 91
READ_TYPES: Final = (*range(61, 69), *range(81, 89))


class Gb26875Error(ValueError):
    """Bytes that are not a frame or an application data unit of the standard; the text says why."""


@dataclass(frozen=True, slots=True)
class Frame:
    serial: int
    command: int
    source: int  # 48-bit addresses
    destination: int
    time: datetime
    data: bytes = b""
    version: tuple[int, int] = (1, 0)  # major (1), user version


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that cannot be taken: deny it (when its header could be read) and go on."""

    reason: str
    serial: int | None = None
    source: int | None = None
    destination: int | None = None
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class SystemState:
    system_type: int
    system_address: int
    state: int
    time: datetime


@dataclass(frozen=True, slots=True)
class ComponentState:
    system_type: int
    system_address: int
    component_type: int
    component_address: int  # 4 bytes; firefleet writes zone * 65536 + position (docs/gb26875.md)
    state: int
    description: str
    time: datetime


@dataclass(frozen=True, slots=True)
class AnalogValue:
    system_type: int
    system_address: int
    component_type: int
    component_address: int
    analog_type: int
    value: int  # in the type's unit (0.1 C, 0.1 MPa, ...), -32768..32767
    time: datetime


@dataclass(frozen=True, slots=True)
class DeviceState:
    state: int
    time: datetime


@dataclass(frozen=True, slots=True)
class DeviceOperation:
    operation: int
    operator: int
    time: datetime


@dataclass(frozen=True, slots=True)
class ClockSync:
    time: datetime


@dataclass(frozen=True, slots=True)
class DutyCheck:
    minutes: int  # to answer in


@dataclass(frozen=True, slots=True)
class ReadRequest:
    type: int
    body: bytes = b""


InfoObject = (SystemState | ComponentState | AnalogValue | DeviceState | DeviceOperation | ClockSync | DutyCheck
              | ReadRequest)


@dataclass(frozen=True, slots=True)
class AppUnit:
    type: int
    objects: tuple[InfoObject, ...] = field(default_factory=tuple)


# -- times and texts ---------------------------------------------------------------------------------
def time_tag(at: datetime) -> bytes:
    if not 2000 <= at.year <= 2255:
        raise Gb26875Error(f"year {at.year} does not fit a time tag")
    return bytes((at.second, at.minute, at.hour, at.day, at.month, at.year - 2000))


def time_of(tag: bytes) -> datetime:
    if len(tag) != 6:
        raise Gb26875Error("a time tag is 6 bytes")
    second, minute, hour, day, month, year = tag
    try:
        return datetime(2000 + year, month, day, hour, minute, second)
    except ValueError as exc:
        raise Gb26875Error(f"time tag {tag.hex()} is not a time: {exc}") from None


def encode_description(text: str) -> bytes:
    """GB 18030, cut at a whole character to fit 31 bytes, NUL-padded."""
    out = b""
    for char in text:
        piece = char.encode("gb18030")
        if len(out) + len(piece) > DESCRIPTION_BYTES:
            break
        out += piece
    return out.ljust(DESCRIPTION_BYTES, b"\x00")


def decode_description(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("gb18030", errors="replace")


def _address(value: int) -> bytes:
    if not 0 <= value < 1 << 48:
        raise Gb26875Error(f"address {value} is not 6 bytes")
    return value.to_bytes(6, "little")


# -- frames ------------------------------------------------------------------------------------------
def checksum(control_and_data: bytes) -> int:
    return sum(control_and_data) & 0xFF


def encode_frame(frame: Frame) -> bytes:
    if len(frame.data) > MAX_APP_DATA:
        raise Gb26875Error(f"application data of {len(frame.data)} bytes is over {MAX_APP_DATA}")
    if frame.command not in COMMANDS or not 0 <= frame.serial <= 0xFFFF:
        raise Gb26875Error(f"command {frame.command} or serial {frame.serial} out of range")
    control = (struct.pack("<HBB", frame.serial, *frame.version) + time_tag(frame.time) + _address(frame.source)
               + _address(frame.destination) + struct.pack("<HB", len(frame.data), frame.command))
    return START + control + frame.data + bytes((checksum(control + frame.data),)) + END


class Framer:
    """Feed bytes as they come; take whole frames (or BadFrames) out with `next()` until it gives None."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > 64 * 1024:  # a peer that only sends junk does not grow us forever
            del self._buf[:-HEADER]

    def next(self) -> Frame | BadFrame | None:
        while True:
            start = self._buf.find(START)
            if start < 0:
                del self._buf[:-1]  # keep a lone '@' that may begin the next start
                return None
            del self._buf[:start]
            if len(self._buf) < HEADER:
                return None
            serial, major, user = struct.unpack_from("<HBB", self._buf, 2)
            source = int.from_bytes(self._buf[12:18], "little")
            destination = int.from_bytes(self._buf[18:24], "little")
            length, command = struct.unpack_from("<HB", self._buf, 24)
            if length > MAX_APP_DATA:
                raw = bytes(self._buf[:HEADER])
                del self._buf[:1]  # not a frame we can take: hunt again from the next byte ('@@@' holds a start)
                return BadFrame(f"application data length {length} is over {MAX_APP_DATA}", serial, source,
                                destination, raw)
            total = HEADER + length + 3
            if len(self._buf) < total:
                return None
            raw = bytes(self._buf[:total])
            if raw[-2:] != END:
                del self._buf[:1]
                return BadFrame("no '##' where the length says the frame ends", serial, source, destination, raw)
            del self._buf[:total]
            body = raw[2:HEADER + length]
            if checksum(body) != raw[HEADER + length]:
                return BadFrame(f"checksum {raw[HEADER + length]:#04x}, the bytes sum to {checksum(body):#04x}",
                                serial, source, destination, raw)
            if command not in COMMANDS:
                return BadFrame(f"command {command} is not one of the standard's", serial, source, destination, raw)
            if major != 1:
                return BadFrame(f"protocol major version {major}, not 1", serial, source, destination, raw)
            try:
                at = time_of(raw[6:12])
            except Gb26875Error as exc:
                return BadFrame(str(exc), serial, source, destination, raw)
            return Frame(serial, command, source, destination, at, raw[HEADER:HEADER + length], (major, user))


# -- application data units --------------------------------------------------------------------------
_FIXED: Final = {TYPE_SYSTEM_STATE: 4, TYPE_COMPONENT_STATE: 40, TYPE_ANALOG: 10, TYPE_DEVICE_STATE: 1,
                 TYPE_DEVICE_OPERATION: 2, TYPE_CLOCK_SYNC: 6, TYPE_DUTY_CHECK: 1}
_TIMED: Final = (TYPE_SYSTEM_STATE, TYPE_COMPONENT_STATE, TYPE_ANALOG, TYPE_DEVICE_STATE, TYPE_DEVICE_OPERATION)
_TYPE_OF: Final = {SystemState: TYPE_SYSTEM_STATE, ComponentState: TYPE_COMPONENT_STATE, AnalogValue: TYPE_ANALOG,
                   DeviceState: TYPE_DEVICE_STATE, DeviceOperation: TYPE_DEVICE_OPERATION,
                   ClockSync: TYPE_CLOCK_SYNC, DutyCheck: TYPE_DUTY_CHECK}


def encode_app(objects: list[InfoObject] | tuple[InfoObject, ...]) -> bytes:
    """One application data unit of objects of one type."""
    if not objects or len(objects) > 255:
        raise Gb26875Error("an application data unit holds 1 to 255 objects")
    kinds = {obj.type if isinstance(obj, ReadRequest) else _TYPE_OF[type(obj)] for obj in objects}
    if len(kinds) != 1:
        raise Gb26875Error("the objects of one unit are of one type")
    out = bytes((kinds.pop(), len(objects))) + b"".join(_body(obj) for obj in objects)
    if len(out) > MAX_APP_DATA:
        raise Gb26875Error(f"{len(out)} bytes of application data is over {MAX_APP_DATA}")
    return out


def _body(obj: InfoObject) -> bytes:
    if isinstance(obj, SystemState):
        return struct.pack("<BBH", obj.system_type, obj.system_address, obj.state) + time_tag(obj.time)
    if isinstance(obj, ComponentState):
        return (struct.pack("<BBBIH", obj.system_type, obj.system_address, obj.component_type,
                            obj.component_address, obj.state) + encode_description(obj.description)
                + time_tag(obj.time))
    if isinstance(obj, AnalogValue):
        return (struct.pack("<BBBIBh", obj.system_type, obj.system_address, obj.component_type,
                            obj.component_address, obj.analog_type, obj.value) + time_tag(obj.time))
    if isinstance(obj, DeviceState):
        return bytes((obj.state,)) + time_tag(obj.time)
    if isinstance(obj, DeviceOperation):
        return bytes((obj.operation, obj.operator)) + time_tag(obj.time)
    if isinstance(obj, ClockSync):
        return time_tag(obj.time)
    if isinstance(obj, DutyCheck):
        return bytes((obj.minutes,))
    return obj.body


def decode_app(data: bytes) -> AppUnit:
    if len(data) < 2:
        raise Gb26875Error("application data is at least a type and an object count")
    kind, count = data[0], data[1]
    rest = data[2:]
    if kind in READ_TYPES:
        size = len(rest) // count if count else 0
        if count == 0 or size * count != len(rest):
            raise Gb26875Error(f"{len(rest)} bytes do not split into {count} read objects")
        return AppUnit(kind, tuple(ReadRequest(kind, rest[i * size:(i + 1) * size]) for i in range(count)))
    if kind not in _FIXED:
        raise Gb26875Error(f"application data type {kind} is not one this device takes")
    size = _FIXED[kind] + (6 if kind in _TIMED else 0)
    if count == 0 or len(rest) != size * count:
        raise Gb26875Error(f"type {kind}: {len(rest)} bytes for {count} objects of {size}")
    return AppUnit(kind, tuple(_object(kind, rest[i * size:(i + 1) * size]) for i in range(count)))


def _object(kind: int, body: bytes) -> InfoObject:
    if kind == TYPE_SYSTEM_STATE:
        system_type, system_address, state = struct.unpack_from("<BBH", body)
        return SystemState(system_type, system_address, state, time_of(body[4:10]))
    if kind == TYPE_COMPONENT_STATE:
        st, sa, ct, ca, state = struct.unpack_from("<BBBIH", body)
        return ComponentState(st, sa, ct, ca, state, decode_description(body[9:40]), time_of(body[40:46]))
    if kind == TYPE_ANALOG:
        st, sa, ct, ca, at, value = struct.unpack_from("<BBBIBh", body)
        return AnalogValue(st, sa, ct, ca, at, value, time_of(body[10:16]))
    if kind == TYPE_DEVICE_STATE:
        return DeviceState(body[0], time_of(body[1:7]))
    if kind == TYPE_DEVICE_OPERATION:
        return DeviceOperation(body[0], body[1], time_of(body[2:8]))
    if kind == TYPE_CLOCK_SYNC:
        return ClockSync(time_of(body))
    return DutyCheck(body[0])
