"""Modbus frames as a state machine over bytes, with no I/O (in the manner of h11).

Theory of operation. A slave (our simulators) feeds whatever bytes arrived into a framer with
`feed(data)` and pulls complete requests with `next_request()`, which returns None when it needs more
bytes. RTU has no length field for most requests, so the framer knows each function code's length;
a candidate frame whose CRC fails is not an error to raise but a signal to hunt: drop one byte and try
again (counted in `garbage_bytes`). On a real line, silence separates frames; over a pseudo-terminal
there is no silence, so hunting by CRC is what lets a slave resynchronise after noise.

TCP frames carry their own length (MBAP header), so the TCP framer only hunts on impossible headers.
The PDU layer (function code + data) is shared: `parse_request` and the `*_response` builders.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from devices.checksums import crc16_modbus

__all__ = [
    "FC_READ_COILS",
    "FC_READ_DISCRETE",
    "FC_READ_HOLDING",
    "FC_READ_INPUT",
    "FC_WRITE_COIL",
    "FC_WRITE_COILS",
    "FC_WRITE_REGISTER",
    "FC_WRITE_REGISTERS",
    "Request",
    "RtuRequestFramer",
    "TcpRequestFramer",
    "exception_pdu",
    "pack_bits",
    "rtu_frame",
    "tcp_frame",
    "unpack_bits",
]

FC_READ_COILS, FC_READ_DISCRETE, FC_READ_HOLDING, FC_READ_INPUT = 1, 2, 3, 4
FC_WRITE_COIL, FC_WRITE_REGISTER, FC_WRITE_COILS, FC_WRITE_REGISTERS = 5, 6, 15, 16

_FIXED_LENGTH_FCS = {1, 2, 3, 4, 5, 6}  # unit + fc + 4 data bytes + crc = 8 bytes
_COUNTED_FCS = {15, 16}  # unit + fc + addr(2) + qty(2) + byte count(1) + data + crc


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request. `values` holds written words or bits; `transaction` is the TCP id (0 on RTU)."""

    unit: int
    function: int
    address: int
    count: int
    values: tuple[int, ...] = ()
    transaction: int = 0
    raw_pdu: bytes = b""


