"""What people read for a point or an event: its label in Chinese and English and its unit, from
`firmware-profiles/labels.yaml` (checked at load: file, line, field, reason).

A point of a repeated part reads as its part and its own label ("port3.temperature": 3号端口 温度); digits in
a name are N in the file and {n} in a label ("extinguisher_1_present": 1号灭火器在位). `missing` names the
points of a set of profiles that have no label, so that a collector can refuse to start with one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devices.errors import ProfileError
from devices.profile import Profile
from devices.profile_loader import LABELS_FILE, default_profile_dir

__all__ = ["Label", "Labels", "load_labels"]

_PART = re.compile(r"^([a-z_]+?)(\d+)\.(.+)$")
_DIGITS = re.compile(r"\d+")
LANGS = ("zh", "en")


@dataclass(frozen=True)
class Label:
    zh: str
    en: str
    unit: str = ""


@dataclass(frozen=True)
class Labels:
    parts: Mapping[str, Label]
    points: Mapping[str, Label]
    events: Mapping[str, Label]

    def point(self, name: str, lang: str = "zh") -> str | None:
        """A point's words in `lang`, or None when it has no label."""
        part = _PART.match(name)
        if part and part.group(1) in self.parts:
            leaf = self.point(part.group(3), lang)
            whole = self.parts[part.group(1)]
            return None if leaf is None else f"{_text(whole, lang, part.group(2))} {leaf}"
        found = self.points.get(_DIGITS.sub("N", name))
        digits = _DIGITS.findall(name)
        return _text(found, lang, digits[0] if digits else "") if found else None

    def missing(self, profiles: Iterable[Profile]) -> list[tuple[Profile, str]]:
        return [(p, pt.name) for p in profiles for pt in p.points if self.point(pt.name) is None]

    def as_json(self) -> dict[str, Any]:
        def each(table: Mapping[str, Label]) -> dict[str, dict[str, str]]:
            return {k: {"zh": v.zh, "en": v.en, "unit": v.unit} for k, v in table.items()}
        return {"parts": each(self.parts), "points": each(self.points), "events": each(self.events)}


def _text(label: Label, lang: str, n: str) -> str:
    return (label.en if lang == "en" else label.zh).replace("{n}", n)


def load_labels(path: Path | None = None) -> Labels:
    path = path or default_profile_dir() / LABELS_FILE
    try:
        document = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"cannot read the labels: {exc}", file=str(path)) from None
    if not isinstance(document, yaml.MappingNode):
        raise ProfileError("the labels are a mapping of parts, points and events", file=str(path))
    tables: dict[str, dict[str, Label]] = {"parts": {}, "points": {}, "events": {}}
    for key_node, table_node in document.value:
        if key_node.value not in tables or not isinstance(table_node, yaml.MappingNode):
            raise ProfileError("expected parts, points or events, each a mapping", file=str(path),
                               line=key_node.start_mark.line + 1, field=str(key_node.value))
        for name_node, label_node in table_node.value:
            field = f"{key_node.value}.{name_node.value}"
            line = name_node.start_mark.line + 1
            label = yaml.safe_load(yaml.serialize(label_node)) if isinstance(label_node, yaml.MappingNode) else None
            if not isinstance(label, dict) or set(label) - {"zh", "en", "unit"} or not all(
                    isinstance(label.get(lang), str) and label[lang].strip() for lang in LANGS):
                raise ProfileError("a label is {zh: ..., en: ...} with an optional unit", file=str(path), line=line,
                                   field=field)
            tables[key_node.value][str(name_node.value)] = Label(label["zh"], label["en"], str(label.get("unit", "")))
    return Labels(tables["parts"], tables["points"], tables["events"])
