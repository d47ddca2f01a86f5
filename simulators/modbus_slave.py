"""The Modbus slave behaviour shared by the TCP and RTU transports: request -> reply, faults applied.

`plan_reply` decides what a device does with one request (answer, an exception, silence, garbage, a
late or corrupted answer, or an answer under a wrong unit id); transports only turn the plan into bytes
on their wire. We serve Modbus ourselves instead of through pymodbus's server because a simulator
must misbehave on purpose (bad CRC, wrong unit id, partial silence) and must keep quiet for unit ids
it does not host on a shared RS-485 line, which the library server does not do.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.modbus_frames import (
    FC_READ_COILS,
    FC_READ_DISCRETE,
    FC_READ_HOLDING,
    FC_READ_INPUT,
    FC_WRITE_COIL,
    FC_WRITE_COILS,
    FC_WRITE_REGISTER,
    FC_WRITE_REGISTERS,
    Request,
    exception_pdu,
    read_bits_pdu,
    read_registers_pdu,
    write_echo_pdu,
)
from simulators.device import ILLEGAL_FUNCTION, ILLEGAL_VALUE, SimDevice

__all__ = ["Reply", "answer_pdu", "plan_reply"]

_READ_TABLES = {FC_READ_COILS: "coil", FC_READ_DISCRETE: "discrete_input", FC_READ_HOLDING: "holding_register",
                FC_READ_INPUT: "input_register"}
_WRITE_TABLES = {FC_WRITE_COIL: "coil", FC_WRITE_COILS: "coil", FC_WRITE_REGISTER: "holding_register",
                 FC_WRITE_REGISTERS: "holding_register"}


@dataclass(frozen=True, slots=True)
class Reply:
    """What to put on the wire: `pdu` from `unit` after `delay_s`; `corrupt` spoils its CRC/framing;
    `garbage` replaces the whole answer with random bytes. `pdu` None means stay silent."""

    pdu: bytes | None
    unit: int
    delay_s: float = 0.0
    corrupt: bool = False
    garbage: bytes = b""


def answer_pdu(device: SimDevice, request: Request) -> bytes:
    fc = request.function
    if fc in _READ_TABLES:
        table = _READ_TABLES[fc]
        limit = 2000 if fc in (FC_READ_COILS, FC_READ_DISCRETE) else 125
        if not 1 <= request.count <= limit:
            return exception_pdu(fc, ILLEGAL_VALUE)
        result = device.read(table, request.address, request.count)
        if isinstance(result, int):
            return exception_pdu(fc, result)
        if fc in (FC_READ_COILS, FC_READ_DISCRETE):
            return read_bits_pdu(fc, result)
        return read_registers_pdu(fc, result)
    if fc in _WRITE_TABLES:
        code = device.write(_WRITE_TABLES[fc], request.address, request.values)
        return exception_pdu(fc, code) if code is not None else write_echo_pdu(request)
    return exception_pdu(fc, ILLEGAL_FUNCTION)


def plan_reply(device: SimDevice, request: Request | bytes, unit: int, now: float) -> Reply:
    """The device's answer to a request (a parsed Request, or the raw PDU of one that did not parse)."""
    device.requests += 1
    faults = device.faults
    if faults.silent(now):
        return Reply(None, unit)
    slow = faults.hits("slow_reply")
    delay = slow.delay_ms / 1000 if slow else 0.0
    garbage = faults.hits("garbage")
    if garbage:
        return Reply(None, unit, delay, garbage=faults.random_bytes(garbage.length))
    if isinstance(request, Request):
        fc = request.function
        exc = faults.hits("exception")
        pdu = exception_pdu(fc, exc.code) if exc else answer_pdu(device, request)
    else:
        fc = request[0] if request else 0
        pdu = exception_pdu(fc, ILLEGAL_FUNCTION if fc not in _READ_TABLES | _WRITE_TABLES else ILLEGAL_VALUE)
    wrong = faults.hits("wrong_slave_id")
    reply_unit = (unit % 247) + 1 if wrong else unit
    device.answered += 1
    return Reply(pdu, reply_unit, delay, corrupt=faults.hits("bad_crc") is not None)
