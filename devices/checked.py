"""Typed reads from parsed YAML mappings that fail with file, line, field and reason.

Both the profile loader and the site-file loader read nested mappings with the same needs: refuse
unknown keys, require some, check each value's type and range, and say exactly where a problem is.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from devices.durations import parse_duration
from devices.errors import ConfigError
from devices.yaml_source import Located

__all__ = ["Section"]

T = TypeVar("T")
Text = str  # the methods below are named after types; annotations use this alias
_MISSING: Any = object()


class Section:
    """A view on one YAML mapping: `path` names it in messages (`points[3]`, `buses[0]`)."""

    def __init__(self, data: Any, *, file: Text, path: Text, error: type[ConfigError], line: int = 0) -> None:
        self.file = file
        self.path = path
        self.error = error
        self.line = getattr(data, "line", line)
        if not isinstance(data, dict):
            self.fail(f"expected a mapping, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    # -- reporting -------------------------------------------------------------------------------
    def line_of(self, key: Text) -> int:
        return self.data.line_of(key) if isinstance(self.data, Located) else self.line

    def field_name(self, key: Text) -> Text:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, reason: Text, key: Text | None = None) -> NoReturn:
        line = self.line_of(key) if key is not None and hasattr(self, "data") else self.line
        raise self.error(reason, file=self.file, line=line or None,
                         field=self.field_name(key) if key is not None else (self.path or None))

    def only(self, *allowed: Text) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})", str(key))

    # -- typed getters ---------------------------------------------------------------------------
    def has(self, key: Text) -> bool:
        return key in self.data

    def raw(self, key: Text, default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                self.fail(f"missing required key {key!r}")
            return default
        return self.data[key]

    def str(self, key: Text, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is not default and not isinstance(value, str):
            self.fail(f"must be text, got {value!r}", key)
        return value

    def int(self, key: Text, default: Any = _MISSING, *, lo: int | None = None, hi: int | None = None) -> Any:
        value = self.raw(key, default)
        if value is default:
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be a whole number, got {value!r}", key)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            self.fail(f"{value} is outside {lo}..{hi}", key)
        return value

    def number(self, key: Text, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is not default and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.fail(f"must be a number, got {value!r}", key)
        return value

    def bool(self, key: Text, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is not default and not isinstance(value, bool):
            self.fail(f"must be true or false, got {value!r}", key)
        return value

    def choice(self, key: Text, choices: tuple[Any, ...] | list[Any], default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is not default and value not in choices:
            self.fail(f"{value!r} is not one of {', '.join(map(str, choices))}", key)
        return value

    def duration(self, key: Text, default: Any = _MISSING) -> Any:
        """A duration with its unit (500ms, 5s, 10min, 8h): a bare `2` could be seconds or minutes; at most
        30 days (a sustain or timeout longer than that is a typo that would disarm a rule)."""
        value = self.raw(key, default)
        if value is default:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0:
            self.fail(f"{value!r} needs its unit: write {value}s, {value}min or {value}ms", key)
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), key)
        if seconds > 30 * 86400:
            self.fail(f"{value!r} is longer than 30 days", key)
        return seconds

    def list(self, key: Text, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is not default and not isinstance(value, list):
            self.fail(f"must be a list, got {type(value).__name__}", key)
        return value

    def section(self, key: Text, default: Any = _MISSING) -> Any:
        value = self.raw(key, default)
        if value is default:
            return value
        return Section(value, file=self.file, path=self.field_name(key), error=self.error,
                       line=self.line_of(key))

    def sections(self, key: Text, default: Any = _MISSING) -> Any:
        items = self.list(key, default)
        if items is default:
            return items
        return [Section(item, file=self.file, path=f"{self.field_name(key)}[{i}]", error=self.error,
                        line=self.line_of(key)) for i, item in enumerate(items)]
