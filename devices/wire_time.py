"""How long Modbus RTU frames hold a line: the physics a poll schedule cannot beat. Pure.

A request is 8 bytes; a reply 5 bytes plus 2 a register (or a byte per 8 bits); each frame is preceded by
the silent interval the standard requires (3.5 characters, fixed at 1.75 ms above 19200 baud); 8N1 sends
10 bits a byte. A device's `inter_frame_pause` quirk adds its pause after every exchange.
"""

from __future__ import annotations

__all__ = ["exchange_seconds", "write_seconds"]

_BIT_TABLES = ("coil", "discrete_input")


def _wire(byte_count: int, baud: int, pause_ms: float) -> float:
    char = 10 / baud
    gap = max(3.5 * char, 0.00175)
    return byte_count * char + 2 * gap + pause_ms / 1000


def exchange_seconds(table: str, count: int, baud: int, pause_ms: float = 0.0) -> float:
    """A read of `count` registers or bits: request, reply, silent intervals, the device's pause."""
    reply = 5 + ((count + 7) // 8 if table in _BIT_TABLES else 2 * count)
    return _wire(8 + reply, baud, pause_ms)


def write_seconds(baud: int, pause_ms: float = 0.0) -> float:
    """A single coil or register write and its echo."""
    return _wire(8 + 8, baud, pause_ms)
