"""YAML with line numbers: the one module that imports the YAML parser.

Profiles and site files are read into plain dicts and lists, but every mapping remembers the line of
each of its keys, so that a checker can say `file:line [field] reason`. Duplicate keys, which YAML
silently folds, are refused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devices.errors import ConfigError

__all__ = ["Located", "load_yaml", "load_yaml_text"]


class Located(dict[str, Any]):
    """A mapping that knows its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: object) -> int:
        return self.key_lines.get(str(key), self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    result = Located()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int)):
            raise ConfigError(f"mapping key must be text or a number, not {key!r}",
                              line=key_node.start_mark.line + 1)
        if key in result:
            raise ConfigError(f"duplicate key {key!r}", line=key_node.start_mark.line + 1, field=str(key))
        # Keys stay as YAML typed them (register numbers are ints); lines are found by str(key) too.
        result[key] = loader.construct_object(value_node, deep=True)  # type: ignore[index]
        result.key_lines[str(key)] = key_node.start_mark.line + 1
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_text(text: str, file: str, error: type[ConfigError] = ConfigError) -> Any:
    """Parse YAML text; syntax errors and duplicate keys become `error` with file and line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except ConfigError as exc:
        raise error(exc.reason, file=file, line=exc.line, field=exc.field) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise error(f"YAML syntax: {exc.problem or exc.context}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"YAML: {exc}", file=file) from None


def load_yaml(path: Path, error: type[ConfigError] = ConfigError) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise error("not UTF-8 text", file=str(path)) from None
    return load_yaml_text(text, str(path), error)