def pack_bits(bits: list[int] | tuple[int, ...]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> tuple[int, ...]:
    return tuple((data[i // 8] >> (i % 8)) & 1 for i in range(count))


def parse_pdu(unit: int, pdu: bytes, transaction: int = 0) -> Request | None:
    """A request PDU -> Request; None when the function code is unknown or the data is malformed
    (the slave answers those with exception 1 or 3 using `raw_pdu`)."""
    if not pdu:
        return None
    fc = pdu[0]
    try:
        if fc in _FIXED_LENGTH_FCS and len(pdu) == 5:
            address, value = struct.unpack(">HH", pdu[1:5])
            if fc == FC_WRITE_COIL:
                return Request(unit, fc, address, 1, (1 if value == 0xFF00 else 0,), transaction, pdu)
            if fc == FC_WRITE_REGISTER:
                return Request(unit, fc, address, 1, (value,), transaction, pdu)
            return Request(unit, fc, address, value, (), transaction, pdu)
        if fc in _COUNTED_FCS and len(pdu) >= 6:
            address, qty, nbytes = struct.unpack(">HHB", pdu[1:6])
            data = pdu[6:6 + nbytes]
            if len(data) != nbytes:
                return None
            if fc == FC_WRITE_REGISTERS:
                if nbytes != 2 * qty:
                    return None
                return Request(unit, fc, address, qty, struct.unpack(f">{qty}H", data), transaction, pdu)
            if nbytes != (qty + 7) // 8:
                return None
            return Request(unit, fc, address, qty, unpack_bits(data, qty), transaction, pdu)
    except struct.error:
        return None
    return None


def read_registers_pdu(fc: int, words: list[int] | tuple[int, ...]) -> bytes:
    return struct.pack(f">BB{len(words)}H", fc, 2 * len(words), *words)


def read_bits_pdu(fc: int, bits: list[int] | tuple[int, ...]) -> bytes:
    data = pack_bits(bits)
    return bytes((fc, len(data))) + data


def write_echo_pdu(request: Request) -> bytes:
    if request.function in (FC_WRITE_COIL, FC_WRITE_REGISTER):
        return request.raw_pdu[:5]
    return struct.pack(">BHH", request.function, request.address, request.count)


def exception_pdu(fc: int, code: int) -> bytes:
    return bytes(((fc | 0x80) & 0xFF, code))


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    body = bytes((unit,)) + pdu
    return body + struct.pack("<H", crc16_modbus(body))


def tcp_frame(transaction: int, unit: int, pdu: bytes) -> bytes:
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


class RtuRequestFramer:
    """Incremental RTU request framer for a slave. Never raises on any input."""

    def __init__(self, max_buffer: int = 512) -> None:
        self._buf = bytearray()
        self._max = max_buffer
        self.garbage_bytes = 0
        self.frames = 0

    def feed(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > self._max:  # a runaway stream of noise: keep only the tail
            drop = len(self._buf) - self._max
            del self._buf[:drop]
            self.garbage_bytes += drop

    def next_frame(self) -> tuple[int, bytes] | None:
        """(unit, pdu) of the next frame whose CRC checks out, or None if more bytes are needed."""
        buf = self._buf
        while len(buf) >= 4:
            size = self._candidate_size(buf)
            if size is None:
                return None
            if size and len(buf) >= size:
                if self._valid_at(0, size):
                    frame = bytes(buf[:size])
                    del buf[:size]
                    self.frames += 1
                    return frame[0], frame[1:-2]
            elif size:
                # Too short for what its header claims. Noise can claim a long write; a whole valid
                # frame further on proves this start was noise, so resynchronise there.
                later = self._complete_frame_after(0)
                if later is None:
                    return None
                del buf[:later]
                self.garbage_bytes += later
                continue
            del buf[:1]  # not a frame here: hunt one byte further
            self.garbage_bytes += 1
        return None

    def _valid_at(self, start: int, size: int) -> bool:
        frame = self._buf[start:start + size]
        return len(frame) == size and crc16_modbus(frame[:-2]) == struct.unpack("<H", frame[-2:])[0]

    def _complete_frame_after(self, start: int) -> int | None:
        for offset in range(start + 1, len(self._buf) - 3):
            size = self._candidate_size(self._buf[offset:])
            if size and self._valid_at(offset, size):
                return offset
        return None

    @staticmethod
    def _candidate_size(buf: bytearray) -> int | None:
        """Expected length of a frame starting at buf[0]; 0 if it cannot be one; None if unknown yet."""
        fc = buf[1]
        if fc in _FIXED_LENGTH_FCS:
            return 8
        if fc in _COUNTED_FCS:
            if len(buf) < 7:
                return None
            return 9 + buf[6]
        if 0 < fc < 0x80:  # some function we do not host: unit fc ... crc; assume the shortest form
            return 4
        return 0

    def next_request(self) -> Request | tuple[int, bytes] | None:
        """A parsed Request, or (unit, pdu) for a well-framed PDU that does not parse, or None."""
        frame = self.next_frame()
        if frame is None:
            return None
        unit, pdu = frame
        return parse_pdu(unit, pdu) or (unit, pdu)


class TcpRequestFramer:
    """Incremental Modbus TCP (MBAP) request framer. Never raises on any input."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.garbage_bytes = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_request(self) -> Request | tuple[int, int, bytes] | None:
        """A Request, or (transaction, unit, pdu) for a PDU that does not parse, or None."""
        buf = self._buf
        while len(buf) >= 7:
            transaction, protocol, length, unit = struct.unpack(">HHHB", buf[:7])
            if protocol != 0 or not 2 <= length <= 254:
                del buf[:1]
                self.garbage_bytes += 1
                continue
            if len(buf) < 6 + length:
                return None
            pdu = bytes(buf[7:6 + length])
            del buf[:6 + length]
            return parse_pdu(unit, pdu, transaction) or (transaction, unit, pdu)
        return None
