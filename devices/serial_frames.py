"""Framing for plain serial (non-Modbus) devices: binary frames and ASCII lines. Pure, incremental.

Binary layout (parameters from the profile's `framing`):

    header (1..n bytes) | address (1, optional) | command (1) | length (1) | payload (length) | checksum

The checksum (sum8, xor or CRC-16/MODBUS little-endian) covers everything after the header up to the
payload's end. The framer hunts: on a wrong header, an over-long length or a bad checksum it drops
one byte and looks again, counting what it dropped. `next_frame()` returns None when it needs more.
ASCII lines end with the profile's terminator; an over-long line is dropped and counted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from devices.checksums import crc16_modbus, sum8, xor8
from devices.profile import BinaryFraming, LineEvent, LineFraming

__all__ = ["BinaryFrame", "BinaryFramer", "LineFramer", "encode_binary", "format_line_event",
           "parse_line_event"]


@dataclass(frozen=True, slots=True)
class BinaryFrame:
    address: int
    command: int
    payload: bytes


def _checksum(framing: BinaryFraming, data: bytes | bytearray) -> bytes:
    if framing.checksum == "crc16-modbus":
        return struct.pack("<H", crc16_modbus(data))
    return bytes((sum8(data) if framing.checksum == "sum8" else xor8(data),))


def encode_binary(framing: BinaryFraming, command: int, payload: bytes, address: int = 0) -> bytes:
    if len(payload) > framing.max_payload:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {framing.max_payload}")
    body = (bytes((address,)) if framing.has_address else b"") + bytes((command, len(payload))) + payload
    return framing.header + body + _checksum(framing, body)


class BinaryFramer:
    """Incremental binary framer. Never raises on any input."""

    def __init__(self, framing: BinaryFraming, max_buffer: int = 4096) -> None:
        self.framing = framing
        self._buf = bytearray()
        self._max = max_buffer
        self.garbage_bytes = 0
        self.frames = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self._max:
            drop = len(self._buf) - self._max
            del self._buf[:drop]
            self.garbage_bytes += drop

    def next_frame(self) -> BinaryFrame | None:
        f = self.framing
        buf = self._buf
        head = len(f.header)
        fixed = head + (1 if f.has_address else 0) + 2  # up to and including the length byte
        while buf:
            start = buf.find(f.header)
            if start < 0:
                keep = head - 1  # the header may be arriving split
                drop = len(buf) - keep if len(buf) > keep else 0
                if drop:
                    del buf[:drop]
                    self.garbage_bytes += drop
                return None
            if start:
                del buf[:start]
                self.garbage_bytes += start
            if len(buf) < fixed:
                return None
            length = buf[fixed - 1]
            if length > f.max_payload:
                del buf[:1]
                self.garbage_bytes += 1
                continue
            total = fixed + length + f.checksum_size
            if len(buf) < total:
                return None
            body = bytes(buf[head:fixed + length])
            if _checksum(f, body) != bytes(buf[fixed + length:total]):
                del buf[:1]
                self.garbage_bytes += 1
                continue
            del buf[:total]
            self.frames += 1
            address = body[0] if f.has_address else 0
            command = body[1 if f.has_address else 0]
            return BinaryFrame(address, command, body[fixed - head:])
        return None


class LineFramer:
    """Incremental line framer. Never raises; lines longer than max_line are dropped and counted."""

    def __init__(self, framing: LineFraming) -> None:
        self.framing = framing
        self._buf = bytearray()
        self._discarding = False
        self.garbage_bytes = 0
        self.lines = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_line(self) -> str | None:
        term = self.framing.terminator
        while True:
            end = self._buf.find(term)
            if end < 0:
                if len(self._buf) > self.framing.max_line:
                    self.garbage_bytes += len(self._buf)
                    self._buf.clear()
                    self._discarding = True
                return None
            raw = bytes(self._buf[:end])
            del self._buf[:end + len(term)]
            if self._discarding or len(raw) > self.framing.max_line:
                self._discarding = False
                self.garbage_bytes += len(raw) + len(term)
                continue
            self.lines += 1
            return raw.decode("latin-1")


def parse_line_event(framing: LineFraming, line: str) -> tuple[LineEvent, dict[str, Any]] | None:
    """The first event pattern that matches the line, with its fields typed; None if none matches."""
    for event in framing.events:
        match = event.match.match(line)
        if match:
            fields: dict[str, Any] = {}
            for name, text in match.groupdict().items():
                if text is None:
                    continue
                fields[name] = int(text) if event.fields.get(name) == "int" and text.isdigit() else text
            return event, fields
    return None


def format_line_event(event: LineEvent, fields: dict[str, Any]) -> str:
    return event.format.format(**fields)
