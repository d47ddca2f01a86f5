"""The master's side of Modbus RTU as pure functions: the frame of a request, and what its answer must be.

A master knows what it asked, so it knows how long the answer is: after the first two bytes (unit and
function), either the normal reply (reads: a byte count and the data; writes: an 8-byte echo) or a 5-byte
exception. `Exchange.reply_size` says how many bytes to wait for; `Exchange.parse` checks unit, function,
length and CRC and returns the words (or bits as 0/1), or raises FrameError / ExceptionReply.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from devices.checksums import crc16_modbus
from devices.errors import ExceptionReply, FrameError
from devices.modbus_frames import (
    FC_WRITE_COIL,
    FC_WRITE_COILS,
    FC_WRITE_REGISTER,
    FC_WRITE_REGISTERS,
    pack_bits,
    rtu_frame,
    unpack_bits,
)

__all__ = ["Exchange", "read_exchange", "write_exchange"]

READ_FUNCTION: Final = {"coil": 1, "discrete_input": 2, "holding_register": 3, "input_register": 4}


@dataclass(frozen=True, slots=True)
class Exchange:
    unit: int
    function: int
    frame: bytes  # the request as it goes on the wire
    count: int  # registers or bits asked for (reads)
    reply_data: int  # data bytes of a normal reply after unit and function (reads: 1 + n; writes: 4)
    bits: bool = False

    @property
    def normal_size(self) -> int:
        return 2 + self.reply_data + 2

    def reply_size(self, head: bytes | bytearray) -> int | None:
        """The whole answer's length once its first two bytes are in (None before)."""
        if len(head) < 2:
            return None
        return 5 if head[1] == (self.function | 0x80) else self.normal_size

    def parse(self, reply: bytes | bytearray) -> list[int]:
        if len(reply) < 5:
            raise FrameError(f"{len(reply)} bytes is no answer")
        if reply[0] != self.unit:
            raise FrameError(f"an answer from unit {reply[0]}, not {self.unit}")
        size = self.reply_size(reply)
        if size is None or len(reply) != size:
            raise FrameError(f"{len(reply)} bytes where {size} were due")
        if crc16_modbus(reply[:-2]) != struct.unpack_from("<H", reply, len(reply) - 2)[0]:
            raise FrameError("bad CRC")
        if reply[1] == (self.function | 0x80):
            raise ExceptionReply(reply[2])
        if reply[1] != self.function:
            raise FrameError(f"function {reply[1]} answered for {self.function}")
        if self.function >= FC_WRITE_COIL:
            if bytes(reply[2:6]) != self.frame[2:6]:
                raise FrameError("the write's echo does not match the request")
            return []
        data = bytes(reply[3:-2])
        if reply[2] != len(data):
            raise FrameError(f"byte count {reply[2]} for {len(data)} bytes")
        if self.bits:
            return list(unpack_bits(data, self.count))
        return list(struct.unpack(f">{self.count}H", data))


def read_exchange(table: str, address: int, count: int, unit: int) -> Exchange:
    function = READ_FUNCTION[table]
    bits = function <= 2
    data = (count + 7) // 8 if bits else 2 * count
    return Exchange(unit, function, rtu_frame(unit, struct.pack(">BHH", function, address, count)), count,
                    1 + data, bits)


def write_exchange(table: str, address: int, values: list[int], unit: int, function: str = "single") -> Exchange:
    """A write of coils or holding registers; `function` is the profile's quirk ("single" or "multiple")."""
    single = function == "single" and len(values) == 1
    if table == "coil":
        if single:
            pdu = struct.pack(">BHH", FC_WRITE_COIL, address, 0xFF00 if values[0] else 0)
        else:
            data = pack_bits([1 if v else 0 for v in values])
            pdu = struct.pack(">BHHB", FC_WRITE_COILS, address, len(values), len(data)) + data
    elif table == "holding_register":
        if single:
            pdu = struct.pack(">BHH", FC_WRITE_REGISTER, address, values[0] & 0xFFFF)
        else:
            pdu = struct.pack(f">BHHB{len(values)}H", FC_WRITE_REGISTERS, address, len(values), 2 * len(values),
                              *(v & 0xFFFF for v in values))
    else:
        raise ValueError(f"{table} is not writable")
    return Exchange(unit, pdu[0], rtu_frame(unit, pdu), len(values), 4)
