"""Run a profile's test vectors: raw words, frames or lines -> the values the profile promises."""

from __future__ import annotations

import math
from typing import Any

from devices.decode import decode_frame_points, decode_point
from devices.profile import BIT_TABLES, Profile, Vector
from devices.serial_frames import BinaryFramer, parse_line_event

__all__ = ["run_vectors"]


def run_vectors(profile: Profile) -> list[str]:
    """Failures as `file:line: vector 'name': reason` messages; empty when every vector holds."""
    failures = []
    for vector in profile.vectors:
        try:
            actual = _decode(profile, vector)
        except (ValueError, KeyError, IndexError) as exc:
            failures.append(f"{profile.file}:{vector.line}: vector {vector.name!r}: cannot decode: {exc}")
            continue
        for name, expected in vector.expect.items():
            if name not in actual:
                failures.append(f"{profile.file}:{vector.line}: vector {vector.name!r}: "
                                f"{name!r} is not covered by the raw data")
            elif not _same(actual[name], expected):
                failures.append(f"{profile.file}:{vector.line}: vector {vector.name!r}: {name} decoded as "
                                f"{actual[name]!r}, expected {expected!r}")
    return failures


def _same(actual: Any, expected: Any) -> bool:
    """Numbers compare by value (floats within 1e-6); booleans, text and null must match exactly."""
    def is_number(x: Any) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    if is_number(actual) and is_number(expected):
        return math.isclose(actual, expected, rel_tol=1e-6, abs_tol=1e-9)
    return type(actual) is type(expected) and bool(actual == expected)


def _decode(profile: Profile, vector: Vector) -> dict[str, Any]:
    if vector.text:
        assert profile.lines is not None, "line vector in a profile without ascii_lines framing"
        parsed = parse_line_event(profile.lines, vector.text)
        if parsed is None:
            return {"event": None}
        event, fields = parsed
        return {"event": event.name, "class": event.cls, "condition": event.condition, **fields}
    if vector.frame:
        if profile.binary is None:
            raise ValueError("frame vector in a profile without binary framing")
        framer = BinaryFramer(profile.binary)
        framer.feed(vector.frame)
        frame = framer.next_frame()
        if frame is None:
            raise ValueError("the frame does not parse (header, length or checksum)")
        names = [c.name for c in profile.binary.commands.values() if c.reply == frame.command]
        points = [p for p in profile.points if p.frame in names]
        return decode_frame_points(points, frame.payload)
    out: dict[str, Any] = {}
    for table, blocks in vector.raw.items():
        for start, words in blocks.items():
            for p in profile.points:
                if p.table == table and start <= p.address and p.end <= start + len(words):
                    i = p.address - start
                    chunk = words[i:i + p.width]
                    out[p.name] = decode_point(p, chunk if table not in BIT_TABLES else chunk[:1])
    return out
