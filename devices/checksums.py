"""Checksums used by Modbus RTU and by the binary serial protocols of charging boxes. Pure."""

from __future__ import annotations

__all__ = ["crc16_modbus", "sum8", "xor8"]


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc16_modbus(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF). Sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


def sum8(data: bytes | bytearray | memoryview) -> int:
    return sum(data) & 0xFF


def xor8(data: bytes | bytearray | memoryview) -> int:
    out = 0
    for byte in data:
        out ^= byte
    return out
