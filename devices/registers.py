"""Register words <-> typed values. Pure: no I/O.

Modbus moves 16-bit words, most significant byte first. Devices disagree on how wider values are laid
over several words, so byte order is two independent flags, valid for every width:

    byte_swap  the two bytes inside each word are swapped        (ABCD -> BA DC)
    word_swap  the words are in reverse order (low word first)   (ABCD -> CD AB)

Both together give DC BA. A value is decoded by undoing the flags (reverse the words, swap the bytes)
and reading the result as big-endian.
"""

from __future__ import annotations

import struct
from typing import Final

__all__ = [
    "NUMERIC_TYPES",
    "TYPE_WORDS",
    "decode_value",
    "encode_value",
    "order_bytes",
    "string_words",
]

# struct code and width in 16-bit words of each numeric register type
NUMERIC_TYPES: Final[dict[str, tuple[str, int]]] = {
    "u16": ("H", 1), "i16": ("h", 1),
    "u32": ("I", 2), "i32": ("i", 2),
    "u64": ("Q", 4), "i64": ("q", 4),
    "f32": ("f", 2), "f64": ("d", 4),
}
TYPE_WORDS: Final[dict[str, int]] = {name: width for name, (_, width) in NUMERIC_TYPES.items()}


def string_words(length: int) -> int:
    """Registers taken by a string of `length` bytes (two bytes a register)."""
    return (length + 1) // 2


def order_bytes(raw: bytes, *, byte_swap: bool, word_swap: bool) -> bytes:
    """Wire-order bytes of one value -> big-endian bytes of that value (and back: it is an involution)."""
    if word_swap and len(raw) > 2:
        raw = b"".join(raw[i:i + 2] for i in range(len(raw) - 2, -1, -2))
    if byte_swap:
        raw = bytes(b for i in range(0, len(raw), 2) for b in (raw[i + 1], raw[i]))
    return raw


def decode_value(words: list[int] | tuple[int, ...], type_: str, *, byte_swap: bool = False,
                 word_swap: bool = False) -> int | float | str:
    """Decode one value from exactly its words (numeric types and `string`)."""
    raw = order_bytes(struct.pack(f">{len(words)}H", *words), byte_swap=byte_swap, word_swap=word_swap)
    if type_ == "string":
        return raw.split(b"\x00", 1)[0].decode("latin-1").rstrip(" ")
    code, width = NUMERIC_TYPES[type_]
    if len(words) != width:
        raise ValueError(f"{type_} takes {width} words, got {len(words)}")
    value: int | float = struct.unpack(">" + code, raw)[0]
    return value


def encode_value(value: int | float | str, type_: str, *, byte_swap: bool = False, word_swap: bool = False,
                 length: int = 0) -> list[int]:
    """Encode one value into its words, in wire order. Integers out of range raise ValueError."""
    if type_ == "string":
        data = str(value).encode("latin-1")[:length].ljust(string_words(length) * 2, b"\x00")
    else:
        code, _ = NUMERIC_TYPES[type_]
        try:
            data = struct.pack(">" + code, value if code in "fd" else int(value))
        except struct.error as exc:
            raise ValueError(f"{value!r} does not fit {type_}") from exc
    raw = order_bytes(data, byte_swap=byte_swap, word_swap=word_swap)
    return list(struct.unpack(f">{len(raw) // 2}H", raw))
