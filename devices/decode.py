"""Points <-> raw words, bits and frame bytes; coalescing points into read requests. Pure.

Decoding is compiled once per read block: the block's words are packed to bytes once and every point
is read with a precompiled `struct.Struct` at its offset, instead of packing and unpacking per point.
A value whose raw form is a declared sentinel, or that falls outside its valid range, decodes to None
(the device says "no valid reading"); an enum decodes to its label.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from devices.profile import BIT_TABLES, Point, Quirks
from devices.registers import NUMERIC_TYPES, decode_value, encode_value

__all__ = [
    "BlockDecoder",
    "ReadBlock",
    "decode_frame_points",
    "decode_point",
    "encode_frame_point",
    "encode_point",
    "plan_reads",
    "to_engineering",
    "to_raw",
]

_FRAME_CODES = {"u8": "B", "i8": "b", "bool": "B", "bit": "B", "u16": "H", "i16": "h", "u32": "I", "i32": "i",
                "f32": "f"}


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers (or bits) of `table` from `start`, covering `points`."""

    table: str
    start: int
    count: int
    points: tuple[Point, ...]


# What a separate frame costs on a serial line, in characters: the request (8), the reply's unit, function,
# byte count and CRC (5), and the 3.5-character silence before each of the two frames.
_FRAME_CHARS = 20


def plan_reads(points: Iterable[Point], quirks: Quirks, mapped: Iterable[Point] = ()) -> list[ReadBlock]:
    """Coalesce points into as few requests as the device's quirks allow.

    Neighbours merge while the hole between them is at most `max_gap`, the request stays within
    `max_registers` (`max_bits` for coils and inputs), and no forbidden address is covered. With
    `single_register_only` every point is its own request.

    `mapped` are the other points the device has (of other poll classes, say): registers under them exist,
    so only the rest of a hole counts against `max_gap`, and such a hole is read across whenever that
    costs fewer characters on the wire than a frame of its own (a 10-port box's port temperatures, 16
    registers apart, come in 3 reads rather than 10).
    """
    occupied: dict[str, set[int]] = {}
    for m in mapped:
        occupied.setdefault(m.table, set()).update(range(m.address, m.end))
    blocks: list[ReadBlock] = []
    by_table: dict[str, list[Point]] = {}
    for p in points:
        if p.table != "frame":
            by_table.setdefault(p.table, []).append(p)
    for table in sorted(by_table):
        pts = sorted(by_table[table], key=lambda p: (p.address, p.bit or 0))
        limit = quirks.max_bits if table in BIT_TABLES else quirks.max_registers
        known = occupied.get(table, set())
        start, end, members = pts[0].address, pts[0].end, [pts[0]]
        for p in pts[1:]:
            new_end = max(end, p.end)
            if quirks.single_register_only:
                merge = p.address == start and p.end == end  # bits of the same register
            else:
                close = _hole_is_worth_reading(table, end, p.address, quirks, known)
                merge = new_end - start <= limit and (p.address < end or close)
            if merge:
                end = new_end
                members.append(p)
            else:
                blocks.append(ReadBlock(table, start, end - start, tuple(members)))
                start, end, members = p.address, p.end, [p]
        blocks.append(ReadBlock(table, start, end - start, tuple(members)))
    return blocks


def _hole_is_worth_reading(table: str, first: int, stop: int, quirks: Quirks, known: set[int]) -> bool:
    if _hits_forbidden(first, stop, quirks):
        return False
    hole = stop - first
    if hole <= quirks.max_gap:
        return True
    unmapped = sum(1 for a in range(first, stop) if a not in known)
    chars = hole / 8 if table in BIT_TABLES else 2 * hole
    return unmapped <= quirks.max_gap and chars < _FRAME_CHARS


def _hits_forbidden(first: int, stop: int, quirks: Quirks) -> bool:
    return any(first <= last and stop - 1 >= lo for lo, last in quirks.forbidden)


def to_engineering(point: Point, raw: int | float) -> Any:
    """Raw number -> value: sentinel -> None, enum -> label, scale and offset, range -> None."""
    if raw in point.invalid:
        return None
    if point.type in ("bool", "bit"):
        return bool(raw)
    if point.enum is not None:
        return point.enum.get(int(raw), f"unknown({int(raw)})")
    value = raw * point.scale + point.offset if (point.scale != 1.0 or point.offset) else raw
    if point.valid_range is not None and not point.valid_range[0] <= value <= point.valid_range[1]:
        return None
    if isinstance(value, float) and point.scale != 1.0:
        value = round(value, 6)
    return value


def to_raw(point: Point, value: Any) -> int | float:
    """Value -> raw number (inverse of to_engineering). A sentinel is written for None."""
    if value is None:
        if not point.invalid:
            raise ValueError(f"{point.name} has no sentinel for an invalid value")
        return min(point.invalid, key=abs)
    if point.type in ("bool", "bit"):
        return int(bool(value))
    if point.enum is not None and isinstance(value, str):
        for raw, label in point.enum.items():
            if label == value:
                return raw
        raise ValueError(f"{point.name}: {value!r} is not one of {sorted(point.enum.values())}")
    raw = (value - point.offset) / point.scale if (point.scale != 1.0 or point.offset) else value
    if point.type in ("f32", "f64"):
        return float(raw)
    return round(float(raw))


