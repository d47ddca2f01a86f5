"""A site's floor plan as uploaded: a PNG or an SVG, checked before it is kept. Pure: bytes in, a verdict out.

An SVG is a document that can carry scripts, so it is kept only when it is plain drawing: no DOCTYPE or
entities (no billion laughs, no external files), no <script> or <foreignObject>, no on* handlers, and no
link that leaves the file (only "#fragment" and data:image). The console shows plans in <img>, where an SVG
cannot run anything anyway, and the collector serves them with a CSP that forbids scripts: belt and braces.
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = ["MOST_BYTES", "PlanImage", "PlanRefused", "check_plan"]

MOST_BYTES = 2 * 1024 * 1024
_PNG = b"\x89PNG\r\n\x1a\n"
_FORBIDDEN_TAGS = {"script", "foreignobject", "iframe", "object", "embed", "audio", "video"}
_SIZE = re.compile(r"^\s*([0-9.]+)\s*(px)?\s*$")


class PlanRefused(ValueError):
    def __init__(self, reason: str, code: str = "bad_plan") -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class PlanImage:
    media_type: str
    width: int
    height: int


def check_plan(body: bytes) -> PlanImage:
    if not body:
        raise PlanRefused("the plan is empty")
    if len(body) > MOST_BYTES:
        raise PlanRefused(f"a plan is at most {MOST_BYTES // 1024 // 1024} MB", "plan_too_large")
    if body.startswith(_PNG):
        if len(body) < 24 or body[12:16] != b"IHDR":
            raise PlanRefused("not a whole PNG")
        width, height = struct.unpack(">II", body[16:24])
        return _sized("image/png", width, height)
    return _svg(body)


def _svg(body: bytes) -> PlanImage:
    head = body[:2048].lower()
    if b"<!doctype" in head or b"<!entity" in body.lower():
        raise PlanRefused("an SVG plan may not declare a DOCTYPE or entities")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise PlanRefused(f"neither a PNG nor a well-formed SVG: {exc}") from None
    if _local(root.tag) != "svg":
        raise PlanRefused("neither a PNG nor an SVG")
    for element in root.iter():
        tag = _local(element.tag).lower()
        if tag in _FORBIDDEN_TAGS:
            raise PlanRefused(f"an SVG plan may not contain <{tag}>")
        for name, value in element.attrib.items():
            attribute = _local(name).lower()
            if attribute.startswith("on"):
                raise PlanRefused(f"an SVG plan may not carry event handlers ({attribute})")
            if attribute == "href" and not (value.startswith("#") or value.startswith("data:image/")):
                raise PlanRefused("an SVG plan may not link outside itself")
    width, height = _svg_size(root)
    return _sized("image/svg+xml", width, height)


def _svg_size(root: ET.Element) -> tuple[int, int]:
    box = root.get("viewBox", "").replace(",", " ").split()
    if len(box) == 4:
        try:
            return round(float(box[2])), round(float(box[3]))
        except ValueError:
            pass
    sizes = [_SIZE.match(root.get(k, "")) for k in ("width", "height")]
    if all(sizes):
        return round(float(sizes[0].group(1))), round(float(sizes[1].group(1)))  # type: ignore[union-attr]
    raise PlanRefused("an SVG plan needs a viewBox or a width and height in pixels")


def _sized(media_type: str, width: int, height: int) -> PlanImage:
    if not (1 <= width <= 20000 and 1 <= height <= 20000):
        raise PlanRefused(f"a plan is 1 to 20,000 pixels each way, not {width}x{height}")
    return PlanImage(media_type, width, height)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