def decode_point(point: Point, words: Sequence[int]) -> Any:
    """Decode one point from exactly its words (or its one bit, for coils and discrete inputs)."""
    if point.table in BIT_TABLES:
        return to_engineering(point, int(bool(words[0])))
    if point.type == "bit":
        return to_engineering(point, (words[0] >> (point.bit or 0)) & 1)
    raw = decode_value(list(words), point.type, byte_swap=point.byte_swap, word_swap=point.word_swap)
    return raw if isinstance(raw, str) else to_engineering(point, raw)


def encode_point(point: Point, value: Any) -> list[int]:
    """Encode one value into its words in wire order (a bit point gives its bit alone in the word)."""
    if point.table in BIT_TABLES:
        return [int(to_raw(point, value))]
    if point.type == "bit":
        return [int(to_raw(point, value)) << (point.bit or 0)]
    raw = value if point.type == "string" else to_raw(point, value)
    try:
        return encode_value(raw, point.type, byte_swap=point.byte_swap, word_swap=point.word_swap,
                            length=point.length)
    except ValueError as exc:
        raise ValueError(f"{point.name}: {value!r} does not fit {point.type}") from exc


class BlockDecoder:
    """Decodes every point of one ReadBlock from the block's words in one pass.

    Each point is compiled once into (how, name, offset, struct, bit, point): bits are read straight
    from their word, numbers through a precompiled Struct over bytes packed once per block (in the
    byte order the block needs), and only points with scale, sentinels, enum or range pay for them.
    """

    __slots__ = ("_plan", "_swapped", "block")

    _BITS, _BIT, _NUM, _NUM_POST, _OTHER = range(5)

    def __init__(self, block: ReadBlock) -> None:
        self.block = block
        self._swapped = False
        self._plan: list[tuple[int, str, int, struct.Struct | None, int, Point]] = []
        for p in block.points:
            i = p.address - block.start
            if p.table in BIT_TABLES:
                self._plan.append((self._BITS, p.name, i, None, 0, p))
            elif p.type == "bit":
                self._plan.append((self._BIT, p.name, i, None, p.bit or 0, p))
            elif p.type in NUMERIC_TYPES and not p.word_swap:
                code, _ = NUMERIC_TYPES[p.type]
                post = bool(p.invalid or p.scale != 1.0 or p.offset or p.enum is not None or p.valid_range)
                self._swapped |= p.byte_swap
                # byte-swapped points read the buffer packed little-endian, which undoes the swap
                self._plan.append((self._NUM_POST if post else self._NUM, p.name, 2 * i,
                                   struct.Struct(">" + code), 0, p))
            else:
                self._plan.append((self._OTHER, p.name, i, None, 0, p))

    def decode(self, words: Sequence[int]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        data = struct.pack(f">{len(words)}H", *words)
        swapped = struct.pack(f"<{len(words)}H", *words) if self._swapped else data
        for how, name, offset, fmt, bit, p in self._plan:
            if how == self._BITS:
                out[name] = bool(words[offset])
            elif how == self._BIT:
                out[name] = bool((words[offset] >> bit) & 1)
            elif how == self._NUM or how == self._NUM_POST:
                raw = fmt.unpack_from(swapped if p.byte_swap else data, offset)[0]  # type: ignore[union-attr]
                out[name] = to_engineering(p, raw) if how == self._NUM_POST else raw
            else:
                out[name] = decode_point(p, words[offset:offset + p.width])
        return out


def decode_frame_points(points: Iterable[Point], payload: bytes) -> dict[str, Any]:
    """Decode the points that live in one binary frame's payload (byte offsets, big-endian by default)."""
    out: dict[str, Any] = {}
    for p in points:
        code = _FRAME_CODES[p.type]
        raw = struct.unpack_from(("<" if p.byte_swap else ">") + code, payload, p.address)[0]
        if p.type == "bit":
            raw = (raw >> (p.bit or 0)) & 1
        out[p.name] = to_engineering(p, raw)
    return out


def encode_frame_point(point: Point, value: Any, payload: bytearray) -> None:
    """Write one point's value into a frame payload in place (bits are OR-ed into their byte)."""
    code = _FRAME_CODES[point.type]
    fmt = ("<" if point.byte_swap else ">") + code
    raw = to_raw(point, value)
    if point.type == "bit":
        current = payload[point.address]
        mask = 1 << (point.bit or 0)
        payload[point.address] = (current | mask) if raw else (current & ~mask)
        return
    try:
        struct.pack_into(fmt, payload, point.address, raw)
    except struct.error as exc:
        raise ValueError(f"{point.name}: {value!r} does not fit {point.type}") from exc
